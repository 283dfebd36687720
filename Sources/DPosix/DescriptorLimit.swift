#if canImport(Glibc)
    internal import Glibc
#endif

/// The process's limit on open descriptors (RLIMIT_NOFILE), and how many are open. Every
/// connection costs a worker one descriptor, so this limit, not memory, is usually what caps the
/// connections a worker can hold.
public enum DescriptorLimit {
    /// The soft limit (what the kernel enforces) and the hard limit (how far an unprivileged
    /// process may raise it).
    public struct Values: Equatable, Sendable {
        public var soft: Int
        public var hard: Int
    }

    /// What raising the soft limit did.
    public enum Raise: Sendable {
        /// The soft limit was below the hard limit and now equals it.
        case raised(from: Int, to: Int)
        /// The soft limit already was the hard limit.
        case alreadyHard(Int)
        /// setrlimit refused; the limit is still `soft`.
        case failed(soft: Int, hard: Int, SystemError)
    }

    public static func current() -> Values {
        var rl = rlimit()
        // getrlimit cannot fail for a valid resource and a valid pointer.
        _ = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &rl)
        return Values(soft: clamp(rl.rlim_cur), hard: clamp(rl.rlim_max))
    }

    /// Raises the soft limit to the hard limit, as nginx (worker_rlimit_nofile) and Go's runtime
    /// do: many systems still start services with a soft limit of 1,024 under a far higher hard
    /// one, and a worker holding idle keep-alive connections or WebSockets reaches 1,024 long
    /// before anything else runs out. Child processes inherit the raised limit.
    public static func raiseToHard() -> Raise {
        var rl = rlimit()
        _ = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &rl)
        let before = clamp(rl.rlim_cur)
        guard rl.rlim_cur < rl.rlim_max else { return .alreadyHard(before) }
        rl.rlim_cur = rl.rlim_max
        if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &rl) != 0 {
            return .failed(
                soft: before, hard: clamp(rl.rlim_max), SystemError(errno: errno, call: "setrlimit(RLIMIT_NOFILE)"))
        }
        return .raised(from: before, to: clamp(rl.rlim_max))
    }

    /// How many descriptors this process has open, read from /proc/self/fd: nil when it cannot
    /// be read (no /proc; or no descriptor left to open the directory with, which means every
    /// number below the soft limit is taken). It lists every open descriptor: for rare checks,
    /// not for every connection.
    public static func countOpen() -> Int? {
        guard let dir = opendir("/proc/self/fd") else { return nil }
        var count = 0
        while let entry = readdir(dir) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { $0[0] == UInt8(ascii: ".") }
            if !isDot { count += 1 }
        }
        closedir(dir)
        // The directory's own descriptor was listed too.
        return count - 1
    }

    /// RLIM_INFINITY (which Linux never allows for RLIMIT_NOFILE, capped by fs.nr_open) as Int.max.
    static func clamp(_ value: rlim_t) -> Int { value > rlim_t(Int.max) ? Int.max : Int(value) }
}
