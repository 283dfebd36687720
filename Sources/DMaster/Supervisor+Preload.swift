internal import DConfig
internal import DEventLoop
internal import DIPC
internal import DPosix

/// --preload: a zygote process imports the application once and forks every worker, which the
/// master then supervises as it does a spawned one (the master is a subreaper: a forked worker
/// is its child). A worker the pool starts is asked of the newest zygote; a reload starts a new
/// zygote (the new code), and an older one exits once it has answered what was asked of it.
extension Supervisor {
    final class Zygote {
        let pid: Int32
        let channel: OwnedFD
        var watcher: Watcher! = nil
        /// It has imported the application.
        var ready = false
        let startedAt: UInt64
        /// Slots whose fork it was asked for and has not answered.
        var asked: Set<Int> = []
        /// Slots waiting for it to be ready, in order.
        var queued: [Int] = []
        /// A newer one has taken over: its channel is closed, which ends it.
        var retired = false
        init(pid: Int32, channel: consuming OwnedFD, startedAt: UInt64) {
            self.pid = pid
            self.channel = channel
            self.startedAt = startedAt
        }
    }

    /// The worker for `slot` is to start: the newest zygote forks it (one is started when there
    /// is none). Its channel exists from now on, as a spawned worker's does.
    func requestFork(_ slot: Int) {
        if zygotes.isEmpty { startZygote() }
        guard let zygote = zygotes.last else {
            // No zygote could start: the slot fails as a worker that could not start does.
            execute(pool.failedToStart(slot: slot, exitStatus: nil, now: MonotonicClock.nanoseconds()))
            return
        }
        if zygote.ready { askFork(slot, of: zygote) } else { zygote.queued.append(slot) }
    }

    /// Starts a zygote, which becomes the newest (a reload's: forks asked for and waiting for
    /// the previous newest wait for this one instead).
    func startZygote() {
        let zygote: Zygote
        do {
            zygote = try Socket.withSeqpacketPair { (ours, theirs) throws(SystemError) in
                let theirs = try Posix.moveAbove(theirs, minimum: 10)
                let pid = try ProcessSpawner.spawn(
                    executable: executable, arguments: WorkerContract.zygoteArguments,
                    descriptors: workerDescriptors(channel: theirs.raw))
                return Zygote(pid: pid, channel: ours, startedAt: MonotonicClock.nanoseconds())
            }
        } catch {
            log("--preload: cannot start the zygote: \(error)", level: .error)
            return
        }
        zygote.watcher = Watcher(loop: loop, kind: .read(zygote.channel.raw), persist: true) {
            [unowned self, unowned zygote] _ in
            self.onZygoteChannel(zygote)
        }
        zygote.watcher.arm()
        if let previous = zygotes.last, !previous.ready {
            zygote.queued = previous.queued
            previous.queued = []
        }
        zygotes.append(zygote)
        log("--preload: importing the application in a zygote (pid \(zygote.pid))")
    }

    /// Sends the fork for `slot`, with the worker's end of its new channel.
    func askFork(_ slot: Int, of zygote: Zygote) {
        do {
            try Socket.withSeqpacketPair { (ours, theirs) throws(SystemError) in
                switch ZygoteMessage.fork(slot: slot).send(on: zygote.channel.raw, fds: [theirs.raw]) {
                case .sent:
                    break
                case .peerGone:
                    // It is exiting: its exit fails what waits for it.
                    zygote.queued.append(slot)
                    return
                case .wouldBlock:
                    // Its channel is full: asked again after a while, as a failed spawn is.
                    log("cannot start worker \(pool.position(slot)): the zygote's channel is full", level: .error)
                    scheduleSpawn(slot, delay: 1_000_000_000)
                    return
                }
                zygote.asked.insert(slot)
                scoreboard.reset(slot)
                openChannel(slot, ours: ours, theirs: theirs)
            }
        } catch {
            log("cannot start worker \(pool.position(slot)): \(error)", level: .error)
            scheduleSpawn(slot, delay: 1_000_000_000)
        }
    }

