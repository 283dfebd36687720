internal import DConfig
internal import DEventLoop
internal import DIPC
internal import DPosix

/// The workers' lives: starting them, what they say on their channels, their exits, and every
/// replacement (a reload, recycling, a lifetime), carried out as `WorkerPool` decides.
extension Supervisor {
    /// Carries out the pool's decisions.
    func execute(_ actions: [WorkerPool.Action]) {
        for action in actions {
            switch action {
            case .spawn(let slot, let delay):
                scheduleSpawn(slot, delay: delay)
            case .retire(let slot):
                retire(slot)
            case .fatal(let reason, let status):
                log("stopping: \(reason)")
                exitStatus = status
                quit()
            case .shutdownComplete:
                loop.stop()
            case .reloadFinished(let replaced):
                let tenths = (MonotonicClock.nanoseconds() - reloadStarted) / 100_000_000
                log(
                    "reload complete: \(replaced) worker\(replaced == 1 ? "" : "s") replaced in \(tenths / 10).\(tenths % 10) s"
                )
                notifyReloaded()
            case .reloadAbandoned(let position, let status):
                log(
                    "reload abandoned: the new worker \(position) exited (\(Self.describe(status))) before it was ready; "
                        + "the old workers keep serving (the next SIGHUP tries again)")
                notifyReloaded()
            case .replacementFailed(let position, let status):
                log(
                    "the replacement for worker \(position) exited (\(Self.describe(status))) before it was ready; "
                        + "the old one keeps serving, and another replacement follows")
            case .release(let slot):
                // A drained worker reads everything; a channel that refuses it is one whose
                // worker is gone (SIGCHLD follows), or, at worst, the graceful timeout ends it.
                if let channel = channels[slot] { _ = ControlMessage.release.send(on: channel.fd.raw) }
            }
        }
    }

    static func describe(_ status: Int32?) -> String {
        guard let status else { return "killed by a signal" }
        if let reason = WorkerContract.ExitStatus(rawValue: status)?.fatalReason {
            return "exit status \(status): \(reason)"
        }
        return "exit status \(status)"
    }

    /// SIGHUP: a rolling reload, `--reload-batch` workers at a time.
    func reload() {
        guard !pool.shuttingDown else { return }
        reloadStarted = MonotonicClock.nanoseconds()
        let batch = config.workers.reloadBatch
        log(
            "reloading: replacing \(pool.workers) worker\(pool.workers == 1 ? "" : "s"), \(batch) at a time"
                + (pool.isReloading ? " (the reload under way starts over)" : ""))
        notifyReloading()
        // The new workers fork from a new zygote, which imports the code as it is now.
        if config.workers.preload { startZygote() }
        for slot in 0..<pool.count {
            if let pid = pool.pid(slot), exitReasons[pid] == nil { exitReasons[pid] = "reload" }
        }
        execute(pool.beginReload())
    }

    /// Replaces the worker in `slot` (recycling); it serves until its replacement is ready.
    func replace(_ slot: Int, because reason: String, kind: String) {
        guard let pid = pool.pid(slot) else { return }
        exitReasons[pid] = kind
        log("replacing worker \(pool.position(slot)) (pid \(pid)): \(reason)")
        execute(pool.replace(slot: slot))
    }

    func scheduleSpawn(_ slot: Int, delay: UInt64) {
        if delay == 0 {
            spawn(slot)
            return
        }
        log("starting worker \(pool.position(slot)) in \(Double(delay) / 1e9) s")
        let timer = Watcher(loop: loop, kind: .timer, persist: false) { [unowned self] _ in
            self.spawnTimers[slot] = nil
            if !self.pool.shuttingDown { self.spawn(slot) }
        }
        timer.arm(timeout: Double(delay) / 1e9)
        spawnTimers[slot] = timer
    }

    func spawn(_ slot: Int) {
        if config.workers.preload {
            requestFork(slot)
            return
        }
        do {
            try Socket.withSeqpacketPair { (ours, theirs) throws(SystemError) in
                try spawn(slot, ours: ours, theirs: Posix.moveAbove(theirs, minimum: 10))
            }
        } catch {
            log("cannot start worker \(pool.position(slot)): \(error)", level: .error)
            scheduleSpawn(slot, delay: 1_000_000_000)
        }
    }

