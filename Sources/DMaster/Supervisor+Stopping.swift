internal import DConfig
internal import DEventLoop
internal import DIPC
internal import DPosix

/// Stopping: a graceful drain (SIGTERM, SIGINT) or an immediate stop (SIGQUIT, a fatal error).
extension Supervisor {
    /// Closes the listeners: from now on connections are refused (a load balancer tries another
    /// server at once instead of waiting on this one), and nothing waits in a backlog that no
    /// one will accept.
    func stopListening() {
        for l in listeners { l.watcher.disarm() }
        listeners.removeAll()
        retryTimer.disarm()
    }

    /// Before a drain: connections the kernel has completed already, and those still pending,
    /// go to any worker with room (a busy one answers them after its current request); those
    /// no worker can take are closed, and counted in the log.
    func handOffBeforeDrain() {
        // New handshakes were stopped (shutdown): what is queued now is all there is to accept,
        // and the close that follows resets nothing (a late SYN is dropped; its retry is
        // refused, which a client or a load balancer takes as "try another server").
        for index in listeners.indices {
            var peer = PeerAddress()
            var batch = ConnectionBatch(listener: index)
            while true {
                let accepted: OwnedFD?
                do { accepted = try Socket.accept(listeners[index].fd.raw, peer: &peer) } catch { break }
                guard let fd = accepted else { break }
                acceptedConnections &+= 1
                batch.append(fd, peer: peer)
                if batch.count == ControlMessage.maxBatch {
                    pending.append(batch)
                    batch = ConnectionBatch(listener: index)
                }
            }
            if batch.count > 0 { pending.append(batch) }
        }
        let dropped = sendPending { slot, batch in pool.isReady(slot) && room(slot) >= batch.count }
        if dropped > 0 {
            log("closed \(dropped) connections that no worker could take before the drain", level: .warning)
        }
    }

    /// Sends each pending batch whole to the first worker `eligible` for it, and closes those
    /// none is; how many connections were closed.
    func sendPending(to eligible: (Int, ConnectionBatch) -> Bool) -> Int {
        var closed = 0
        for batch in pending {
            let slot = (0..<pool.count).first { channels[$0] != nil && eligible($0, batch) }
            if let slot, let channel = channels[slot],
                ControlMessage.sendConnections(
                    on: channel.fd.raw, listener: batch.listener, fds: batch.fds, peers: batch.peers, kind: batch.kind,
                    acceptedAt: batch.acceptedAt, waited: batch.waited(first: batch.count))
                    == .sent
            {
                pool.handedOff(slot: slot, count: batch.count)
            } else {
                closed += batch.count
            }
        }
        pending.removeAll()
        return closed
    }

    /// During the drain, connections that come back to the master (a retiring worker's idle
    /// keep-alive ones, handed over just before it heard of the drain; those a worker left
    /// unread when it crashed) go to a worker still draining, which answers their next request
    /// with `Connection: close`. No worker exits before every one has drained
    /// (`WorkerPool.drained`), so one is there to take them; closed only if none is left.
    func deliverWhileStopping() {
        let closed = sendPending { slot, _ in pool.takesConnectionsWhileStopping(slot) && pool.pid(slot) != nil }
        if closed > 0 { log("closed \(closed) connections that no worker was left to answer", level: .warning) }
    }

    /// SIGTERM, SIGINT: after --shutdown-delay (still accepting, for load balancers that take
    /// that long to stop sending), the drain. A second signal during the delay drains at once.
    func stopGracefully() {
        stopRequested = true
        notifyStopping()
        let delay = config.workers.shutdownDelay
        guard delay > 0, shutdownDelayTimer == nil, !pool.shuttingDown else {
            shutdownDelayTimer = nil
            shutdown()
            return
        }
        log("stopping in \(delay) s: still accepting until then")
        let timer = Watcher(loop: loop, kind: .timer, persist: false) { [unowned self] _ in self.shutdown() }
        timer.arm(timeout: delay)
        shutdownDelayTimer = timer
    }

    /// Stop accepting, let workers finish their requests, exit 0.
    func shutdown() {
        guard !pool.shuttingDown, closingTimer == nil else { return }
        // No new connection from now on; handshakes under way get a moment to complete (they are
        // accepted and handed to workers as usual meanwhile), so the close resets none of them.
        for listener in listeners { Socket.dropNewConnections(listener.fd.raw) }
        let timer = Watcher(loop: loop, kind: .timer, persist: false) { [unowned self] _ in self.drainWorkers() }
        timer.arm(timeout: Self.handshakeSettle)
        closingTimer = timer
    }

    /// How long handshakes under way at a shutdown get to complete: loopback and LAN round
    /// trips, with room.
    static let handshakeSettle = 0.1

    func drainWorkers() {
        guard !pool.shuttingDown else { return }
        log("shutting down: draining workers (up to \(config.workers.gracefulTimeout) s)")
        handOffBeforeDrain()
        stopListening()
        spawnTimers.removeAll()
        slotTimers.removeAll()
        stopZygotes()
        for slot in pool.beginShutdown() {
            scoreboard.setDraining(slot)
            if let channel = channels[slot] {
                if ControlMessage.drain.send(on: channel.fd.raw) != .sent, let pid = pool.pid(slot) {
                    Posix.kill(pid, Posix.SIGTERM)
                }
            }
        }
        if pool.liveWorkers == 0 {
            loop.stop()
            return
        }
        let timer = Watcher(loop: loop, kind: .timer, persist: false) { [unowned self] _ in
            // Workers that have drained go; those still busy are killed.
            self.execute(self.pool.releaseDrained())
            self.log("graceful timeout: killing the remaining workers", level: .warning)
            self.killAll(onlyBusy: true)
            // Released workers run their stop hooks, which end by --worker-stop-timeout; one
            // stuck past it (in C code that holds the GIL) is killed too.
            let backstop = Watcher(loop: self.loop, kind: .timer, persist: false) { [unowned self] _ in
                self.killAll()
            }
            backstop.arm(timeout: self.config.workers.stopTimeout + Self.retireMargin)
            self.backstopTimer = backstop
        }
        timer.arm(timeout: config.workers.gracefulTimeout)
        killTimer = timer
    }

    /// SIGQUIT (or a fatal error): stop at once.
    func quit() {
        stopRequested = true
        notifyStopping()
        stopListening()
        pending.removeAll()
        _ = pool.beginShutdown()
        spawnTimers.removeAll()
        slotTimers.removeAll()
        stopZygotes()
        killAll()
        if pool.liveWorkers == 0 { loop.stop() }
    }

    func killAll(onlyBusy: Bool = false) {
        for slot in 0..<pool.count where !onlyBusy || !pool.isReleased(slot) {
            if let pid = pool.pid(slot) { Posix.kill(pid, Posix.SIGKILL) }
        }
    }
}
