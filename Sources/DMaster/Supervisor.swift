public import DConfig
internal import DEventLoop
internal import DIPC
public import DPosix

/// The master process: binds the listeners, spawns and supervises the workers, and runs the
/// acceptor on one libevent loop. Every accepted connection goes straight to a worker with
/// room (never blocking on a worker); when no worker has room, accepting pauses and
/// connections wait in the kernel's backlog. With --accept-mode shared the workers accept
/// themselves, from the listeners they inherit, and the master's acceptor stays idle (it still
/// hands over what comes back to it: a retiring worker's idle connections).
public final class Supervisor {
    let config: ServerConfiguration
    let loop = EventLoop()
    // The master runs on one thread, its loop's: the state the acceptor reads and changes for
    // every connection is @exclusivity(unchecked), which saves about 900 instructions a
    // connection of dynamic exclusivity checks (callgrind, Connection: close).
    @exclusivity(unchecked) var pool: WorkerPool
    let scoreboard: Scoreboard
    /// The configuration, encoded once; every worker inherits it.
    let configurationFile: OwnedFD
    let executable = Posix.executablePath()

    @exclusivity(unchecked) var listeners: [Listener] = []
    /// Paths of unix-socket listeners, removed at exit.
    var unixPaths: [String] = []
    @exclusivity(unchecked) var channels: [Channel?]
    /// Connections accepted (or taken back from a worker that exited) and not yet handed to a
    /// worker, oldest first; accepting pauses while there are any.
    @exclusivity(unchecked) var pending: [ConnectionBatch] = []
    /// The acceptor's batch object between hand-offs, and the buffer its messages are written
    /// in: reused, not allocated for every connection.
    @exclusivity(unchecked) var spareBatch: ConnectionBatch? = nil
    @exclusivity(unchecked) var handOffPayload: [UInt8] = []
    @exclusivity(unchecked) var paused = false
    /// Accepting paused since the backlog last ran empty: connections accepted now waited in it,
    /// and how long is measured for the queue-time histogram.
    @exclusivity(unchecked) var backlogged = false
    var exitStatus: Int32 = 0
    var watchers: [Watcher] = []
    var retryTimer: Watcher! = nil
    /// Workers waiting to start (after a back-off), by slot.
    var spawnTimers: [Int: Watcher] = [:]
    /// Per slot: a worker's lifetime (--max-worker-lifetime), or the time a retiring worker has
    /// to finish before it is killed.
    var slotTimers: [Int: Watcher] = [:]
    var killTimer: Watcher? = nil
    /// After the graceful timeout: kills released workers whose stop hooks overran.
    var backstopTimer: Watcher? = nil
    /// SIGTERM's --shutdown-delay, while it runs.
    var shutdownDelayTimer: Watcher? = nil
    /// A shutdown waits `handshakeSettle` for handshakes under way before it drains.
    var closingTimer: Watcher? = nil
    /// When the current reload began (for its log line).
    var reloadStarted: UInt64 = 0
    /// systemd's NOTIFY_SOCKET (Supervisor+Systemd): whether READY=1 went, and the requests
    /// answered at the last STATUS.
    var notifier: SystemdNotifier? = nil
    var notifiedReady = false
    var lastAnswered: UInt64 = 0
    /// --stats (Supervisor+Stats): connections accepted, what exited workers counted, worker
    /// exits by reason, and the reason the master gave each worker it is replacing.
    @exclusivity(unchecked) var acceptedConnections: UInt64 = 0
    var retiredCounts = Scoreboard.Counts()
    var exitsByReason: [String: UInt64] = [:]
    var exitReasons: [Int32: String] = [:]
    var statsServer: StatsServer? = nil
    /// SIGTERM (or SIGQUIT) arrived: /readyz says 503 from then on, during --shutdown-delay too.
    var stopRequested = false
    /// --reload: the application's files, watched; the changes seen, and the short wait that
    /// gathers the writes of one save before the reload starts.
    var fileWatcher: FileWatcher? = nil
    var fileWatcherEvent: Watcher? = nil
    var changedFiles: Set<String> = []
    var reloadSettle: Watcher? = nil
    /// --timeout: what has been done about requests running too long, and the check's timer
    /// (Supervisor+Timeouts); nil without it.
    var requestTimeouts: RequestTimeouts? = nil
    var requestTimeoutTimer: Watcher? = nil
    /// Accept failures in a row (EMFILE, ENFILE: the master or the whole system is out of
    /// descriptors) and when the first was: logged when they start and when accepting works
    /// again, not on every retry.
    @exclusivity(unchecked) var acceptFailures = 0
    var acceptFailingSince: UInt64 = 0
    /// --preload (Supervisor+Preload): the zygotes, oldest first (a reload starts a new one; the
    /// last takes the forks asked for), exits of forked workers reaped before their zygote said
    /// their pid, and slots whose worker said it was ready before that.
    var zygotes: [Zygote] = []
    /// dispatchd.channels: the bus to every worker, and the messages relayed between them.
    /// --channels redis://: the bridge to the other instances.
    var bridge: RedisBridge? = nil
    lazy var relay = ChannelRelay(loop: loop, queueLimit: ChannelRelay.queueLimit) { [unowned self] in
        self.log($0, level: .warning)
    }
    var unclaimedExits: [Int32: CInt] = [:]
    var readyBeforeForked: Set<Int> = []

