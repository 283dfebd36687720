internal import DConfig
internal import DEventLoop
internal import DIPC
internal import DPosix

/// --accept-mode shared: the worker accepts from the listening sockets it inherited
/// (SharedAcceptor) while it has room by the same rules the master's acceptor follows in
/// single mode (SharedAcceptGate), and stops watching them when it has none: connections then
/// wait in the kernel's backlog, where any other worker takes them, and where a worker that is
/// killed loses none of them.
extension WorkerProcess {
    /// The worker's loop; when it accepts itself, also the epoll instance libevent opened for
    /// the loop (the one that appeared while it was made), nil when there is none.
    static func makeLoop(shared: Bool) -> (EventLoop, CInt?) {
        guard shared else { return (EventLoop(), nil) }
        let before = Epoll.instances()
        let loop = EventLoop()
        guard loop.backend == "epoll", let before, let after = Epoll.instances() else { return (loop, nil) }
        let opened = after.subtracting(before)
        return (loop, opened.count == 1 ? opened.first : nil)
    }

    /// Before the application loads: the inherited listeners, made close-on-exec (its child
    /// processes must not hold them). nil in single mode (a worker holds no listener).
    static func takeSharedListeners(_ server: ServerConfiguration) throws(SystemError) -> [CInt]? {
        guard server.workers.acceptMode == .shared else { return nil }
        var fds: [CInt] = []
        for index in server.listeners.binds.indices {
            let fd = WorkerContract.Descriptor.listener(index)
            try Socket.takeSharedListener(fd)
            fds.append(fd)
        }
        return fds
    }

    /// Sets up the watching, which starts once the descriptor budget gives room.
    func startSharedAccept(_ listeners: [CInt]) throws(SystemError) {
        let acceptor = SharedAcceptor(listeners: listeners, own: try Epoll.create(), loopEpoll: loopEpoll)
        acceptor.watcher = Watcher(loop: loop, kind: .read(acceptor.own.raw), persist: true) { [unowned self] _ in
            self.acceptShared()
        }
        acceptor.retry = Watcher(loop: loop, kind: .timer, persist: false) { [unowned self] _ in
            self.updateSharedAccept()
        }
        acceptor.watcher.arm()
        if !acceptor.isExclusive {
            log(
                "libevent does not wait on epoll here (\(loop.backend)): every idle worker wakes for each connection",
                level: .warning)
        }
        sharedAcceptor = acceptor
    }

    func sharedAcceptDecision() -> SharedAcceptGate.Decision {
        SharedAcceptGate.decide(
            leaving: leaving != nil || drainRequested, room: budget.room(held: heldDescriptors),
            threadFree: threads == nil || scoreboard.busySince(config.slot) == 0)
    }

    /// Watches the listeners while the worker may accept, and not while it may not; closes them
    /// once it leaves. Called whenever its room may have changed (publishAdmissionLimit).
    func updateSharedAccept() {
        guard let acceptor = sharedAcceptor, !acceptor.closed else { return }
        let decision = sharedAcceptDecision()
        if decision == .stop {
            acceptor.close()
            return
        }
        // After a failed accept, the retry timer says when to try again.
        if acceptor.failures > 0 && acceptor.retry.isArmed { return }
        let accepting: Bool
        if case .accept = decision { accepting = true } else { accepting = false }
        do {
            try acceptor.watch(accepting)
        } catch {
            log("cannot watch the listening sockets: \(error); retrying", level: .error)
            acceptor.retry.arm(timeout: Self.acceptRetryInterval)
            return
        }
        // No event says when a request thread frees: look again shortly, as the master does.
        if decision == .waitForThread && !acceptor.retry.isArmed { acceptor.retry.arm(timeout: 0.001) }
    }

    /// A listener is readable: accepts one connection, when the worker has room, and serves it
    /// as one the master would have handed over. One a wake-up: while more wait, epoll reports
    /// the listener again at the loop's next wait (level-triggered), so no accept4 is spent
    /// finding the backlog empty, and the worker's other connections get their turn between
    /// accepts. A single-threaded worker runs the request before it accepts again.
    func acceptShared() {
        guard let acceptor = sharedAcceptor, !acceptor.closed, acceptor.watching else { return }
        defer { updateSharedAccept() }
        guard case .accept = sharedAcceptDecision() else { return }
        var peer = PeerAddress()
        // The wake-up does not say which listener is readable: each is tried once, in turn.
        for _ in acceptor.listeners.indices {
            let index = acceptor.next
            acceptor.next = (index + 1) % acceptor.listeners.count
            let fd: OwnedFD?
            do {
                fd = try Socket.accept(acceptor.listeners[index], peer: &peer)
            } catch {
                sharedAcceptFailed(acceptor, error)
                return
            }
            guard let fd else { continue }
            if acceptor.failures > 0 { sharedAcceptRecovered(acceptor) }
            scoreboard.addAccepted(config.slot, 1)
            // The time it waited in the backlog, since its request arrived (TCP listeners;
            // millisecond resolution): the part of dispatchd_queue_seconds there is here.
            if let ms = Socket.millisecondsSinceData(fd.raw) {
                scoreboard.recordQueued(config.slot, count: 1, nanoseconds: UInt64(ms) * 1_000_000)
            }
            accept(fd, listener: index, peer: peer, keptAlive: false)
            return
        }
    }

    /// EMFILE, ENFILE, ENOBUFS: the connection stays in the backlog (for another worker).
    /// Back off instead of spinning, as the master's acceptor does.
    func sharedAcceptFailed(_ acceptor: SharedAcceptor, _ error: SystemError) {
        if acceptor.failures == 0 {
            log(
                "accept failed: \(error); connections wait in the backlog, retrying every \(Self.acceptRetryInterval) s"
            )
        }
        acceptor.failures += 1
        try? acceptor.watch(false)
        acceptor.retry.arm(timeout: Self.acceptRetryInterval)
    }

    func sharedAcceptRecovered(_ acceptor: SharedAcceptor) {
        log("accepting again after \(acceptor.failures) failed attempt\(acceptor.failures == 1 ? "" : "s")")
        acceptor.failures = 0
    }

    /// nginx waits 500 ms; Go backs off up to 1 s; the master's acceptor waits this long.
    static let acceptRetryInterval = 0.1
}
