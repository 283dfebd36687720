internal import DEventLoop
internal import DIPC
internal import DPosix

/// The master's half of `dispatchd.channels`: a bus stream to every worker, and every message
/// a worker publishes forwarded to every other worker (the publisher has delivered it to its own
/// subscribers already) and to the bridge beyond this machine (--channels redis://), whose
/// messages go to every worker. Frames are forwarded as they came, never decoded here.
///
/// Nothing here blocks the master's loop: a worker that does not read its bus (it is inside a
/// long request) gets its frames queued, up to `queueLimit` bytes; past that its messages are
/// dropped and counted, and the drop is logged once per episode.
final class ChannelRelay {
    final class Link {
        let stream: BusStream
        var reader: Watcher! = nil
        var writer: Watcher! = nil
        /// Dropping messages for this worker since its queue went over the limit.
        var overflowing = false
        init(stream: BusStream) { self.stream = stream }
    }

    let loop: EventLoop
    let queueLimit: Int
    var links: [Int: Link] = [:]
    /// Messages dropped for workers whose bus queue was full, and messages forwarded (--stats).
    private(set) var dropped: UInt64 = 0
    private(set) var forwarded: UInt64 = 0
    /// Messages a worker published, decoded for the bridge beyond this machine (nil: none).
    var outward: ((ArraySlice<UInt8>) -> Void)? = nil
    let log: (String) -> Void

    /// Bytes queued for one worker before its messages are dropped.
    static let queueLimit = 64 << 20
    /// The kernel buffer of each end of a bus.
    static let socketBuffer = 1 << 20

    init(loop: EventLoop, queueLimit: Int, log: @escaping (String) -> Void) {
        self.loop = loop
        self.queueLimit = queueLimit
        self.log = log
    }

    /// A bus for the worker in `slot` (replacing one a previous worker of the slot had): returns
    /// the worker's end, to be sent on its control channel.
    func open(slot: Int) throws(SystemError) -> OwnedFD {
        try Socket.withStreamPair(buffer: Self.socketBuffer) { (ours, theirs) throws(SystemError) -> OwnedFD in
            let link = Link(stream: BusStream(fd: ours))
            link.reader = Watcher(loop: loop, kind: .read(link.stream.fd.raw), persist: true) {
                [unowned self, unowned link] _ in
                self.readable(link, slot: slot)
            }
            link.writer = Watcher(loop: loop, kind: .write(link.stream.fd.raw), persist: true) {
                [unowned self, unowned link] _ in
                self.writable(link)
            }
            link.reader.arm()
            close(slot: slot)
            links[slot] = link
            return theirs
        }
    }

    /// The worker of `slot` has exited: its bus goes (what was queued for it with it).
    func close(slot: Int) {
        guard let link = links.removeValue(forKey: slot) else { return }
        link.reader.disarm()
        link.writer.disarm()
    }

    func readable(_ link: Link, slot: Int) {
        if link.stream.read() == .closed {
            link.reader.disarm()
        }
        while true {
            let frame: ArraySlice<UInt8>?
            do { frame = try link.stream.nextFrame() } catch {
                log("channel bus of a worker is corrupt (\(error)); its messages are no longer relayed")
                link.reader.disarm()
                return
            }
            guard let frame else { return }
            forward(frame, except: slot)
            outward?(frame)
        }
    }

    /// Sends a frame to every worker but `except` (nil: to all, a message from beyond).
    func forward(_ frame: ArraySlice<UInt8>, except: Int?) {
        for (slot, link) in links where slot != except {
            if link.stream.unsent + frame.count > queueLimit {
                dropped &+= 1
                if !link.overflowing {
                    link.overflowing = true
                    log(
                        "a worker is not reading its channel messages (\(link.stream.unsent) bytes queued for it); "
                            + "messages for it are dropped until it catches up")
                }
                continue
            }
            forwarded &+= 1
            let wasIdle = link.stream.unsent == 0
            link.stream.send(frame)
            if wasIdle && link.stream.unsent > 0 { link.writer.arm() }
        }
    }

    func writable(_ link: Link) {
        link.stream.flush()
        if link.stream.unsent == 0 {
            link.writer.disarm()
        }
        if link.overflowing && link.stream.unsent < queueLimit / 2 {
            link.overflowing = false
            log("a worker reads its channel messages again")
        }
    }
}
