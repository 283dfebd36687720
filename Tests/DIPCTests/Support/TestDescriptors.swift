import CDPosix
import Testing

@testable import DPosix

#if canImport(Glibc)
    import Glibc
#endif

/// Real descriptors and addresses for the hand-off tests: a control channel, connections to
/// pass over it, and peers built from socket addresses the way accept() reports them.
enum TestDescriptors {
    /// A SEQPACKET control channel, as the master makes for each worker.
    final class Channel {
        private(set) var master: CInt
        private(set) var worker: CInt

        init() throws {
            (master, worker) = try Socket.withSeqpacketPair { a, b in (a.release(), b.release()) }
        }

        func closeMaster() {
            close(master)
            master = -1
        }

        func closeWorker() {
            close(worker)
            worker = -1
        }

        deinit {
            if master >= 0 { close(master) }
            if worker >= 0 { close(worker) }
        }
    }

    /// A connected stream socket pair standing for one client connection: `sent` is the end
    /// handed over the channel, `kept` the end the test reads. Neither end is close-on-exec,
    /// so that the flag on a received descriptor can only come from the receive.
    struct Connection {
        let sent: CInt
        let kept: CInt

        init() throws {
            var fds: [CInt] = [-1, -1]
            guard socketpair(AF_UNIX, CInt(SOCK_STREAM.rawValue), 0, &fds) == 0 else {
                throw SystemError(errno: errno, call: "socketpair")
            }
            sent = fds[0]
            kept = fds[1]
        }

        func close() {
            Glibc.close(sent)
            Glibc.close(kept)
        }
    }

    static func isCloseOnExec(_ fd: CInt) -> Bool {
        let flags = fcntl(fd, F_GETFD)
        return flags >= 0 && flags & FD_CLOEXEC != 0
    }

    static func isOpen(_ fd: CInt) -> Bool { fcntl(fd, F_GETFD) >= 0 }

    /// True when `received` is the socket `original` refers to: the same inode, and bytes
    /// written into `received` come out of `peerOfOriginal`.
    static func isSameSocket(_ received: CInt, as original: CInt, peerOfOriginal: CInt, probe: String) -> Bool {
        var a = stat()
        var b = stat()
        guard fstat(received, &a) == 0, fstat(original, &b) == 0, a.st_ino == b.st_ino, a.st_dev == b.st_dev else {
            return false
        }
        let bytes = Array(probe.utf8)
        guard write(received, bytes, bytes.count) == bytes.count else { return false }
        var buffer = [UInt8](repeating: 0, count: bytes.count + 16)
        let n = recv(peerOfOriginal, &buffer, buffer.count, CInt(MSG_DONTWAIT))
        return n == bytes.count && Array(buffer.prefix(n)) == bytes
    }

    static func ipv4(_ text: String, port: UInt16) -> PeerAddress {
        var storage = sockaddr_storage()
        withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                sin.pointee.sin_family = sa_family_t(AF_INET)
                sin.pointee.sin_port = port.bigEndian
                precondition(inet_pton(AF_INET, text, &sin.pointee.sin_addr) == 1)
            }
        }
        return PeerAddress(&storage)
    }

    static func ipv6(_ text: String, port: UInt16) -> PeerAddress {
        var storage = sockaddr_storage()
        withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin in
                sin.pointee.sin6_family = sa_family_t(AF_INET6)
                sin.pointee.sin6_port = port.bigEndian
                precondition(inet_pton(AF_INET6, text, &sin.pointee.sin6_addr) == 1)
            }
        }
        return PeerAddress(&storage)
    }

    /// A unix-socket client: accept() reports no address worth passing.
    static func unix() -> PeerAddress {
        var storage = sockaddr_storage()
        storage.ss_family = sa_family_t(AF_UNIX)
        return PeerAddress(&storage)
    }
}
