internal import DConfig
internal import DEventLoop
internal import DHTTP1
internal import DIPC
internal import DPosix
internal import DWSGI

/// How a worker leaves: a drain (the server stops), a retirement (a replacement took over), and
/// asking to be replaced (recycling after --max-requests, or past --reload-on-rss).
extension WorkerProcess {
    /// Lets the connections go (`kind`); the worker exits when none is left. A shutdown during a
    /// retirement wins (its connections have nowhere else to go).
    func startDrain(_ kind: HTTP1ConnectionStateMachine.Drain) {
        guard leaving != .shutdown, leaving != kind else { return }
        leaving = kind
        if kind == .shutdown { scoreboard.setDraining(config.slot) }
        // Accepting itself (--accept-mode shared): not one more; its listeners close.
        updateSharedAccept()
        if kind == .handOver { log("retiring: handing idle connections to the new worker, finishing the rest") }
        for connection in Array(connections.values) { connection.drain(kind) }
        stopIfDone()
        if kind == .handOver && leaving == .handOver { armWebSocketDrain() }
    }

    /// A leaving worker with no connection left (once it has read what the master sent it
    /// meanwhile) says so, and exits when the master releases it: during a shutdown the
    /// master hands the workers still draining the connections that come back to it (a
    /// retiring worker's idle ones), and releases them all only once every one has drained.
    func stopIfDone() {
        // A thread may still run the close() of a response whose client left (--threads).
        guard leaving != nil, connections.isEmpty, !readingChannel, (threads?.taken ?? 0) == 0 else { return }
        readChannel()
        guard connections.isEmpty else { return }
        if exit == .running {
            // Refused: the master is gone, nobody is left to release this worker.
            exit = ControlMessage.drained.send(on: WorkerContract.Descriptor.channel) == .sent ? .drained : .released
        }
        if exit == .released { loop.stop() }
    }

    /// A retiring worker's WebSockets run on until they close, or until
    /// --websocket-drain-timeout: then they get 1001 (going away) and the worker can exit.
    func armWebSocketDrain() {
        let timeout = config.server.webSocket.drainTimeout
        let timer = Watcher(loop: loop, kind: .timer, persist: false) { [unowned self] _ in
            for connection in Array(self.connections.values) { connection.drain(.shutdown) }
        }
        timer.arm(timeout: timeout)
        watchers.append(timer)
    }

    /// An idle keep-alive connection of a retiring worker goes to the master, which gives it
    /// to a live worker: the client never sees a close to race with. If the channel cannot take
    /// it now, the connection is answered once more with `Connection: close` instead.
    func handOver(_ connection: Connection) {
        let sent = ControlMessage.sendConnections(
            on: WorkerContract.Descriptor.channel, listener: connection.listener, fds: [connection.fd.raw],
            peers: [Socket.peerAddress(connection.fd.raw)], kind: .handBack)
        guard sent == .sent else {
            connection.drain(.shutdown)
            return
        }
        // The message holds its own reference to the socket: closing ours ends nothing.
        connection.close()
    }

    /// After each HTTP response (WebSocket handshakes do not count): past --max-requests (plus
    /// this worker's share of the jitter), ask to be replaced; this worker serves until then.
    func requestAnswered(status: Int, began: UInt64) {
        requestsAnswered += 1
        scoreboard.recordRequest(config.slot, status: status, nanoseconds: MonotonicClock.nanoseconds() &- began)
        if requestLimit > 0 && requestsAnswered >= requestLimit { askToBeReplaced(.maxRequests) }
    }

    /// Once a second: past --reload-on-rss, ask to be replaced.
    func checkMemory() {
        let limit = config.server.workers.reloadOnRSS
        guard limit > 0, !recycleAsked, let resident = Posix.residentBytes(), resident > limit << 20 else { return }
        log("resident memory \(resident >> 20) MiB is over --reload-on-rss \(limit) MiB")
        askToBeReplaced(.memory)
    }

    func askToBeReplaced(_ reason: ControlMessage.RecycleReason) {
        guard !recycleAsked, leaving == nil else { return }
        recycleAsked = true
        _ = ControlMessage.sendRecycle(on: WorkerContract.Descriptor.channel, reason: reason)
    }

    /// --reload: the master watches the application's source files; they are reported once it is
    /// loaded, and again when it has imported more since (checked once a second).
    func reportNewModules() {
        guard config.server.development.reload else { return }
        let count = runtime.importedModuleCount()
        guard count != reportedModules else { return }
        reportedModules = count
        _ = ControlMessage.sendWatchFiles(on: WorkerContract.Descriptor.channel, paths: runtime.applicationFiles())
    }

    /// --max-requests plus a share of --max-requests-jitter drawn for this worker, so that
    /// workers started together do not all recycle together.
    static func drawRequestLimit(_ limit: Int, jitter: Int) -> Int {
        limit > 0 ? limit + Int.random(in: 0...max(0, jitter)) : 0
    }
}
