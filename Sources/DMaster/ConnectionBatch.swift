internal import DIPC
internal import DPosix

/// Connections accepted together and not yet handed to a worker. Owns the descriptors: they
/// are closed when the batch goes, which after a hand-off closes only the master's copies.
final class ConnectionBatch {
    let listener: Int
    /// `.connections` for accepted ones; `.keptAlive` for idle keep-alive connections a
    /// retiring worker handed back.
    let kind: ControlMessage
    private(set) var fds: [CInt] = []
    private(set) var peers: [PeerAddress] = []

    init(listener: Int, kind: ControlMessage = .connections) {
        self.listener = listener
        self.kind = kind
        fds.reserveCapacity(16)
        peers.reserveCapacity(16)
    }

    func append(_ fd: consuming OwnedFD, peer: PeerAddress) {
        fds.append(fd.release())
        peers.append(peer)
    }

    var count: Int { fds.count }

    /// Closes the master's copies of the first `n` connections, once they are handed off.
    func removeFirst(_ n: Int) {
        for fd in fds.prefix(n) { Posix.close(fd) }
        fds.removeFirst(n)
        peers.removeFirst(n)
    }

    deinit { for fd in fds { Posix.close(fd) } }
}
