internal import CDPosix

#if canImport(Glibc)
    internal import Glibc
#endif

/// The epoll calls of --accept-mode shared: listening sockets registered with EPOLLEXCLUSIVE,
/// so that a connection wakes one worker blocked in epoll_wait, not all of them.
public enum Epoll {
    /// A new epoll instance (close-on-exec).
    public static func create() throws(SystemError) -> OwnedFD {
        OwnedFD(try Posix.check("epoll_create1") { CDPosix_epoll_create() })
    }

    /// Watches `fd` for readability on `epoll`, exclusively; epoll_wait reports it as `data`.
    public static func addExclusive(_ epoll: CInt, _ fd: CInt, reportedAs data: CInt) throws(SystemError) {
        _ = try Posix.check("epoll_ctl(EPOLL_CTL_ADD)") { CDPosix_epoll_add_exclusive(epoll, fd, data) }
    }

    /// Stops watching `fd` on `epoll`. A descriptor must be removed before it is closed while
    /// another process holds the same socket: epoll forgets it only when the socket closes.
    public static func remove(_ epoll: CInt, _ fd: CInt) {
        _ = CDPosix_epoll_remove(epoll, fd)
    }

    /// The epoll instances open in this process (their /proc/self/fd links); nil without /proc.
    public static func instances() -> Set<CInt>? {
        guard let dir = opendir("/proc/self/fd") else { return nil }
        defer { closedir(dir) }
        var found: Set<CInt> = []
        var link = [CChar](repeating: 0, count: 64)
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let fd = CInt(name) else { continue }
            let n = readlink("/proc/self/fd/\(name)", &link, link.count - 1)
            guard n > 0 else { continue }
            link[n] = 0
            if Socket.cString(link) == "anon_inode:[eventpoll]" { found.insert(fd) }
        }
        return found
    }
}