    func spawn(_ slot: Int, ours: consuming OwnedFD, theirs: consuming OwnedFD) throws(SystemError) {
        scoreboard.reset(slot)
        let pid = try ProcessSpawner.spawn(
            executable: executable, arguments: WorkerContract.arguments(slot: slot),
            descriptors: workerDescriptors(channel: theirs.raw))
        pool.spawned(slot: slot, pid: pid, now: MonotonicClock.nanoseconds())
        openChannel(slot, ours: ours, theirs: theirs)
        log("worker \(pool.position(slot)) (pid \(pid)) started\(replacingNote(slot))")
    }

    /// The master's side of the channel to the worker in `slot` (spawned, or being forked),
    /// watched from now on.
    func openChannel(_ slot: Int, ours: consuming OwnedFD, theirs: consuming OwnedFD) {
        let channel = Channel(fd: ours, workerEnd: theirs)
        channel.watcher = Watcher(loop: loop, kind: .read(channel.fd.raw), persist: true) { [unowned self] _ in
            self.onChannel(slot)
        }
        channel.watcher.arm()
        // dispatchd.channels: the worker's bus to the others goes first on its channel.
        do {
            let busEnd = try relay.open(slot: slot)
            if ControlMessage.bus.send(on: channel.fd.raw, fds: [busEnd.raw]) != .sent {
                relay.close(slot: slot)
            }
        } catch {
            log("worker \(pool.position(slot)): cannot open its channel bus: \(error)", level: .error)
        }
        channels[slot] = channel
    }

    /// " to replace pid N" for a worker started to replace another, for its log line.
    func replacingNote(_ slot: Int) -> String {
        pool.replacing(slot).flatMap { pool.pid($0) }.map { " to replace pid \($0)" } ?? ""
    }