    final class Listener {
        let fd: OwnedFD
        var watcher: Watcher! = nil
        init(fd: consuming OwnedFD) { self.fd = fd }
    }

    /// The master's side of a worker's channel. The master also keeps the worker's end open:
    /// connections handed to a worker that dies before taking them off the channel stay there,
    /// and the master gives them to another worker instead of losing them.
    final class Channel {
        let fd: OwnedFD
        let workerEnd: OwnedFD
        var watcher: Watcher! = nil
        init(fd: consuming OwnedFD, workerEnd: consuming OwnedFD) {
            self.fd = fd
            self.workerEnd = workerEnd
        }
    }

    /// While accepting is paused, how often to look for a worker with room again.
    static let retryInterval = 0.001
    /// After a failed accept, how long to wait before the next: the failure (no descriptor
    /// left) lasts until something closes, so retrying at once would only spin. nginx waits
    /// 500 ms; Go backs off up to 1 s.
    static let acceptRetryInterval = 0.1

    public init(config: ServerConfiguration) throws(SystemError) {
        self.config = config
        ServerLog.threshold = ServerLog.Level(name: config.logging.level.rawValue)
        pool = WorkerPool(workers: config.workers.count, surge: config.workers.reloadBatch)
        scoreboard = try Scoreboard(slots: pool.count, threads: config.workers.threads)
        configurationFile = try Posix.moveAbove(
            MemoryFile.create(name: "dispatchd-config", contents: config.encoded()), minimum: 10)
        channels = Array(repeating: nil, count: pool.count)
    }

    /// Runs the server until it stops; returns the exit status.
    public func run() -> Int32 {
        Posix.unblockServerSignals()
        Posix.ignoreSIGPIPE()
        Posix.becomeSubreaper()
        guard reopenLogFiles() else { return 1 }
        raiseDescriptorLimit()
        switch adoptActivatedListeners() {
        case true?: break
        case false?: return 1
        case nil:
            do {
                try bindListeners()
            } catch {
                log("cannot listen: \(error)", level: .critical)
                return 1
            }
        }
        do {
            try startStats()
        } catch {
            log("cannot listen for --stats: \(error)", level: .critical)
            return 1
        }
        guard dropPrivileges() else { return 1 }
        for (signal, handler) in [
            (Posix.SIGTERM, { [unowned self] in self.stopGracefully() }),
            (Posix.SIGINT, { [unowned self] in self.stopGracefully() }),
            (Posix.SIGQUIT, { [unowned self] in self.quit() }),
            (Posix.SIGCHLD, { [unowned self] in self.reap() }),
            (Posix.SIGHUP, { [unowned self] in self.reload() }),
            (Posix.SIGUSR1, { [unowned self] in self.reopenLogs() }),
        ] as [(CInt, () -> Void)] {
            let w = Watcher(loop: loop, kind: .signal(signal), persist: true) { _ in handler() }
            w.arm()
            watchers.append(w)
        }
        retryTimer = Watcher(loop: loop, kind: .timer, persist: false) { [unowned self] _ in self.retryHandOff() }
        startSystemdNotifications()
        if config.development.reload { startWatchingFiles() }
        startRequestTimeouts()
        if config.workers.acceptMode == .shared {
            log("accept mode: shared (each worker accepts from the listening sockets itself)")
        }
        startChannelsBridge()
        execute(pool.start())
        loop.run()
        for path in unixPaths { Socket.unlink(path) }
        return exitStatus
    }

