internal import DCompression
internal import DConfig
internal import DEventLoop
internal import DHTTP1
internal import DIPC
internal import DPosix
internal import DTLS
internal import DWSGI

/// A worker process: embeds CPython, loads the application once, and serves the connections
/// the master hands it on its own event loop, until the master tells it to drain (the server
/// stops) or to retire (its replacement is ready: it hands its idle keep-alive connections back
/// and finishes the rest).
public final class WorkerProcess {
    let config: WorkerConfiguration
    let loop: EventLoop
    /// --accept-mode shared: the epoll instance libevent waits on (the listeners are registered
    /// there), nil when it was not found; and the listeners this worker accepts from.
    let loopEpoll: CInt?
    var sharedAcceptor: SharedAcceptor? = nil
    let app: WSGIApplication
    let runtime: PythonRuntime
    let scoreboard: Scoreboard
    /// What every connection starts with: its state machine's timeouts, and whether a PROXY
    /// protocol header comes first.
    let connectionTimeouts: HTTP1ConnectionStateMachine.Timeouts
    let proxyProtocol: Bool
    /// This worker's counters of bytes read and written (`Connection.bytesIn`, `bytesOut`).
    let bytesCounters: (in: SharedMemory.Counter, out: SharedMemory.Counter)
    let accessLog: AccessLog?
    @exclusivity(unchecked) var date = HTTPDate()
    // The loop's thread alone changes these, for every connection: unchecked (about 1,000
    // instructions a connection of dynamic exclusivity checks, callgrind, Connection: close).
    @exclusivity(unchecked) var connections: [ObjectIdentifier: Connection] = [:]
    /// Why the worker is letting its connections go, once it is: it exits when none is left.
    @exclusivity(unchecked) var leaving: HTTP1ConnectionStateMachine.Drain? = nil
    /// Inside `readChannel`: whether to exit is decided once the channel has been read.
    var readingChannel = false
    /// A leaving worker's way out (`WorkerExit`): it says when it has nothing left, and
    /// exits once the master releases it (or is gone).
    @exclusivity(unchecked) var exit = WorkerExit.running
    /// Recycling: HTTP requests answered, the number after which the worker asks to be
    /// replaced (drawn once, with the jitter; 0: never), and whether it has asked.
    @exclusivity(unchecked) var requestsAnswered = 0
    /// X-Request-IDs this worker makes: a random prefix drawn once, then a counter (`RequestID`).
    let requestIDPrefix = UInt64.random(in: 1...UInt64.max)
    /// Only the loop's thread counts (`nextRequestID`): unchecked.
    @exclusivity(unchecked) var requestIDCounter: UInt64 = 0
    var requestLimit = 0
    @exclusivity(unchecked) var recycleAsked = false
    /// --reload: how many modules were imported when their files were last reported.
    var reportedModules = 0
    var watchers: [Watcher] = []
    /// WebSocket handler tasks.
    lazy var tasks = TaskRunner(worker: self)
    /// dispatchd.channels: this worker's subscriptions and its bus to the others.
    lazy var channels = ChannelHub(worker: self)
    /// zlib streams for permessage-deflate, shared by all connections (no context takeover).
    lazy var deflate = RawDeflate()
    /// Static files (--static-map), when configured.
    let statics: StaticFiles?
    /// Connections with WebSocket output queued by handler code, flushed after it returns.
    @exclusivity(unchecked) var dirty: [Connection] = []
    /// The request bodies held at once, in memory and in temporary files.
    let bodyBudget: BodyBudget
    /// Connections taken off the channel, as the scoreboard's received counter counts them
    /// (which this process updates once per wake-up).
    @exclusivity(unchecked) var taken: UInt64 = 0
    /// The channel's receive buffers, allocated once.
    let channelReceiver = DescriptorChannel.Receiver()
    /// What the worker's descriptors allow; room for nothing until serve() measures them.
    var budget = DescriptorBudget(limit: 0, baseline: 0)
    /// The measurement counted the channel bus before it arrived.
    var busCounted = false
    /// --timeout is set: each request's line is published on the scoreboard, for the master's
    /// log, and each WebSocket handler step is timed on its own (WorkerProcess+Timeouts).
    let timesRequests: Bool
    /// --threads N > 1 (WorkerProcess+Threads): the request threads, which thread runs what,
    /// and the loop's inbox for what their jobs leave it; the scoreboard row where the loop's
    /// own time in Python (WebSocket handlers) is published.
    var threads: RequestThreads? = nil
    /// Closed connections whose response's close() still runs on its thread (Connection+Threads).
    var abandoned: [ObjectIdentifier: Connection] = [:]
    var inbox: LoopInbox? = nil
    let loopRow: Scoreboard.Row?
    /// --threads with --timeout: the timeout signal's wake-up of the loop.
    var timeoutWatcher: Watcher? = nil
    /// By listener index: the TLS context of an HTTPS listener (its files read when this
    /// worker started), nil for the others.
    var tlsContexts: [TLSContext?] = []
    /// By listener index: whether it speaks the uwsgi protocol (an array: no hashing for every
    /// connection).
    lazy var uwsgiListeners: [Bool] = config.server.listeners.binds.map { $0.scheme == .uwsgi }

