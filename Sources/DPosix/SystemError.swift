internal import CDPosix

#if canImport(Glibc)
    internal import Glibc
#endif

/// A system call failed for a reason of the environment (not our bug).
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public let errno: CInt
    public let call: String

    public init(errno: CInt, call: String) {
        self.errno = errno
        self.call = call
    }

    public var isPermissionDenied: Bool { errno == EACCES }

    public var description: String {
        "\(call): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}
