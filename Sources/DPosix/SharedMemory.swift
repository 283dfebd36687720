internal import CDPosix

#if canImport(Glibc)
    internal import Glibc
#endif

/// A region of memory shared between the master and its workers (a memfd, mapped by each
/// process), read and written only with atomic 64-bit loads and stores.
public final class SharedMemory: @unchecked Sendable {
    public let fd: CInt
    public let size: Int
    let base: UnsafeMutableRawPointer

    /// Creates a new zeroed region.
    public init(size: Int, name: String) throws(SystemError) {
        let fd = try Posix.check("memfd_create") { CDPosix_memfd_create(name) }
        if ftruncate(fd, off_t(size)) != 0 {
            let e = errno
            Posix.close(fd)
            throw SystemError(errno: e, call: "ftruncate")
        }
        self.fd = fd
        self.size = size
        self.base = try SharedMemory.map(fd, size)
    }

    /// Maps a region created by another process and inherited as `fd`.
    public init(mapping fd: CInt) throws(SystemError) {
        var st = stat()
        if fstat(fd, &st) != 0 { throw SystemError(errno: errno, call: "fstat(scoreboard)") }
        self.fd = fd
        self.size = Int(st.st_size)
        self.base = try SharedMemory.map(fd, size)
    }

    static func map(_ fd: CInt, _ size: Int) throws(SystemError) -> UnsafeMutableRawPointer {
        let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        guard let p, p != MAP_FAILED else { throw SystemError(errno: errno, call: "mmap") }
        return p
    }

    @inline(__always)
    public func load(_ offset: Int) -> UInt64 {
        precondition(offset >= 0 && offset + 8 <= size && offset % 8 == 0)
        return CDPosix_atomic_load_u64(base + offset)
    }

    @inline(__always)
    public func store(_ offset: Int, _ value: UInt64) {
        precondition(offset >= 0 && offset + 8 <= size && offset % 8 == 0)
        CDPosix_atomic_store_u64(base + offset, value)
    }

    @inline(__always)
    @discardableResult
    public func add(_ offset: Int, _ value: UInt64) -> UInt64 {
        precondition(offset >= 0 && offset + 8 <= size && offset % 8 == 0)
        return CDPosix_atomic_add_u64(base + offset, value)
    }

    /// A word of the memory that is only ever added to (a statistic), for code that adds to it
    /// often: adding takes no lookup of the memory's object.
    public struct Counter: @unchecked Sendable {
        let word: UnsafeMutableRawPointer

        @inline(__always)
        public func add(_ n: Int) { CDPosix_atomic_add_u64(word, UInt64(truncatingIfNeeded: n)) }
    }

    /// The counter at `offset`; valid while this memory is mapped.
    public func counter(at offset: Int) -> Counter {
        precondition(offset >= 0 && offset + 8 <= size && offset % 8 == 0)
        return Counter(word: base + offset)
    }

    deinit {
        munmap(base, size)
        Posix.close(fd)
    }
}