    init(config: WorkerConfiguration, runtime: PythonRuntime, app: WSGIApplication, scoreboard: Scoreboard) {
        self.config = config
        (loop, loopEpoll) = Self.makeLoop(shared: config.server.workers.acceptMode == .shared)
        self.runtime = runtime
        self.app = app
        self.scoreboard = scoreboard
        self.bytesCounters = scoreboard.bytesCounters(config.slot)
        self.connectionTimeouts = .init(
            keepAlive: config.keepAliveTimeout, header: config.headerTimeout, body: config.bodyTimeout,
            write: config.writeTimeout)
        self.proxyProtocol = config.proxyProtocol
        // --stats shows each worker's request too (/workers).
        self.timesRequests = config.requestTimeout != nil || config.server.listeners.stats != nil
        let threads = config.threads
        self.loopRow = threads > 1 ? scoreboard.thread(threads, of: config.slot) : nil
        self.accessLog = config.accessLog ? AccessLog(format: config.server.logging.accessLogFormat) : nil
        app.loggedResponseHeaders = config.server.logging.accessLogFormat.responseHeaders
        app.loggedEnviron = config.server.logging.accessLogFormat.environVariables
        self.statics = config.statics.maps.isEmpty ? nil : StaticFiles(config: config.statics)
        self.requestLimit = Self.drawRequestLimit(
            config.server.workers.maxRequests, jitter: config.server.workers.maxRequestsJitter)
        self.bodyBudget = BodyBudget(
            memoryLimit: config.bodyMemoryMax, spoolLimit: config.bodySpoolMax,
            spoolDirectory: config.bodySpoolDirectory, floor: config.bodySpoolMinFree)
    }

    func serve() -> Int32 {
        updateDate()
        runtime.releaseGIL()
        watchers.append(
            Watcher(loop: loop, kind: .read(WorkerContract.Descriptor.channel), persist: true) { [unowned self] _ in
                self.onChannel()
            })
        // Once a second: the Date header, the access log reaches stdout, and the admission limit
        // counts the static files and request bodies opened and closed meanwhile (and recounts
        // descriptors found taken by the application, until they are closed).
        watchers.append(
            Watcher(loop: loop, kind: .timer, persist: true) { [unowned self] _ in
                self.updateDate()
                self.accessLog?.flush()
                self.recountDescriptorsIfNeeded()
                self.publishAdmissionLimit()
                self.checkMemory()
                self.reportNewModules()
            })
        watchers.append(
            Watcher(loop: loop, kind: .signal(Posix.SIGTERM), persist: true) { [unowned self] _ in
                self.startDrain(.shutdown)
            })
        watchers.append(
            Watcher(loop: loop, kind: .signal(Posix.SIGINT), persist: true) { [unowned self] _ in
                self.startDrain(.shutdown)
            })
        watchers[0].arm()
        watchers[1].arm(timeout: 1)
        watchers[2].arm()
        watchers[3].arm()
        // Everything the worker opens for itself is open by now (the loop's signal pipe too).
        startDescriptorBudget()
        switch ControlMessage.ready.send(on: WorkerContract.Descriptor.channel) {
        case .sent: break
        case .wouldBlock, .peerGone:
            ServerLog.write(.worker, "the master is gone", level: .error)
            return WorkerContract.ExitStatus.setupFailed.rawValue
        }
        reportNewModules()
        loop.run()
        accessLog?.flush()
        runtime.acquireGIL()
        // Its connections are done: background tasks are cancelled, stop hooks run.
        runtime.runStopSequence(timeout: config.server.workers.stopTimeout)
        runtime.flushStdio()
        return WorkerContract.ExitStatus.ok.rawValue
    }

