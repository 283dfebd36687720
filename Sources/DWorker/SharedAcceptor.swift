internal import DEventLoop
internal import DPosix

/// --accept-mode shared: the listening sockets a worker inherited from the master, and how its
/// loop watches them. They are registered with EPOLLEXCLUSIVE on the epoll instance libevent
/// waits on, so that a connection wakes one worker blocked there: an idle one (a worker inside
/// a request is not waiting, and the kernel passes it over). libevent 2.1 has no EV_EXCLUSIVE,
/// so the registration is made beside it, reported as the descriptor of an epoll instance of
/// the worker's own that the loop watches and that is never readable by itself. Where libevent
/// does not wait on epoll, the listeners go into that instance instead: exclusivity is then
/// lost (a nested epoll wakes every worker that waits), not correctness.
final class SharedAcceptor {
    /// The inherited listening sockets, by listener index.
    let listeners: [CInt]
    /// The worker's own epoll instance: the descriptor the loop watches.
    let own: OwnedFD
    /// Where the listeners are registered: libevent's epoll instance, or `own`.
    let target: CInt
    var watcher: Watcher! = nil
    /// Checks again shortly while every request thread is busy, or after a failed accept.
    var retry: Watcher! = nil
    private(set) var watching = false
    private(set) var closed = false
    /// The listener whose backlog the next wake-up tries first (they take turns).
    var next = 0
    /// Accept failures in a row (EMFILE, ENFILE), logged when they start and when they end.
    var failures = 0

    init(listeners: [CInt], own: consuming OwnedFD, loopEpoll: CInt?) {
        self.listeners = listeners
        self.own = own
        target = loopEpoll ?? self.own.raw
    }

    /// Whether the loop was found waiting on epoll: only then is one worker woken per
    /// connection.
    var isExclusive: Bool { target != own.raw }

    /// Registers the listeners (`on`) or removes them; nothing when they already are as asked.
    func watch(_ on: Bool) throws(SystemError) {
        guard !closed, on != watching else { return }
        if on {
            for (i, fd) in listeners.enumerated() {
                do {
                    try Epoll.addExclusive(target, fd, reportedAs: own.raw)
                } catch {
                    for added in listeners.prefix(i) { Epoll.remove(target, added) }
                    throw error
                }
            }
        } else {
            for fd in listeners { Epoll.remove(target, fd) }
        }
        watching = on
    }

    /// For good (the worker leaves): the listeners are removed from the epoll instance first
    /// (the master and the other workers keep the sockets open, so epoll would not forget them
    /// at the close), then this worker's copies are closed.
    func close() {
        guard !closed else { return }
        try? watch(false)
        for fd in listeners { Posix.close(fd) }
        closed = true
        watcher.disarm()
        retry.disarm()
    }
}
