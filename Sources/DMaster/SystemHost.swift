public import DConfig
internal import DPosix

/// The machine the master runs on, as building the configuration sees it.
public struct SystemHost: ConfigHost {
    public init() {}
    public func environment(_ name: String) -> String? { Posix.getenv(name) }
    public var processorCount: Int { Posix.numberOfCPUs() }
    public var cpuLimit: Int? { CPUQuota.limit(read: Posix.readSmallFile) }
    public func isDirectory(_ path: String) -> Bool { Posix.isDirectory(path) }
    public func realpath(_ path: String) -> String? { Posix.realpath(path) }
}