    func updateDate() {
        date.update(second: MonotonicClock.wallSeconds())
    }

    func onChannel() {
        readChannel()
        stopIfDone()
    }

    /// Everything the master has sent so far.
    func readChannel() {
        // What is taken off the channel is published as received at once for connection
        // batches (so the master's count of what waits in the channel is right while this
        // worker runs a request it just took), and at the end for the rest.
        var published = taken
        readingChannel = true
        defer {
            readingChannel = false
            if taken > published { scoreboard.addReceived(config.slot, Int(taken - published)) }
            publishAdmissionLimit()
        }
        while true {
            let result: DescriptorChannel.ReceiveResult
            do {
                result = try channelReceiver.receive(WorkerContract.Descriptor.channel)
            } catch {
                log("control channel failed: \(error)", level: .error)
                startDrain(.shutdown)
                return
            }
            switch result {
            case .wouldBlock:
                return
            case .closed:
                // The master is gone: nobody supervises this worker any more. Finish and exit.
                watchers[0].disarm()
                exit = .released
                startDrain(.shutdown)
                return
            case .message(let message):
                let kind = ControlMessage(rawValue: message.tag)
                switch kind {
                case .connections where message.truncated, .keptAlive where message.truncated:
                    // The master counted them as handed off: counted as received, or its window
                    // for this worker would shrink for good.
                    let sent = ControlMessage.connectionCount(message) ?? message.discarded
                    taken += UInt64(sent)
                    handOffTruncated(sent: sent, arrived: message.discarded)
                case .connections, .keptAlive:
                    guard let (listener, peers, acceptedAt, waited) = ControlMessage.decodeConnections(message) else {
                        taken += UInt64(message.descriptors.count)
                        log("malformed connection message from the master", level: .error)
                        for fd in message.descriptors { Posix.close(fd) }
                        continue
                    }
                    scoreboard.addReceived(config.slot, peers.count)
                    published += UInt64(peers.count)
                    if acceptedAt != 0 {
                        let since = MonotonicClock.nanoseconds() &- acceptedAt
                        if waited.isEmpty {
                            scoreboard.recordQueued(config.slot, count: peers.count, nanoseconds: since)
                        } else {
                            for ms in waited {
                                scoreboard.recordQueued(
                                    config.slot, count: 1, nanoseconds: since &+ UInt64(ms) * 1_000_000)
                            }
                        }
                    }
                    for (fd, peer) in zip(message.descriptors, peers) {
                        // Counted before the connection exists: one that closes at once publishes
                        // an admission limit that counts its descriptor once.
                        taken += 1
                        accept(OwnedFD(fd), listener: listener, peer: peer, keptAlive: kind == .keptAlive)
                    }
                case .drain:
                    for fd in message.descriptors { Posix.close(fd) }
                    startDrain(.shutdown)
                case .retire:
                    for fd in message.descriptors { Posix.close(fd) }
                    startDrain(.handOver)
                case .release:
                    for fd in message.descriptors { Posix.close(fd) }
                    exit = .released
                case .reopenLogs:
                    for fd in message.descriptors { Posix.close(fd) }
                    reopenLogFiles()
                case .bus:
                    for fd in message.descriptors.dropFirst() { Posix.close(fd) }
                    if let fd = message.descriptors.first { channels.attach(OwnedFD(fd)) }
                default:
                    for fd in message.descriptors { Posix.close(fd) }
                    log("unexpected control message \(message.tag)", level: .error)
                }
            }
        }
    }

    /// SERVER_NAME and SERVER_PORT by listener index: each listener's address is asked once.
    lazy var localNames: [(name: String, port: String)?] = Array(
        repeating: nil, count: config.server.listeners.binds.count)

