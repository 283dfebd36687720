internal import DConfig
internal import DEventLoop
internal import DIPC
internal import DPosix

/// The acceptor: accepted connections go straight to a worker with room, in batches, never
/// blocking on a worker; when none has room, accepting pauses and connections wait in the
/// kernel's backlog.
extension Supervisor {
    func nextWorker() -> Int? {
        pool.nextWorker(
            received: scoreboard.received, admissionLimit: scoreboard.admissionLimit, busySince: scoreboard.busySince,
            now: MonotonicClock.nanoseconds(), held: scoreboard.held)
    }

    func room(_ slot: Int) -> Int {
        pool.room(slot: slot, received: scoreboard.received(slot), admissionLimit: scoreboard.admissionLimit(slot))
    }

    /// Hands a batch to workers with room, `preferred` first: all of it to one worker that has
    /// room for it, else as much as each can take (a worker short of descriptors may have room
    /// for fewer than a batch, for good); false when some is left that none can take now.
    func deliver(_ batch: ConnectionBatch, preferred: Int?) -> Bool {
        var tried = TriedSlots()
        var candidate = preferred ?? nextWorker()
        while let slot = candidate, tried.insert(slot) {
            let n = min(room(slot), batch.count)
            if let channel = channels[slot], n > 0 {
                let whole = n == batch.count
                let fds = whole ? batch.fds : Array(batch.fds.prefix(n))
                let peers = whole ? batch.peers : Array(batch.peers.prefix(n))
                switch ControlMessage.sendConnections(
                    on: channel.fd.raw, listener: batch.listener, fds: fds, peers: peers, kind: batch.kind,
                    acceptedAt: batch.acceptedAt, waited: batch.waited(first: n), payload: &handOffPayload)
                {
                case .sent:
                    pool.handedOff(slot: slot, count: n)
                    if whole { return true }  // the batch's copies close with it; the worker has its own
                    batch.removeFirst(n)
                case .wouldBlock:
                    break  // full for now: another worker, or later
                case .peerGone:
                    pool.channelFailed(slot: slot)  // it is exiting; SIGCHLD follows
                }
            } else if channels[slot] == nil {
                pool.channelFailed(slot: slot)
            }
            candidate = nextWorker()
        }
        return false
    }

    /// Accepts what is waiting (up to 128 a wake-up), each connection handed to the next worker
    /// with room in a message of its own. One connection a message: a worker takes one message
    /// at a time off its channel and serves it before the next, so the connections it has not
    /// begun stay in the channel, where the master takes them back if the worker dies; several in
    /// one message would die with it. Accepting starts only when some worker has room (otherwise
    /// connections wait in the backlog); the worker for each later one is chosen as it is handed
    /// off, so an empty backlog costs one accept and no choice.
    func acceptConnections(_ index: Int) {
        guard !paused, !pool.shuttingDown else { return }
        var preferred: Int? = nextWorker()
        guard preferred != nil else {
            pause()
            return
        }
        var peer = PeerAddress()
        for _ in 0..<128 {
            let accepted: OwnedFD?
            do {
                accepted = try Socket.accept(listeners[index].fd.raw, peer: &peer)
            } catch {
                // EMFILE, ENFILE, ENOBUFS: the connection stays in the backlog. Back off
                // instead of spinning.
                acceptFailed(error)
                pause(for: Supervisor.acceptRetryInterval)
                return
            }
            if acceptFailures > 0 { acceptRecovered() }
            guard let fd = accepted else {
                backlogged = false  // the backlog is empty: later connections wait in it no longer
                return
            }
            // After a pause, connections waited in the backlog: how long is the kernel's
            // (one getsockopt each, only then).
            let waited = backlogged ? Socket.millisecondsSinceData(fd.raw) ?? 0 : nil
            let batch = freshBatch(listener: index)
            batch.append(fd, peer: peer, waited: waited)
            acceptedConnections &+= 1
            if !deliver(batch, preferred: preferred) {
                pending.append(batch)
                pause()
                return
            }
            batch.clear()
            spareBatch = batch
            preferred = nil
        }
    }

    /// The batch for the next accepts: the spare one, emptied after its last hand-off, or a new one.
    func freshBatch(listener: Int) -> ConnectionBatch {
        let now = MonotonicClock.nanoseconds()
        guard let spare = spareBatch else { return ConnectionBatch(listener: listener, acceptedAt: now) }
        spareBatch = nil
        spare.reuse(listener: listener, acceptedAt: now)
        return spare
    }

    func pause(for interval: Double = Supervisor.retryInterval) {
        if !paused {
            paused = true
            backlogged = true
            for l in listeners { l.watcher.disarm() }
        }
        retryTimer.arm(timeout: interval)
    }

    func acceptFailed(_ error: SystemError) {
        if acceptFailures == 0 {
            acceptFailingSince = MonotonicClock.nanoseconds()
            log(
                "accept failed: \(error); connections wait in the backlog, retrying every \(Supervisor.acceptRetryInterval) s"
            )
        }
        acceptFailures += 1
    }

    func acceptRecovered() {
        let seconds = Double(MonotonicClock.nanoseconds() - acceptFailingSince) / 1e9
        log(
            "accepting again after \(acceptFailures) failed attempt\(acceptFailures == 1 ? "" : "s") in \((seconds * 10).rounded() / 10) s"
        )
        acceptFailures = 0
    }

    func retryHandOff() {
        guard !pool.shuttingDown else { return }
        while let batch = pending.first {
            guard deliver(batch, preferred: nil) else {
                retryTimer.arm(timeout: Supervisor.retryInterval)
                return
            }
            pending.removeFirst()
        }
        guard
            pool.candidate(
                received: scoreboard.received, admissionLimit: scoreboard.admissionLimit,
                busySince: scoreboard.busySince,
                now: MonotonicClock.nanoseconds(), held: scoreboard.held) != nil
        else {
            retryTimer.arm(timeout: Supervisor.retryInterval)
            return
        }
        paused = false
        armListeners()
    }

    /// The master accepts in single mode only; with --accept-mode shared the workers do, and
    /// the master's listeners stay unwatched (it still holds them: for new workers, the
    /// backlog's gauge, and the last accepts before a drain).
    func armListeners() {
        guard config.workers.acceptMode == .single else { return }
        for l in listeners { l.watcher.arm() }
    }
}
