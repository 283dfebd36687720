/// What building a configuration needs from the machine: defaults that depend on it and the
/// checks of paths. The master passes the real one; tests pass a made-up machine.
public protocol ConfigHost {
    /// An environment variable, or nil when it is not set.
    func environment(_ name: String) -> String?
    var processorCount: Int { get }
    /// The CPUs the process's cgroups allow (`CPUQuota`), nil when they do not limit them.
    var cpuLimit: Int? { get }
    func isDirectory(_ path: String) -> Bool
    /// The canonical absolute path (symlinks resolved), or nil when it does not exist.
    func realpath(_ path: String) -> String?
}

extension ConfigHost {
    public var cpuLimit: Int? { nil }
}