    /// `keptAlive`: an idle keep-alive connection another worker handed over.
    func accept(_ fd: consuming OwnedFD, listener: Int, peer: PeerAddress, keptAlive: Bool) {
        let local: (name: String, port: String)
        if let known = localNames[listener] {
            local = known
        } else {
            let endpoint = Socket.localEndpoint(fd.raw)
            local = endpoint.map { $0.isUnix ? ("localhost", "0") : ($0.host, String($0.port)) } ?? ("localhost", "0")
            localNames[listener] = local
        }
        // A unix-socket peer is the local proxy; a uwsgi peer sets the environ itself.
        let trusted =
            !uwsgiListeners[listener]
            && (peer.family == 0
                || peer.withAddressBytes { config.server.listeners.forwardedAllowIPs.contains(rawAddress: $0) })
        let info = WSGIConnectionInfo(
            serverName: local.name, serverPort: local.port,
            remoteAddr: peer.family == 0 ? "127.0.0.1" : peer.host,
            remotePort: peer.family == 0 ? "0" : peer.portText,
            secure: tlsContexts[listener] != nil,
            forwardedTrusted: trusted
        )
        let connection = Connection(
            fd: fd, worker: self, info: info, listener: listener, keptAlive: keptAlive)
        connections[ObjectIdentifier(connection)] = connection
        if exit == .drained { exit = .running }  // the master counts it as having connections again
        // One handed over while this worker leaves too goes on (a retiring worker's, to the next).
        if let leaving { connection.drain(leaving) }
        // Bytes are usually waiting already (a client sends its request right after connecting):
        // read first, and register with the loop only if the connection stays.
        if !connection.isClosed { connection.onReadable([]) }
    }

    /// --access-log, --error-log after a SIGUSR1 to the master: stdout and stderr point at the
    /// files anew (the app's own writes to them follow, at the same descriptors).
    func reopenLogFiles() {
        let logging = config.server.logging
        for (fd, path) in [(CInt(1), logging.accessLogFile), (CInt(2), logging.errorLogFile)] {
            guard let path, path != "-" else { continue }
            do { try Posix.redirect(fd, toAppend: path) } catch {
                log("cannot reopen \(path): \(error)", level: .error)
            }
        }
    }

    func flushDirty() {
        while !dirty.isEmpty {
            let list = dirty
            dirty = []
            for c in list { c.finishWebSocketBatch() }
        }
    }

    func connectionClosed(_ connection: Connection) {
        connections[ObjectIdentifier(connection)] = nil
        publishAdmissionLimit()
        stopIfDone()
    }

    /// The master asked for a drain (the message may not have been read yet), or the worker
    /// drains on its own (startDrain marks it there too): responses say `Connection: close`. A
    /// retiring worker's do not: its connections go on elsewhere. Read on request threads too:
    /// only the scoreboard's atomic word is read.
    var drainRequested: Bool { scoreboard.isDraining(config.slot) }

    /// The next X-Request-ID's counter (never 0, which means "the client's").
    func nextRequestID() -> UInt64 {
        requestIDCounter &+= 1
        return requestIDCounter
    }

    func log(_ message: String, level: ServerLog.Level = .info) {
        ServerLog.write(.worker, message, level: level)
    }

    /// The loop's thread enters Python for a request or a WebSocket handler (with --threads, its
    /// own row: the slot's says whether a request thread is free).
    func enterApplication(_ now: UInt64) {
        if let loopRow { scoreboard.setBusySince(loopRow, now) } else { scoreboard.setBusySince(config.slot, now) }
    }

    func leaveApplication() {
        if let loopRow { scoreboard.setBusySince(loopRow, 0) } else { scoreboard.setBusySince(config.slot, 0) }
    }
}

extension WorkerProcess {
    /// What the binary was built with, for `--version`: the CPython, libevent and OpenSSL headers
    /// (and, where the library loaded now differs, that one too).
    public static var builtWith: String {
        func both(_ built: String, _ running: String) -> String {
            running == built || running.isEmpty ? built : "\(built), running \(running)"
        }
        return
            "Python \(PythonRuntime.builtVersion), libevent \(both(EventLoop.builtVersion, EventLoop.runningVersion)), "
            + both(TLSContext.builtVersion, TLSContext.runningVersion)
    }
}
