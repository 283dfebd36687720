internal import CDPosix

#if canImport(Glibc)
    internal import Glibc
#endif

/// Sockets: binding listeners, accepting, and naming the ends of a connection.
public enum Socket {
    /// Binds and listens on a TCP address. `host` nil or empty means every IPv4 interface.
    public static func listenTCP(host: String?, port: Int, backlog: Int) throws(SystemError) -> OwnedFD {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_socktype = CInt(SOCK_STREAM.rawValue)
        hints.ai_family = (host == nil || host!.isEmpty) ? AF_INET : AF_UNSPEC
        var result: UnsafeMutablePointer<addrinfo>?
        let h = (host?.isEmpty ?? true) ? nil : host
        let rc = getaddrinfo(h, String(port), &hints, &result)
        guard rc == 0, let info = result else {
            throw SystemError(errno: EINVAL, call: "getaddrinfo(\(host ?? ""))")
        }
        defer { freeaddrinfo(result) }
        let fd = try Posix.check("socket") {
            socket(
                info.pointee.ai_family,
                CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue) | CInt(SOCK_NONBLOCK.rawValue), 0)
        }
        let owned = OwnedFD(fd)
        var one: CInt = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<CInt>.size))
        if info.pointee.ai_family == AF_INET6 {
            setsockopt(fd, CInt(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<CInt>.size))
        }
        // Accepted sockets inherit TCP_NODELAY from the listener (Linux): responses written in
        // pieces (a head, then sendfile) are never held back by Nagle.
        setsockopt(fd, CInt(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<CInt>.size))
        // Wake the acceptor only once the client's first bytes are in: the worker then finds
        // the request waiting and answers it without an event-loop round trip.
        var deferSeconds: CInt = 5
        setsockopt(fd, CInt(IPPROTO_TCP), TCP_DEFER_ACCEPT, &deferSeconds, socklen_t(MemoryLayout<CInt>.size))
        if bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 {
            throw SystemError(errno: errno, call: "bind")
        }
        if Glibc.listen(fd, CInt(backlog)) != 0 { throw SystemError(errno: errno, call: "listen") }
        return owned
    }

    /// Binds and listens on a unix-domain socket, replacing a stale socket file at `path` (one
    /// nobody listens on: a server that died); a live one (a connect succeeds) is an EADDRINUSE.
    public static func listenUnix(path: String, backlog: Int) throws(SystemError) -> OwnedFD {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard bytes.count < capacity else { throw SystemError(errno: ENAMETOOLONG, call: "bind(\(path))") }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        var st = stat()
        if lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK {
            let probe = socket(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
            if probe >= 0 {
                let live = withUnsafePointer(to: &addr) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
                    }
                }
                Glibc.close(probe)
                if live { throw SystemError(errno: EADDRINUSE, call: "bind(\(path)): a server is listening there") }
            }
            unlink(path)
        }
        let fd = try Posix.check("socket") {
            socket(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue) | CInt(SOCK_NONBLOCK.rawValue), 0)
        }
        let owned = OwnedFD(fd)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if rc != 0 { throw SystemError(errno: errno, call: "bind(\(path))") }
        if Glibc.listen(fd, CInt(backlog)) != 0 { throw SystemError(errno: errno, call: "listen") }
        return owned
    }

    public static func unlink(_ path: String) { _ = Glibc.unlink(path) }

    /// chmod, for a unix socket's file.
    public static func setMode(_ path: String, _ mode: Int) throws(SystemError) {
        if chmod(path, mode_t(mode)) != 0 { throw SystemError(errno: errno, call: "chmod(\(path))") }
    }

    /// chown to a user and group given by name or number (nil: unchanged).
    public static func setOwner(_ path: String, user: String?, group: String?) throws(SystemError) {
        var uid = uid_t.max
        var gid = gid_t.max
        if let user {
            guard let found = Posix.user(user) else { throw SystemError(errno: ENOENT, call: "no such user '\(user)'") }
            uid = found.uid
        }
        if let group {
            guard let found = Posix.group(group) else {
                throw SystemError(errno: ENOENT, call: "no such group '\(group)'")
            }
            gid = found
        }
        if chown(path, uid, gid) != 0 { throw SystemError(errno: errno, call: "chown(\(path))") }
    }

    /// Accepts one connection (non-blocking, close-on-exec); nil when none is waiting.
    /// Errors that concern only the one connection (ECONNABORTED, EPROTO...) are skipped.
    public static func accept(_ listener: CInt, peer: inout PeerAddress) throws(SystemError) -> OwnedFD? {
        var storage = sockaddr_storage()
        while true {
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    CDPosix_accept4(listener, $0, &len, CInt(SOCK_CLOEXEC.rawValue) | CInt(SOCK_NONBLOCK.rawValue))
                }
            }
            if fd >= 0 {
                peer = PeerAddress(&storage)
                return OwnedFD(fd)
            }
            switch errno {
            case EINTR, ECONNABORTED, EPROTO, EPERM: continue
            case EAGAIN, EWOULDBLOCK: return nil
            case let e:
                Posix.checkBug(e, "accept4")
                throw SystemError(errno: e, call: "accept4")
            }
        }
    }

    /// An endpoint of a connection, as WSGI's environ names it.
    public struct Endpoint: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var isUnix: Bool
    }

    public static func localEndpoint(_ fd: CInt) -> Endpoint? { endpoint(fd, local: true) }

    /// Milliseconds since an accepted TCP connection last received data, or since it was
    /// established when it has received none (TCP_INFO's `last_data_recv`): how long a request
    /// waited in the listener's backlog, for a connection accepted late. nil for another socket.
    public static func millisecondsSinceData(_ fd: CInt) -> UInt32? {
        var info = tcp_info()
        var size = socklen_t(MemoryLayout<tcp_info>.size)
        guard getsockopt(fd, CInt(IPPROTO_TCP), TCP_INFO, &info, &size) == 0 else { return nil }
        return info.tcpi_last_data_recv
    }

    /// A TCP listener's accept queue: connections the kernel completed that nobody accepted
    /// yet, and the queue's limit (TCP_INFO's `unacked` and `sacked` on a listening socket);
    /// nil for another socket.
    public static func acceptQueue(_ fd: CInt) -> (waiting: Int, limit: Int)? {
        var info = tcp_info()
        var size = socklen_t(MemoryLayout<tcp_info>.size)
        guard getsockopt(fd, CInt(IPPROTO_TCP), TCP_INFO, &info, &size) == 0, info.tcpi_state == 10 else {
            return nil
        }
        return (Int(info.tcpi_unacked), Int(info.tcpi_sacked))
    }

    /// A TCP listener stops completing handshakes (a filter drops every packet); connections
    /// already in its queue stay, to be accepted before it is closed, which would reset them.
    public static func dropNewConnections(_ listener: CInt) {
        _ = CDPosix_drop_new_connections(listener)
    }

    /// A connected socket's peer, as accept() would have reported it (a unix socket's, or one
    /// whose peer is gone: an empty address).
    public static func peerAddress(_ fd: CInt) -> PeerAddress {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &len) }
        }
        return rc == 0 ? PeerAddress(&storage) : PeerAddress()
    }

    static func endpoint(_ fd: CInt, local: Bool) -> Endpoint? {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                local ? getsockname(fd, $0, &len) : getpeername(fd, $0, &len)
            }
        }
        guard rc == 0 else { return nil }
        return describe(&storage)
    }

    static func describe(_ storage: inout sockaddr_storage) -> Endpoint {
        let address = PeerAddress(&storage)
        if address.family != 0 {
            return Endpoint(host: address.host, port: Int(address.port), isUnix: false)
        }
        let path = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_un.self, capacity: 1) { sun in
                withUnsafeBytes(of: sun.pointee.sun_path) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
            }
        }
        return Endpoint(host: path, port: 0, isUnix: true)
    }

    static func cString(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A connected pair of SEQPACKET sockets (close-on-exec): the master's control channel to a worker.
    /// The two descriptors are returned through `body`, which takes ownership of both.
    public static func withSeqpacketPair<R>(
        _ body: (consuming OwnedFD, consuming OwnedFD) throws(SystemError) -> R
    ) throws(SystemError) -> R {
        var fds: [CInt] = [-1, -1]
        _ = try Posix.check("socketpair") {
            socketpair(AF_UNIX, CInt(SOCK_SEQPACKET.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0, &fds)
        }
        return try body(OwnedFD(fds[0]), OwnedFD(fds[1]))
    }

    /// Starts a non-blocking TCP connection to `address` (NameResolver's): the socket, connected
    /// or connecting (watch it for writability, then ask `pendingError`).
    public static func connectTCP(to address: NameResolver.Address) throws(SystemError) -> OwnedFD {
        let family = address.bytes.withUnsafeBytes { $0.load(as: sa_family_t.self) }
        let fd = try OwnedFD(
            Posix.check("socket") {
                socket(
                    CInt(family),
                    CInt(SOCK_STREAM.rawValue) | CInt(SOCK_NONBLOCK.rawValue) | CInt(SOCK_CLOEXEC.rawValue),
                    0)
            })
        var one: CInt = 1
        _ = setsockopt(fd.raw, CInt(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<CInt>.size))
        while true {
            let rc = address.bytes.withUnsafeBytes {
                connect(fd.raw, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count))
            }
            if rc == 0 { break }
            let e = errno
            if e == EINTR { continue }
            if e == EINPROGRESS { break }
            throw SystemError(errno: e, call: "connect")
        }
        return fd
    }

    /// A connecting socket's outcome once it is writable: 0 when connected, else its errno.
    public static func pendingError(_ fd: CInt) -> CInt {
        var error: CInt = 0
        var size = socklen_t(MemoryLayout<CInt>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) == 0 else { return errno }
        return error
    }

    /// A connected pair of non-blocking stream sockets (close-on-exec): the channel bus between
    /// the master and a worker (`BusStream`). Each end may buffer `buffer` bytes in the kernel.
    public static func withStreamPair<R: ~Copyable>(
        buffer: Int, _ body: (consuming OwnedFD, consuming OwnedFD) throws(SystemError) -> R
    ) throws(SystemError) -> R {
        var fds: [CInt] = [-1, -1]
        _ = try Posix.check("socketpair") {
            socketpair(
                AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue) | CInt(SOCK_NONBLOCK.rawValue), 0,
                &fds)
        }
        var size = CInt(buffer)
        for fd in fds {
            _ = setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<CInt>.size))
        }
        return try body(OwnedFD(fds[0]), OwnedFD(fds[1]))
    }

    /// Turns off lingering so that close() after a hard error sends RST at once.
    public static func shutdownWrite(_ fd: CInt) { _ = shutdown(fd, CInt(SHUT_WR)) }

    /// A listening socket a worker inherited from the master (--accept-mode shared): made
    /// close-on-exec, so that the application's child processes do not hold it. Fails when `fd`
    /// is not a listening socket.
    public static func takeSharedListener(_ fd: CInt) throws(SystemError) {
        var listening: CInt = 0
        var size = socklen_t(MemoryLayout<CInt>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) == 0 else {
            throw SystemError(errno: errno, call: "getsockopt(SO_ACCEPTCONN)")
        }
        guard listening != 0 else {
            throw SystemError(errno: EINVAL, call: "listen (descriptor \(fd) is not listening)")
        }
        _ = try Posix.check("fcntl(F_SETFD)") { CDPosix_set_cloexec(fd, 1) }
    }

    /// A listening socket the process was given (systemd's socket activation, at fd 3 on):
    /// moved above the descriptors workers are started with, close-on-exec and non-blocking.
    public static func inheritedListener(_ fd: CInt) throws(SystemError) -> OwnedFD {
        let moved = try Posix.moveAbove(OwnedFD(fd), minimum: 10)
        try Posix.setNonBlocking(moved.raw)
        return moved
    }
}