    func onZygoteChannel(_ zygote: Zygote) {
        defer { retireOlderZygotes() }
        while true {
            let message: DescriptorChannel.Message
            switch try? DescriptorChannel.receive(zygote.channel.raw) {
            case .message(let m)?:
                message = m
            case .closed?, nil:
                zygote.watcher.disarm()  // it is gone or going; SIGCHLD follows
                return
            case .wouldBlock?:
                return
            }
            for fd in message.descriptors { Posix.close(fd) }
            switch ZygoteMessage(payload: message.payload) {
            case .ready?:
                zygote.ready = true
                let ms = (MonotonicClock.nanoseconds() - zygote.startedAt) / 1_000_000
                log("--preload: the application is imported (zygote pid \(zygote.pid), \(ms) ms)")
                let queued = zygote.queued
                zygote.queued = []
                for slot in queued { askFork(slot, of: zygote) }
            case .forked(let slot, let pid)?:
                zygote.asked.remove(slot)
                forked(slot, pid: pid)
            case .forkFailed(let slot, let errno)?:
                zygote.asked.remove(slot)
                dropChannel(slot)
                log(
                    "cannot start worker \(pool.position(slot)): the zygote's fork failed: \(SystemError(errno: errno, call: "fork"))",
                    level: .error)
                scheduleSpawn(slot, delay: 1_000_000_000)
            case .fork?, nil:
                log("--preload: unexpected message from the zygote (pid \(zygote.pid))", level: .error)
            }
        }
    }

    /// The zygote forked the worker for `slot`: from here on it is supervised as a spawned one.
    func forked(_ slot: Int, pid: Int32) {
        guard channels[slot] != nil, !pool.shuttingDown else {
            // The server is stopping: the worker has nothing to do (its channel is closed, or
            // about to be, which makes it exit too).
            Posix.kill(pid, Posix.SIGTERM)
            return
        }
        pool.spawned(slot: slot, pid: pid, now: MonotonicClock.nanoseconds())
        log(
            "worker \(pool.position(slot)) (pid \(pid)) started, forked from the preloaded application\(replacingNote(slot))"
        )
        if readyBeforeForked.remove(slot) != nil { workerReady(slot) }
        if let status = unclaimedExits.removeValue(forKey: pid) { workerExited(pid: pid, slot: slot, status: status) }
    }

    /// A reaped process that is not a worker the pool knows (with --preload): a zygote, or a
    /// forked worker whose pid its zygote has not said yet (kept for then). Without --preload,
    /// an orphan the master reaps as subreaper: nothing to do.
    func reapedOther(pid: Int32, status: CInt) {
        guard config.workers.preload else { return }
        guard let index = zygotes.firstIndex(where: { $0.pid == pid }) else {
            if unclaimedExits.count < 1024 { unclaimedExits[pid] = status }
            return
        }
        let zygote = zygotes.remove(at: index)
        zygote.watcher.disarm()
        let exitCode = Posix.exitCode(ofWaitStatus: status)
        let waiting = Array(zygote.asked) + zygote.queued
        if !zygote.retired {
            log("--preload: the zygote (pid \(zygote.pid)) exited: \(Posix.describeWaitStatus(status))")
        }
        // What waited for it fails as workers that exited while starting (the application
        // cannot load: the server stops at its first start; a reload is abandoned).
        for slot in waiting {
            dropChannel(slot)
            readyBeforeForked.remove(slot)
            execute(pool.failedToStart(slot: slot, exitStatus: exitCode, now: MonotonicClock.nanoseconds()))
        }
    }

    /// The zygotes before the newest, once the newest is ready and they have answered every fork
    /// asked of them: closing the channel ends one.
    func retireOlderZygotes() {
        guard let newest = zygotes.last, newest.ready else { return }
        for zygote in zygotes.dropLast() where !zygote.retired && zygote.asked.isEmpty && zygote.queued.isEmpty {
            zygote.retired = true
            zygote.watcher.disarm()
            Socket.shutdownWrite(zygote.channel.raw)
        }
    }

    /// The server stops: the zygotes end (a fork still under way finds its worker's channel
    /// closed, and that worker exits).
    func stopZygotes() {
        for zygote in zygotes {
            zygote.retired = true
            zygote.watcher.disarm()
            for slot in Array(zygote.asked) + zygote.queued { dropChannel(slot) }
            zygote.asked = []
            zygote.queued = []
            Posix.kill(zygote.pid, Posix.SIGTERM)
        }
    }

    func dropChannel(_ slot: Int) {
        channels[slot]?.watcher.disarm()
        channels[slot] = nil
    }
}
