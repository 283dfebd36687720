internal import CDPosix

#if canImport(Glibc)
    internal import Glibc
#endif

/// Starts child processes with posix_spawn, never a fork from the threaded master
/// (Docs/platform-notes.md, "Starting workers").
public enum ProcessSpawner {
    /// Spawns `executable` with `arguments` (argv[1...]). Each entry of `descriptors` maps a
    /// descriptor of ours to a number in the child; every other descriptor is close-on-exec.
    /// The child starts with an empty signal mask and default dispositions, in its own process
    /// group (a terminal's Ctrl-C reaches only the master, which decides what workers do).
    public static func spawn(
        executable: String,
        arguments: [String],
        descriptors: [(ours: CInt, theirs: CInt)]
    ) throws(SystemError) -> CInt {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (ours, theirs) in descriptors {
            // dup2(n, n) would leave close-on-exec set on some libcs; callers keep their
            // descriptors away from the target numbers.
            precondition(ours != theirs, "Internal inconsistency: spawn maps fd \(ours) onto itself")
            posix_spawn_file_actions_adddup2(&actions, ours, theirs)
        }

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGTERM, SIGINT, SIGQUIT, SIGCHLD, SIGHUP, SIGPIPE, SIGUSR1, SIGUSR2] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setpgroup(&attr, 0)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attr, argv, Glibc.environ)
        if rc != 0 { throw SystemError(errno: rc, call: "posix_spawn(\(executable))") }
        return pid
    }
}
