#if canImport(Glibc)
    internal import Glibc
#endif

/// Tells when files change, with inotify. It watches each file's directory rather than the file:
/// editors save by writing a new file and renaming it over the old one, which a watch on the old
/// file would miss (it watches an inode that is gone).
public final class FileWatcher {
    public let fd: OwnedFD
    /// Watched directories by watch descriptor.
    var directories: [CInt: String] = [:]
    /// The files of interest, by directory.
    var files: [String: Set<String>] = [:]

    public init() throws(SystemError) {
        fd = OwnedFD(try Posix.check("inotify_init1") { inotify_init1(CInt(IN_NONBLOCK | IN_CLOEXEC)) })
    }

    /// Starts watching `path` (absolute); false when it was watched already or its directory
    /// cannot be watched.
    @discardableResult
    public func watch(_ path: String) -> Bool {
        guard let slash = path.lastIndex(of: "/") else { return false }
        let directory = slash == path.startIndex ? "/" : String(path[..<slash])
        let name = String(path[path.index(after: slash)...])
        if files[directory] == nil {
            let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE)
            let wd = inotify_add_watch(fd.raw, directory, mask)
            guard wd >= 0 else { return false }
            directories[wd] = directory
            files[directory] = []
        }
        return files[directory]!.insert(name).inserted
    }

    /// How many files are watched.
    public var count: Int { files.values.reduce(0) { $0 + $1.count } }

    /// The watched files that changed since the last call (read without blocking).
    public func changes() -> [String] {
        var changed: [String] = []
        let size = 64 * 1024
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd.raw, buffer, size)
            guard n > 0 else { break }
            var offset = 0
            while offset + MemoryLayout<inotify_event>.size <= n {
                let event = (buffer + offset).load(as: inotify_event.self)
                let nameStart = buffer + offset + MemoryLayout<inotify_event>.size
                if event.len > 0, let directory = directories[event.wd] {
                    let name = String(cString: nameStart.assumingMemoryBound(to: CChar.self))
                    if files[directory]?.contains(name) == true {
                        changed.append(directory == "/" ? "/" + name : directory + "/" + name)
                    }
                }
                offset += MemoryLayout<inotify_event>.size + Int(event.len)
            }
        }
        return changed
    }
}