    /// --channels redis://: the workers' messages go to Redis too, and other instances' come in.
    func startChannelsBridge() {
        guard let target = config.webSocket.channels else { return }
        let bridge = RedisBridge(
            target: target, loop: loop, deliver: { [unowned self] in self.relay.forward($0, except: nil) },
            log: { [unowned self] in self.log($0, level: $1) })
        relay.outward = { [unowned bridge] in bridge.publish($0) }
        self.bridge = bridge
        bridge.connect()
    }

    /// Before anything is bound or spawned, so that the workers inherit the raised limit.
    func raiseDescriptorLimit() {
        switch DescriptorLimit.raiseToHard() {
        case .raised(let from, let to):
            log("descriptor limit: \(to) (raised from \(from))")
        case .alreadyHard(let limit):
            // A low hard limit is not fatal: each worker announces only the connections it has
            // descriptors for, and says so when that is few; the others wait in the backlog.
            log("descriptor limit: \(limit) (the hard limit)")
        case .failed(let soft, let hard, let error):
            log("descriptor limit: \(soft) (cannot raise it to the hard limit \(hard): \(error))", level: .warning)
        }
    }

    /// --uid/--gid: once the listeners are bound (a port under 1024 needs root), the master
    /// becomes that user, and so do the workers it starts. Running as root without them is
    /// allowed, loudly. False when the switch fails (the server must not run as root then).
    func dropPrivileges() -> Bool {
        let listeners = config.listeners
        guard listeners.user != nil || listeners.group != nil else {
            if Posix.isRoot {
                log(
                    "WARNING: running as root, and so will the workers (the application); give --uid and --gid to switch to an unprivileged user once the listeners are bound"
                )
            }
            return true
        }
        let user = listeners.user.flatMap(Posix.user)
        let uid = user?.uid ?? Posix.currentUser
        let gid = listeners.group.flatMap(Posix.group) ?? user?.gid ?? Posix.currentGroup
        do {
            try Posix.dropPrivileges(uid: uid, gid: gid, userName: listeners.user == nil ? nil : user?.name)
        } catch {
            log("cannot switch to user \(uid) and group \(gid): \(error)", level: .critical)
            return false
        }
        log("running as user \(uid), group \(gid)")
        if uid == 0 { log("WARNING: --uid is root: the workers (the application) run as root", level: .warning) }
        return true
    }

    func bindListeners() throws(SystemError) {
        for bind in config.listeners.binds {
            let fd: OwnedFD
            var path: String? = nil
            switch bind.address {
            case .tcp(let host, let port):
                fd = try Socket.listenTCP(host: host, port: port, backlog: config.listeners.backlog)
            case .unix(let p):
                fd = try Socket.listenUnix(path: p, backlog: config.listeners.backlog)
                path = p
                if let mode = config.listeners.socketMode { try Socket.setMode(p, mode) }
                if let owner = config.listeners.socketOwner {
                    let parts = owner.split(separator: ":", maxSplits: 1).map(String.init)
                    try Socket.setOwner(
                        p, user: parts.first.flatMap { $0.isEmpty ? nil : $0 }, group: parts.count > 1 ? parts[1] : nil)
                }
            }
            if let path { unixPaths.append(path) }
            addListener(try movedAboveWorkerDescriptors(fd), bind, path: path, note: "")
        }
    }

