public import DConfig
internal import DEventLoop
internal import DIPC
public import DPosix

/// The master process: binds the listeners, spawns and supervises the workers, and runs the
/// acceptor on one libevent loop. Every accepted connection goes straight to a worker with
/// room (never blocking on a worker); when no worker has room, accepting pauses and
/// connections wait in the kernel's backlog.
public final class Supervisor {
    let config: ServerConfiguration
    let loop = EventLoop()
    var pool: WorkerPool
    let scoreboard: Scoreboard
    /// The configuration, encoded once; every worker inherits it.
    let configurationFile: OwnedFD
    let executable = Posix.executablePath()

    var listeners: [Listener] = []
    /// Paths of unix-socket listeners, removed at exit.
    var unixPaths: [String] = []
    var channels: [Channel?]
    /// Connections accepted (or taken back from a worker that exited) and not yet handed to a
    /// worker, oldest first; accepting pauses while there are any.
    var pending: [ConnectionBatch] = []
    var paused = false
    var exitStatus: Int32 = 0
    var watchers: [Watcher] = []
    var retryTimer: Watcher! = nil
    var respawnTimers: [Int: Watcher] = [:]
    var killTimer: Watcher? = nil
    /// --timeout: what has been done about requests running too long, and the check's timer
    /// (Supervisor+Timeouts); nil without it.
    var requestTimeouts: RequestTimeouts? = nil
    var requestTimeoutTimer: Watcher? = nil
    /// Accept failures in a row (EMFILE, ENFILE: the master or the whole system is out of
    /// descriptors) and when the first was: logged when they start and when accepting works
    /// again, not on every retry.
    var acceptFailures = 0
    var acceptFailingSince: UInt64 = 0

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
        pool = WorkerPool(workers: config.workers.count)
        scoreboard = try Scoreboard(slots: config.workers.count)
        configurationFile = try Posix.moveAbove(
            MemoryFile.create(name: "dispatchd-config", contents: config.encoded()), minimum: 10)
        channels = Array(repeating: nil, count: config.workers.count)
    }

    /// Runs the server until it stops; returns the exit status.
    public func run() -> Int32 {
        Posix.unblockServerSignals()
        Posix.ignoreSIGPIPE()
        raiseDescriptorLimit()
        do {
            try bindListeners()
        } catch {
            log("cannot listen: \(error)")
            return 1
        }
        for (signal, handler) in [
            (Posix.SIGTERM, { [unowned self] in self.shutdown() }),
            (Posix.SIGINT, { [unowned self] in self.shutdown() }),
            (Posix.SIGQUIT, { [unowned self] in self.quit() }),
            (Posix.SIGCHLD, { [unowned self] in self.reap() }),
            (Posix.SIGHUP, { [unowned self] in self.log("SIGHUP ignored (reload is not supported yet)") }),
        ] as [(CInt, () -> Void)] {
            let w = Watcher(loop: loop, kind: .signal(signal), persist: true) { _ in handler() }
            w.arm()
            watchers.append(w)
        }
        retryTimer = Watcher(loop: loop, kind: .timer, persist: false) { [unowned self] _ in self.retryHandOff() }
        startRequestTimeouts()
        for slot in 0..<config.workers.count { spawn(slot) }
        loop.run()
        for path in unixPaths { Socket.unlink(path) }
        return exitStatus
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
            log("descriptor limit: \(soft) (cannot raise it to the hard limit \(hard): \(error))")
        }
    }

    func bindListeners() throws(SystemError) {
        for bind in config.listeners.binds {
            let fd: OwnedFD
            var path: String? = nil
            switch bind {
            case .tcp(let host, let port):
                fd = try Socket.listenTCP(host: host, port: port, backlog: config.listeners.backlog)
            case .unix(let p):
                fd = try Socket.listenUnix(path: p, backlog: config.listeners.backlog)
                path = p
            }
            let listener = Listener(fd: fd)
            if let path {
                unixPaths.append(path)
                log("listening on unix:\(path)")
            } else if let local = Socket.localEndpoint(listener.fd.raw) {
                let host = local.host.contains(":") ? "[\(local.host)]" : local.host
                log("listening on http://\(host):\(local.port)")
            }
            let index = listeners.count
            listener.watcher = Watcher(loop: loop, kind: .read(listener.fd.raw), persist: true) { [unowned self] _ in
                self.acceptConnections(index)
            }
            listener.watcher.arm()
            listeners.append(listener)
        }
    }

    // MARK: - Workers

    func spawn(_ slot: Int) {
        do {
            try Socket.withSeqpacketPair { (ours, theirs) throws(SystemError) in
                try spawn(slot, ours: ours, theirs: Posix.moveAbove(theirs, minimum: 10))
            }
        } catch {
            log("cannot start worker \(slot): \(error)")
            scheduleRespawn(slot, delay: 1_000_000_000)
        }
    }

    func spawn(_ slot: Int, ours: consuming OwnedFD, theirs: consuming OwnedFD) throws(SystemError) {
        do {
            scoreboard.reset(slot)
            let pid = try ProcessSpawner.spawn(
                executable: executable, arguments: WorkerContract.arguments(slot: slot),
                descriptors: [
                    (theirs.raw, WorkerContract.Descriptor.channel),
                    (scoreboard.memory.fd, WorkerContract.Descriptor.scoreboard),
                    (configurationFile.raw, WorkerContract.Descriptor.configuration),
                ]
            )
            pool.spawned(slot: slot, pid: pid, now: MonotonicClock.nanoseconds())
            let channel = Channel(fd: ours, workerEnd: theirs)
            channel.watcher = Watcher(loop: loop, kind: .read(channel.fd.raw), persist: true) { [unowned self] _ in
                self.onChannel(slot)
            }
            channel.watcher.arm()
            channels[slot] = channel
            log("worker \(slot) (pid \(pid)) started")
        }
    }

    func onChannel(_ slot: Int) {
        guard let channel = channels[slot] else { return }
        while true {
            let message: DescriptorChannel.Message
            switch try? DescriptorChannel.receive(channel.fd.raw) {
            case .message(let m)?:
                message = m
            case .closed?, nil:
                // The worker is gone or going; SIGCHLD follows.
                channel.watcher.disarm()
                return
            case .wouldBlock?:
                return
            }
            for fd in message.descriptors { Posix.close(fd) }
            if message.tag == ControlMessage.ready.rawValue {
                pool.ready(slot: slot)
                log("worker \(slot) (pid \(pool.pid(slot) ?? 0)) ready")
                if paused { retryHandOff() }
            }
        }
    }

    func reap() {
        while let (pid, status) = Posix.reapChild() {
            guard let slot = pool.slot(ofPid: pid) else { continue }
            log("worker \(slot) (pid \(pid)) exited: \(describeExit(pid: pid, status: status))")
            if let channel = channels[slot] {
                channel.watcher.disarm()
                takeBack(slot, channel)
            }
            channels[slot] = nil
            switch pool.exited(
                pid: pid, exitStatus: Posix.exitCode(ofWaitStatus: status), now: MonotonicClock.nanoseconds())
            {
            case .respawn(let s, let delay):
                if delay > 0 { log("restarting worker \(s) in \(Double(delay) / 1e9) s") }
                scheduleRespawn(s, delay: delay)
            case .fatal(let reason, let status):
                log("stopping: \(reason)")
                exitStatus = status
                quit()
            case .shutdownComplete:
                loop.stop()
            case .none:
                break
            }
        }
    }

    /// Connections handed to a worker that exited before it took them off its channel: they are
    /// read back from the worker's end and queued for another worker.
    func takeBack(_ slot: Int, _ channel: Channel) {
        var count = 0
        var lost = 0
        while case .message(let message)? = try? DescriptorChannel.receive(channel.workerEnd.raw) {
            if message.truncated, let sent = ControlMessage.connectionCount(message) {
                lost += sent  // the master is at its own descriptor limit: the kernel dropped them
                continue
            }
            guard ControlMessage(rawValue: message.tag) == .connections,
                let (listener, peers) = ControlMessage.decodeConnections(message)
            else {
                for fd in message.descriptors { Posix.close(fd) }
                continue
            }
            let batch = ConnectionBatch(listener: listener)
            for (fd, peer) in zip(message.descriptors, peers) { batch.append(OwnedFD(fd), peer: peer) }
            pending.append(batch)
            count += batch.count
        }
        if lost > 0 {
            log(
                "worker \(slot) left \(lost) connection\(lost == 1 ? "" : "s") that the master could not take back "
                    + "(it is out of descriptors): \(lost == 1 ? "it is" : "they are") lost")
        }
        guard count > 0 else { return }
        log(
            "worker \(slot) left \(count) connection\(count == 1 ? "" : "s") it had not taken; handing them to another worker"
        )
        if !pool.shuttingDown { pause() }
    }

    func scheduleRespawn(_ slot: Int, delay: UInt64) {
        if delay == 0 {
            spawn(slot)
            return
        }
        let timer = Watcher(loop: loop, kind: .timer, persist: false) { [unowned self] _ in
            self.respawnTimers[slot] = nil
            if !self.pool.shuttingDown { self.spawn(slot) }
        }
        timer.arm(timeout: Double(delay) / 1e9)
        respawnTimers[slot] = timer
    }

    func log(_ message: String) {
        ServerLog.write(.master, message)
    }
}