    /// The descriptors a worker starts with (WorkerContract.Descriptor), as (the master's, the
    /// worker's): its end of the channel, the scoreboard, the configuration and, when the
    /// workers accept themselves (--accept-mode shared), the listening sockets; in single mode
    /// a worker holds no listener.
    func workerDescriptors(channel: CInt) -> [(ours: CInt, theirs: CInt)] {
        var descriptors: [(ours: CInt, theirs: CInt)] = [
            (channel, WorkerContract.Descriptor.channel),
            (scoreboard.memory.fd, WorkerContract.Descriptor.scoreboard),
            (configurationFile.raw, WorkerContract.Descriptor.configuration),
        ]
        if config.workers.acceptMode == .shared {
            for (index, listener) in listeners.enumerated() {
                descriptors.append((listener.fd.raw, WorkerContract.Descriptor.listener(index)))
            }
        }
        return descriptors
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
            switch ControlMessage(rawValue: message.tag) {
            case .ready:
                // A forked worker may say so before its zygote has said its pid.
                if pool.pid(slot) == nil && config.workers.preload {
                    readyBeforeForked.insert(slot)
                } else {
                    workerReady(slot)
                }
            case .recycle:
                if let reason = ControlMessage.recycleReason(message) {
                    replace(slot, because: "\(reason)", kind: reason == .memory ? "memory" : "max-requests")
                }
            case .handBack:
                takeHandedBack(message)
            case .watchFiles:
                watch(ControlMessage.watchedFiles(message) ?? [])
            case .drained:
                execute(pool.drained(slot: slot))
            default:
                for fd in message.descriptors { Posix.close(fd) }
            }
        }
    }

    /// Idle keep-alive connections of a retiring worker: they go to a live worker, which waits
    /// for their next request (the client never sees a close).
    func takeHandedBack(_ message: DescriptorChannel.Message) {
        guard let (listener, peers, _, _) = ControlMessage.decodeConnections(message) else {
            for fd in message.descriptors { Posix.close(fd) }
            return
        }
        let batch = ConnectionBatch(listener: listener, kind: .keptAlive)
        for (fd, peer) in zip(message.descriptors, peers) { batch.append(OwnedFD(fd), peer: peer) }
        if pool.shuttingDown {
            pending.append(batch)
            deliverWhileStopping()
            return
        }
        if pending.isEmpty && deliver(batch, preferred: nil) { return }
        pending.append(batch)
        pause()
    }

    func workerReady(_ slot: Int) {
        log("worker \(pool.position(slot)) (pid \(pool.pid(slot) ?? 0)) ready")
        execute(pool.ready(slot: slot))
        notifyIfAllReady()
        armLifetime(slot)
        if paused { retryHandOff() }
    }

    func reap() {
        while let (pid, status) = Posix.reapChild() {
            guard let slot = pool.slot(ofPid: pid) else {
                reapedOther(pid: pid, status: status)
                continue
            }
            workerExited(pid: pid, slot: slot, status: status)
        }
    }

    func workerExited(pid: Int32, slot: Int, status: CInt) {
        countExit(pid: pid, slot: slot, status: status)
        log("worker \(pool.position(slot)) (pid \(pid)) exited: \(describeExit(pid: pid, status: status))")
        slotTimers[slot] = nil
        if let channel = channels[slot] {
            channel.watcher.disarm()
            takeBack(slot, channel)
        }
        channels[slot] = nil
        relay.close(slot: slot)
        readyBeforeForked.remove(slot)
        execute(
            pool.exited(pid: pid, exitStatus: Posix.exitCode(ofWaitStatus: status), now: MonotonicClock.nanoseconds()))
        if pool.shuttingDown && !pending.isEmpty { deliverWhileStopping() }
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
            guard let kind = ControlMessage(rawValue: message.tag),
                let (listener, peers, acceptedAt, waited) = ControlMessage.decodeConnections(message)
            else {
                for fd in message.descriptors { Posix.close(fd) }
                continue
            }
            let batch = ConnectionBatch(listener: listener, kind: kind, acceptedAt: acceptedAt)
            for (i, (fd, peer)) in zip(message.descriptors, peers).enumerated() {
                batch.append(OwnedFD(fd), peer: peer, waited: waited.isEmpty ? nil : waited[i])
            }
            pending.append(batch)
            count += batch.count
        }
        let position = pool.position(slot)
        if lost > 0 {
            log(
                "worker \(position) left \(lost) connection\(lost == 1 ? "" : "s") that the master could not take back "
                    + "(it is out of descriptors): \(lost == 1 ? "it is" : "they are") lost")
        }
        guard count > 0 else { return }
        log(
            "worker \(position) left \(count) connection\(count == 1 ? "" : "s") it had not taken; handing them to another worker"
        )
        if !pool.shuttingDown { pause() }
    }

    /// --max-worker-lifetime (plus up to its jitter, drawn per worker): then the worker is
    /// replaced like any other.
    func armLifetime(_ slot: Int) {
        let lifetime = config.workers.maxLifetime
        guard lifetime > 0, let pid = pool.pid(slot) else { return }
        let seconds = lifetime + Double.random(in: 0...config.workers.maxLifetimeJitter)
        let timer = Watcher(loop: loop, kind: .timer, persist: false) { [unowned self] _ in
            self.slotTimers[slot] = nil
            if self.pool.pid(slot) == pid {
                self.replace(slot, because: "it has run for --max-worker-lifetime", kind: "lifetime")
            }
        }
        timer.arm(timeout: seconds)
        slotTimers[slot] = timer
    }

    /// The replacement of the worker in `slot` is ready: it hands its idle keep-alive
    /// connections back, finishes its requests (its WebSockets run on up to
    /// --websocket-drain-timeout), runs its stop hooks (up to --worker-stop-timeout) and exits;
    /// one that has not by then is killed.
    func retire(_ slot: Int) {
        guard let pid = pool.pid(slot) else { return }
        log("worker \(pool.position(slot)) (pid \(pid)) retiring")
        if let channel = channels[slot], ControlMessage.retire.send(on: channel.fd.raw) != .sent {
            Posix.kill(pid, Posix.SIGTERM)
        }
        let deadline =
            max(config.workers.gracefulTimeout, config.webSocket.drainTimeout) + config.workers.stopTimeout
            + Self.retireMargin
        let timer = Watcher(loop: loop, kind: .timer, persist: false) { [unowned self] _ in
            self.slotTimers[slot] = nil
            guard self.pool.pid(slot) == pid else { return }
            self.log(
                "worker \(self.pool.position(slot)) (pid \(pid)) still retiring after \(Int(deadline)) s: killed",
                level: .warning)
            Posix.kill(pid, Posix.SIGKILL)
        }
        timer.arm(timeout: deadline)
        slotTimers[slot] = timer
    }

    /// A retiring worker's own deadlines come first (it closes what is left); this is for one
    /// stuck in the application.
    static let retireMargin = 5.0
}
