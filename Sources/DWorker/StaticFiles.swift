internal import DConfig
internal import DHTTP1
internal import DPosix
internal import DStatic

/// A file open for serving, with what its responses need; shared by concurrent responses
/// (sendfile takes explicit offsets) and closed when the cache and the last response drop it.
final class OpenFile {
    /// Files open in this worker (the cache holds up to 4,096 for a second): each holds a
    /// descriptor, counted against the worker's limit.
    nonisolated(unsafe) static var open = 0

    let fd: OwnedFD
    let info: Posix.FileInfo
    let etag: String
    let lastModified: String
    /// The whole file, when it is small: sent from memory in the same write as the head.
    let body: [UInt8]?
    static let inMemoryLimit = 32 * 1024

    init(fd: consuming OwnedFD, info: Posix.FileInfo) {
        self.info = info
        etag = StaticResponse.etag(size: info.size, mtimeNanoseconds: info.mtimeNanoseconds, inode: info.inode)
        lastModified = HTTPDate.format(info.mtimeSeconds)
        var body: [UInt8]? = nil
        if info.size <= Self.inMemoryLimit {
            var bytes = [UInt8](repeating: 0, count: info.size)
            let n = bytes.withUnsafeMutableBytes { (try? Posix.pread(fd.raw, $0, at: 0)) ?? -1 }
            if n == info.size { body = bytes }
        }
        self.body = body
        self.fd = fd
        Self.open += 1
    }

    deinit { Self.open -= 1 }
}

/// The worker's static files: maps request paths to files under the mapped directories
/// (refusing anything that would leave them), and caches open files and their metadata for a
/// second, so a busy file costs no system calls per request.
final class StaticFiles {
    let config: ServerConfiguration.Statics
    /// Each map's directory, resolved (symlinks followed), for the containment check.
    let roots: [String]
    enum Lookup {
        case file(OpenFile)
        case directory
        case missing
        case forbidden
    }
    var cache: [String: (lookup: Lookup, until: UInt64)] = [:]
    static let cacheNanoseconds: UInt64 = 1_000_000_000
    static let cacheLimit = 4096

    init(config: ServerConfiguration.Statics) {
        self.config = config
        roots = config.maps.map { Posix.realpath($0.directory) ?? $0.directory }
    }

    /// The map whose prefix the path is under (the longest).
    func map(for path: UnsafeRawBufferPointer) -> Int? {
        var best: Int? = nil
        for (i, m) in config.maps.enumerated() {
            let p = m.prefix.utf8
            guard path.count >= p.count, zip(path, p).allSatisfy({ $0 == $1 }) else { continue }
            if path.count > p.count && path[p.count] != UInt8(ascii: "/") && m.prefix != "/" { continue }
            if best == nil || config.maps[best!].prefix.utf8.count < p.count { best = i }
        }
        return best
    }

    /// Looks a file up under map `index` (cached).
    func lookup(map index: Int, relative: String, now: UInt64) -> Lookup {
        let full = relative.isEmpty ? roots[index] : roots[index] + "/" + relative
        if let hit = cache[full], hit.until > now { return hit.lookup }
        let result = resolve(full, root: roots[index])
        if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
        cache[full] = (result, now + Self.cacheNanoseconds)
        return result
    }

    func resolve(_ full: String, root: String) -> Lookup {
        if !config.followSymlinks {
            // Whatever the path names (after symlinks) must be inside the directory.
            guard let real = Posix.realpath(full) else { return .missing }
            guard real == root || real.hasPrefix(root == "/" ? "/" : root + "/") else { return .forbidden }
        }
        let fd: OwnedFD
        do { fd = try Posix.openReadOnly(full) } catch {
            return error.isPermissionDenied ? .forbidden : .missing
        }
        guard let info = try? Posix.fstat(fd.raw) else { return .missing }
        if info.isDirectory { return .directory }
        guard info.isRegular else { return .forbidden }
        return .file(OpenFile(fd: fd, info: info))
    }
}
