internal import DConfig
internal import DEventLoop
internal import DIPC
internal import DPosix

/// `--channels redis://...`: dispatchd.channels between the instances that name one Redis. The
/// master publishes what its workers publish (`PUBLISH dispatchd:DB:NAME`) on one connection,
/// and on another subscribes to every such channel (`PSUBSCRIBE dispatchd:DB:*`), relaying what
/// other instances published to all its workers; its own messages, which come back, are skipped.
/// Without Redis, local delivery goes on: the outage is logged once, the bridge reconnects with
/// a backoff, and `dispatchd_channels_bridge_up` says 0 meanwhile.
///
/// A message on Redis is the payload after a 14-byte header (`\0dspd`, a flags byte, the
/// publishing instance's id). A message without the header (published by another program) is
/// taken as text when it is UTF-8, as binary otherwise.
final class RedisBridge {
    final class Link {
        let fd: OwnedFD
        var reader = RESP.Reader()
        var output: [UInt8] = []
        var outputStart = 0
        var connected = false
        var readWatcher: Watcher! = nil
        var writeWatcher: Watcher! = nil
        init(fd: consuming OwnedFD) { self.fd = fd }
        var unsent: Int { output.count - outputStart }
    }

    enum State: Equatable {
        case down
        case connecting
        /// Subscribed, and the publishing connection is connected.
        case up
    }

    let target: ChannelsBridge
    let loop: EventLoop
    /// Redis channel names are this followed by the dispatchd channel's name.
    let prefix: [UInt8]
    let instance = UInt64.random(in: 1...UInt64.max)
    private(set) var state = State.down
    var subscriber: Link? = nil
    var publisher: Link? = nil
    var subscribed = false
    /// Failed attempts in a row (the backoff), and whether this outage has been logged.
    var failures = 0
    var outageLogged = false
    var everUp = false
    var retryTimer: Watcher? = nil
    /// The attempt's name lookup while it runs, and the watcher of its wake-up.
    var resolving: NameResolver? = nil
    var resolveWatcher: Watcher? = nil
    /// How names are resolved (getaddrinfo, on a thread of its own).
    let lookUp: NameResolver.Lookup
    /// Links dropped by a failure inside one of their own callbacks: kept until the next
    /// attempt, so that a watcher is never freed while it runs.
    var retired: [Link] = []
    /// Messages sent to Redis, received from other instances, and not sent (Redis down, or too
    /// far behind) (--stats).
    private(set) var sent: UInt64 = 0
    private(set) var received: UInt64 = 0
    private(set) var dropped: UInt64 = 0
    /// A frame from another instance, for every worker.
    let deliver: (ArraySlice<UInt8>) -> Void
    let log: (String, ServerLog.Level) -> Void

    static let magic: [UInt8] = [0x00, 0x64, 0x73, 0x70, 0x64]  // "\0dspd"
    static let headerSize = magic.count + 1 + 8
    /// Bytes queued for Redis before messages are dropped.
    static let queueLimit = 64 << 20
    /// The first retry's delay, doubled after each failure up to `maxDelay` (seconds).
    static let firstDelay = 0.1
    static let maxDelay = 5.0

    init(
        target: ChannelsBridge, loop: EventLoop, deliver: @escaping (ArraySlice<UInt8>) -> Void,
        log: @escaping (String, ServerLog.Level) -> Void,
        lookUp: @escaping NameResolver.Lookup = NameResolver.getaddrinfo
    ) {
        self.lookUp = lookUp
        self.target = target
        self.loop = loop
        self.prefix = Array("dispatchd:\(target.database):".utf8)
        self.deliver = deliver
        self.log = log
    }

    /// The delay before attempt `failures + 1`.
    static func delay(afterFailures failures: Int) -> Double {
        min(firstDelay * Double(1 << min(failures, 16)), maxDelay)
    }

    // MARK: - Connecting

    /// An attempt: Redis's name is resolved first (each time: its address may change), off the
    /// loop's thread (NameResolver), then both connections are opened.
    func connect() {
        retryTimer = nil
        retired = []
        state = .connecting
        subscribed = false
        let resolver: NameResolver
        do {
            resolver = try NameResolver(host: target.host, port: target.port, lookUp: lookUp)
        } catch {
            failed("\(error)")
            return
        }
        // Replaced here, never inside its own callback (the last attempt's has returned).
        let watcher = Watcher(loop: loop, kind: .read(resolver.wakeUp.fd.raw), persist: true) {
            [unowned self, weak resolver] _ in
            guard let resolver, self.resolving === resolver, let outcome = resolver.take() else { return }
            self.resolveWatcher?.disarm()
            self.resolving = nil  // its descriptor closes with it, unwatched
            self.resolved(outcome)
        }
        resolving = resolver
        resolveWatcher = watcher
        watcher.arm()
    }

    /// A name with several addresses (localhost: ::1 and 127.0.0.1): each attempt after a
    /// failure takes the next.
    func resolved(_ outcome: Result<[NameResolver.Address], SystemError>) {
        do {
            let addresses = try outcome.get()
            let address = addresses[failures % addresses.count]
            subscriber = try open(address)
            publisher = try open(address)
        } catch {
            failed("\(error)")
            return
        }
        var pattern = prefix
        pattern.append(UInt8(ascii: "*"))
        queue(RESP.command([Array("PSUBSCRIBE".utf8), pattern]), on: subscriber!)
    }

    func open(_ address: NameResolver.Address) throws(SystemError) -> Link {
        let link = Link(fd: try Socket.connectTCP(to: address))
        link.readWatcher = Watcher(loop: loop, kind: .read(link.fd.raw), persist: true) {
            [unowned self, unowned link] _ in
            self.readable(link)
        }
        link.writeWatcher = Watcher(loop: loop, kind: .write(link.fd.raw), persist: true) {
            [unowned self, unowned link] _ in
            self.writable(link)
        }
        link.writeWatcher.arm()  // connected (or failed) when writable
        return link
    }