    /// Socket activation: the listening sockets systemd passed (LISTEN_FDS), one per configured
    /// listener in order (their schemes apply; systemd's addresses win). The variables are
    /// removed, so workers and the app do not take them for their own. nil: none were passed;
    /// false: they do not match the configuration (logged).
    func adoptActivatedListeners() -> Bool? {
        let passed = SocketActivation.descriptors(
            listenPID: Posix.getenv("LISTEN_PID"), listenFDs: Posix.getenv("LISTEN_FDS"), ownPID: Posix.getpid())
        for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] { Posix.unsetenv(name) }
        guard let passed else { return nil }
        let binds = config.listeners.binds
        guard passed.count == binds.count else {
            log(
                "systemd passed \(passed.count) listening socket\(passed.count == 1 ? "" : "s") (LISTEN_FDS), but the configuration has \(binds.count) listener\(binds.count == 1 ? "" : "s"): give one --bind (or --https, --socket) per socket, in the order of the socket unit's Listen lines"
            )
            return false
        }
        for (raw, bind) in zip(passed, binds) {
            do {
                addListener(
                    try movedAboveWorkerDescriptors(Socket.inheritedListener(raw)), bind, path: nil,
                    note: " (from systemd)")
            } catch {
                log("cannot use the socket systemd passed at descriptor \(raw): \(error)", level: .critical)
                return false
            }
        }
        return true
    }

    /// A listener's descriptor, above every number a worker starts with (WorkerContract), so
    /// that passing them (--accept-mode shared) never overwrites one before it is passed.
    func movedAboveWorkerDescriptors(_ fd: consuming OwnedFD) throws(SystemError) -> OwnedFD {
        try Posix.moveAbove(
            fd, minimum: max(10, WorkerContract.Descriptor.listener(config.listeners.binds.count)))
    }

    /// Watches a listening socket (single mode), and says where it listens.
    func addListener(_ fd: consuming OwnedFD, _ bind: Bind, path: String?, note: String) {
        let listener = Listener(fd: fd)
        let scheme: String
        switch bind.scheme {
        case .http: scheme = "http"
        case .https: scheme = "https"
        case .uwsgi: scheme = "uwsgi"
        }
        let local = Socket.localEndpoint(listener.fd.raw)
        if let local, path != nil || local.isUnix {
            log("listening on \(scheme == "http" ? "" : scheme + "+")unix:\(path ?? local.host)\(note)")
        } else if let local {
            let host = local.host.contains(":") ? "[\(local.host)]" : local.host
            log("listening on \(scheme)://\(host):\(local.port)\(note)")
            if bind.scheme == .uwsgi && !Self.isLoopback(local.host) {
                log(
                    "WARNING: the uwsgi protocol lets its peer set any environ value (REMOTE_ADDR, HTTPS, SCRIPT_NAME...): uwsgi://\(host):\(local.port) should be a unix socket or a loopback address that only the proxy reaches"
                )
            }
        }
        let index = listeners.count
        listener.watcher = Watcher(loop: loop, kind: .read(listener.fd.raw), persist: true) { [unowned self] _ in
            self.acceptConnections(index)
        }
        listeners.append(listener)
        armListeners()
    }

    /// --access-log and --error-log: stdout and stderr point at the files, which every worker
    /// inherits (the master opens them before it drops privileges). False when one cannot be
    /// opened (logged to the stderr it had).
    func reopenLogFiles() -> Bool {
        for (fd, path, option) in [
            (CInt(1), config.logging.accessLogFile, "--access-log"),
            (CInt(2), config.logging.errorLogFile, "--error-log"),
        ] {
            guard let path, path != "-" else { continue }
            do {
                try Posix.redirect(fd, toAppend: path)
            } catch {
                log("\(option) \(path): \(error)", level: .error)
                return false
            }
        }
        return true
    }

    /// SIGUSR1 (logrotate's postrotate): the master reopens the log files, and tells each worker
    /// to reopen its own.
    func reopenLogs() {
        guard config.logging.accessLogFile != nil || config.logging.errorLogFile != nil else { return }
        if reopenLogFiles() { log("log files reopened") }
        for slot in 0..<pool.count where pool.pid(slot) != nil {
            if let channel = channels[slot] { _ = ControlMessage.reopenLogs.send(on: channel.fd.raw) }
        }
    }

    /// 127.0.0.0/8 and ::1.
    static func isLoopback(_ host: String) -> Bool {
        host.hasPrefix("127.") || host == "::1" || host == "::ffff:127.0.0.1"
    }

    func log(_ message: String, level: ServerLog.Level = .info) {
        ServerLog.write(.master, message, level: level)
    }
}
