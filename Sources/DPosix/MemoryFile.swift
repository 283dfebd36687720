internal import CDPosix

#if canImport(Glibc)
    internal import Glibc
#endif

/// A file in memory (a memfd) that holds bytes for child processes: created once, inherited by
/// each child at a known descriptor number, and read there with pread, since every child
/// shares one file offset.
public enum MemoryFile {
    /// A new close-on-exec memfd holding `contents`.
    public static func create(name: String, contents: [UInt8]) throws(SystemError) -> OwnedFD {
        let fd = OwnedFD(try Posix.check("memfd_create") { CDPosix_memfd_create(name) })
        // withUnsafeBytes does not pass a typed error through.
        let written = contents.withUnsafeBytes { bytes in
            Result { () throws(SystemError) in try Posix.writeFile(fd.raw, bytes) }
        }
        try written.get()
        return fd
    }

    /// The whole of the file open as `fd`.
    public static func contents(of fd: CInt) throws(SystemError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: try Posix.fstat(fd).size)
        var offset = 0
        while offset < bytes.count {
            let n = try bytes.withUnsafeMutableBytes { buffer in
                Result { () throws(SystemError) in
                    try Posix.pread(fd, UnsafeMutableRawBufferPointer(rebasing: buffer[offset...]), at: offset)
                }
            }.get()
            if n == 0 { throw SystemError(errno: EIO, call: "pread (the file is shorter than its size)") }
            offset += n
        }
        return bytes
    }
}