    /// A connection failed or closed: both go, and the next attempt waits for the backoff.
    func failed(_ reason: String) {
        for link in [subscriber, publisher].compactMap({ $0 }) {
            link.readWatcher.disarm()
            link.writeWatcher.disarm()
            retired.append(link)
        }
        subscriber = nil
        publisher = nil
        state = .down
        if !outageLogged {
            outageLogged = true
            log(
                "channels: Redis at \(target) is unavailable (\(reason)): messages reach this instance's workers only until it is back; reconnecting",
                .warning)
        }
        let delay = Self.delay(afterFailures: failures)
        failures += 1
        let timer = Watcher(loop: loop, kind: .timer, persist: false) { [unowned self] _ in self.connect() }
        timer.arm(timeout: delay)
        retryTimer = timer
    }

    func becameUpIfReady() {
        guard state == .connecting, subscribed, publisher?.connected == true else { return }
        state = .up
        failures = 0
        if outageLogged || !everUp {
            log("channels: bridged through Redis at \(target)", .info)
        }
        outageLogged = false
        everUp = true
    }

    // MARK: - I/O

    func queue(_ bytes: [UInt8], on link: Link) {
        link.output += bytes
        if link.connected { flush(link) }
    }

    func flush(_ link: Link) {
        while link.outputStart < link.output.count {
            let result = link.output.withUnsafeBytes { raw -> Posix.IOResult? in
                try? Posix.send(link.fd.raw, UnsafeRawBufferPointer(rebasing: raw[link.outputStart...]))
            }
            switch result {
            case .done(let n)?:
                link.outputStart += n
            case .wouldBlock?:
                if link.outputStart > 1 << 16 && link.outputStart * 2 > link.output.count {
                    link.output.removeFirst(link.outputStart)
                    link.outputStart = 0
                }
                link.writeWatcher.arm()
                return
            case nil:
                failed("write failed")
                return
            }
        }
        link.output.removeAll(keepingCapacity: link.output.capacity <= 1 << 20)
        link.outputStart = 0
        link.writeWatcher.disarm()
    }

    func writable(_ link: Link) {
        if !link.connected {
            let error = Socket.pendingError(link.fd.raw)
            guard error == 0 else {
                failed("\(SystemError(errno: error, call: "connect(\(target.host):\(target.port))"))")
                return
            }
            link.connected = true
            link.readWatcher.arm()
            becameUpIfReady()
        }
        flush(link)
    }

    func readable(_ link: Link) {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var total = 0
        while total < 1 << 20 {
            let result = chunk.withUnsafeMutableBytes { (try? Posix.read(link.fd.raw, $0)) ?? .done(0) }
            guard case .done(let n) = result else { break }
            if n == 0 {
                failed("Redis closed the connection")
                return
            }
            total += n
            chunk.withUnsafeBytes { link.reader.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
        while true {
            let value: RESP.Value?
            do { value = try link.reader.next() } catch {
                failed("not Redis: \(error)")
                return
            }
            guard let value else { return }
            if link === subscriber {
                push(value)
            } else if case .error(let message) = value {
                log("channels: Redis refused a PUBLISH: \(message)", .error)
            }
            // (a closed link's remaining replies are not read: `failed` dropped it)
            if subscriber == nil { return }
        }
    }

    /// A reply or push on the subscribing connection.
    func push(_ value: RESP.Value) {
        guard case .array(let items?) = value, case .bulk(let kind?)? = items.first else {
            if case .error(let message) = value { failed("Redis refused PSUBSCRIBE: \(message)") }
            return
        }
        switch String(decoding: kind, as: UTF8.self) {
        case "psubscribe":
            subscribed = true
            becameUpIfReady()
        case "pmessage":
            guard items.count == 4, case .bulk(let channel?) = items[2], case .bulk(let payload?) = items[3],
                channel.count > prefix.count, channel.starts(with: prefix)
            else { return }
            inbound(name: channel[prefix.count...], payload: payload)
        default:
            break
        }
    }

    func inbound(name: ArraySlice<UInt8>, payload: [UInt8]) {
        guard name.count <= ChannelMessage.maxName else { return }
        var binary: Bool
        var body = payload[...]
        if payload.count >= Self.headerSize && payload.starts(with: Self.magic) {
            let origin = payload[(Self.magic.count + 1)..<Self.headerSize].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            if origin == instance { return }  // our own, back from Redis
            binary = payload[Self.magic.count] & 1 != 0
            body = payload[Self.headerSize...]
        } else {
            binary = String(validating: payload, as: UTF8.self) == nil
        }
        received &+= 1
        var frame: [UInt8] = []
        name.withUnsafeBytes { n in
            body.withUnsafeBytes { ChannelMessage.encode(name: n, binary: binary, payload: $0, into: &frame) }
        }
        deliver(frame[...])
    }

    /// A message a worker published (its bus frame): to Redis, when it is there.
    func publish(_ frame: ArraySlice<UInt8>) {
        guard state == .up, let publisher, publisher.unsent < Self.queueLimit,
            let message = ChannelMessage(frame: frame)
        else {
            dropped &+= 1
            return
        }
        var payload = Self.magic
        payload.append(message.binary ? 1 : 0)
        for shift in stride(from: 56, through: 0, by: -8) {
            payload.append(UInt8(truncatingIfNeeded: instance >> shift))
        }
        payload += message.payload
        sent &+= 1
        queue(RESP.command([Array("PUBLISH".utf8), prefix + message.name, payload]), on: publisher)
    }
}
