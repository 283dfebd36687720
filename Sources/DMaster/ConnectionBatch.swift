internal import DIPC
internal import DPosix

/// Connections accepted together and not yet handed to a worker. Owns the descriptors: they
/// are closed when the batch goes, which after a hand-off closes only the master's copies.
final class ConnectionBatch {
    private(set) var listener: Int
    /// `.connections` for accepted ones; `.keptAlive` for idle keep-alive connections a
    /// retiring worker handed back.
    let kind: ControlMessage
    /// The monotonic clock when the master accepted them (0 for kept-alive ones), which the
    /// worker that takes them subtracts from its own for the queue-time histogram.
    private(set) var acceptedAt: UInt64
    private(set) var fds: [CInt] = []
    private(set) var peers: [PeerAddress] = []
    /// Per connection, the milliseconds it had waited in the backlog before the accept, when
    /// measured (the master had paused accepting); empty otherwise.
    private(set) var waited: [UInt32] = []

    init(listener: Int, kind: ControlMessage = .connections, acceptedAt: UInt64 = 0) {
        self.listener = listener
        self.kind = kind
        self.acceptedAt = acceptedAt
        fds.reserveCapacity(16)
        peers.reserveCapacity(16)
    }

    /// `waited`: the backlog wait, nil when not measured (every connection of a batch is
    /// measured, or none).
    func append(_ fd: consuming OwnedFD, peer: PeerAddress, waited ms: UInt32? = nil) {
        fds.append(fd.release())
        peers.append(peer)
        if let ms { waited.append(ms) }
    }

    /// The first `n` connections' waits (for a partial hand-off).
    func waited(first n: Int) -> [UInt32] { waited.isEmpty ? [] : Array(waited.prefix(n)) }

    var count: Int { fds.count }

    /// An empty batch of accepted connections again (the acceptor reuses one object and its
    /// arrays rather than allocating them for every connection).
    func reuse(listener: Int, acceptedAt: UInt64) {
        precondition(fds.isEmpty && kind == .connections, "Internal inconsistency: reusing a batch in use")
        self.listener = listener
        self.acceptedAt = acceptedAt
    }

    /// Closes the master's copies of every connection (they were handed off whole).
    func clear() { removeFirst(fds.count) }

    /// Closes the master's copies of the first `n` connections, once they are handed off.
    func removeFirst(_ n: Int) {
        for fd in fds.prefix(n) { Posix.close(fd) }
        fds.removeFirst(n)
        peers.removeFirst(n)
        if !waited.isEmpty { waited.removeFirst(n) }
    }

    deinit { for fd in fds { Posix.close(fd) } }
}
