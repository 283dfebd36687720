internal import DEventLoop
internal import DIPC
internal import DPosix
internal import DWSGI
internal import DWebSocket

/// dispatchd.channels in one worker: which of its WebSockets subscribe to which channel, the
/// delivery of a message to them (framed once, appended to each connection's output; no Python
/// code runs per subscriber), and the bus to the master, which relays what this worker
/// publishes to the other workers and brings theirs here.
final class ChannelHub: ChannelPublisher {
    unowned let worker: WorkerProcess
    /// Subscribers by channel name.
    var subscribers: [String: [ObjectIdentifier: WebSocketChannel]] = [:]
    /// The bus to the master (sent on the control channel first thing); frames published before
    /// it arrived wait in `early`.
    var bus: BusStream? = nil
    var busReader: Watcher? = nil
    var busWriter: Watcher? = nil
    var early: [UInt8] = []
    /// A frame being built (reused: no allocation per publish once it has grown).
    var frame: [UInt8] = []
    /// The WebSocket frame of the message being delivered, built once for all subscribers that
    /// take it uncompressed.
    var wsFrame: [UInt8] = []

    init(worker: WorkerProcess) {
        self.worker = worker
    }

    // MARK: - Subscriptions

    func subscribe(_ ws: WebSocketChannel, to name: String) {
        guard ws.channelNames.insert(name).inserted else { return }
        subscribers[name, default: [:]][ObjectIdentifier(ws)] = ws
        worker.scoreboard.addSubscriptions(worker.config.slot, 1)
    }

    func unsubscribe(_ ws: WebSocketChannel, from name: String) {
        guard ws.channelNames.remove(name) != nil else { return }
        remove(ws, from: name)
    }

    /// A WebSocket ended: it leaves every channel.
    func left(_ ws: WebSocketChannel) {
        for name in ws.channelNames { remove(ws, from: name) }
        ws.channelNames.removeAll()
    }

    func remove(_ ws: WebSocketChannel, from name: String) {
        // In place: a copy of the channel's set (`var set = subscribers[name]` is not unique) made
        // every departure cost the whole set, and N subscribers leaving N² (10,000 leaving two
        // workers at once took 2.3 s of their CPU; 0.37 s in place).
        guard let index = subscribers.index(forKey: name),
            subscribers.values[index].removeValue(forKey: ObjectIdentifier(ws)) != nil
        else { return }
        if subscribers.values[index].isEmpty { subscribers.remove(at: index) }
        worker.scoreboard.addSubscriptions(worker.config.slot, -1)
    }

    // MARK: - Publishing

    func publish(_ channel: String, payload: UnsafeRawBufferPointer, binary: Bool) {
        worker.scoreboard.addChannelMessages(worker.config.slot, published: 1)
        deliver(channel, payload: payload, binary: binary)
        frame.removeAll(keepingCapacity: true)
        var name = channel
        name.withUTF8 {
            ChannelMessage.encode(name: UnsafeRawBufferPointer($0), binary: binary, payload: payload, into: &frame)
        }
        guard let bus else {
            early += frame
            return
        }
        let wasIdle = bus.unsent == 0
        if !bus.send(frame) {
            worker.log(
                "the channel bus to the master failed: messages are delivered in this worker only", level: .error)
            closeBus()
            return
        }
        if wasIdle && bus.unsent > 0 { busWriter?.arm() }
    }

    /// Sends the message to this worker's subscribers of `channel`.
    func deliver(_ channel: String, payload: UnsafeRawBufferPointer, binary: Bool) {
        guard let set = subscribers[channel] else { return }
        wsFrame.removeAll(keepingCapacity: true)
        WebSocketFrame.append(to: &wsFrame, opcode: binary ? .binary : .text, payload: payload)
        var delivered = 0
        var framed = 0
        var overflowed = 0
        let limit = worker.config.webSocketSendQueue
        for ws in set.values {
            switch ws.deliver(frame: wsFrame, payload: payload, binary: binary, limit: limit) {
            case .delivered: framed += 1
            case .compressed: delivered += 1
            case .overflowed: overflowed += 1
            case .closed: break
            }
        }
        delivered += framed
        worker.scoreboard.addMessages(worker.config.slot, sent: framed)
        worker.scoreboard.addChannelMessages(worker.config.slot, delivered: delivered, overflowed: overflowed)
    }

    // MARK: - The bus

    /// The master sent this worker's end of the bus.
    func attach(_ fd: consuming OwnedFD) {
        closeBus()
        let stream = BusStream(fd: fd)
        bus = stream
        worker.ownDescriptorsChanged(by: 1)
        busReader = Watcher(loop: worker.loop, kind: .read(stream.fd.raw), persist: true) { [unowned self] _ in
            self.busReadable()
        }
        busWriter = Watcher(loop: worker.loop, kind: .write(stream.fd.raw), persist: true) { [unowned self] _ in
            self.busWritable()
        }
        busReader?.arm()
        if !early.isEmpty {
            stream.send(early)
            early = []
            if stream.unsent > 0 { busWriter?.arm() }
        }
    }

    func closeBus() {
        if bus != nil { worker.ownDescriptorsChanged(by: -1) }
        busReader?.disarm()
        busWriter?.disarm()
        busReader = nil
        busWriter = nil
        bus = nil
    }

    func busReadable() {
        guard let bus else { return }
        let outcome = bus.read()
        while true {
            let next: ArraySlice<UInt8>?
            do { next = try bus.nextFrame() } catch {
                worker.log("the channel bus from the master is corrupt (\(error))", level: .error)
                closeBus()
                return
            }
            guard let next else { break }
            guard let message = ChannelMessage(frame: next) else { continue }
            message.payload.withUnsafeBytes {
                deliver(String(decoding: message.name, as: UTF8.self), payload: $0, binary: message.binary)
            }
        }
        worker.flushDirty()
        if outcome == .closed {
            // The master is gone: the control channel says so too, and the worker leaves.
            closeBus()
        }
    }

    func busWritable() {
        guard let bus else { return }
        if !bus.flush() {
            closeBus()
            return
        }
        if bus.unsent == 0 { busWriter?.disarm() }
    }
}
