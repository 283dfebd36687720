internal import CDPosix

#if canImport(Glibc)
    internal import Glibc
#endif

/// An eventfd that another thread makes readable to wake an event loop: `signal` from any
/// thread, `consume` on the loop when it reads readable.
public final class WakeUp: @unchecked Sendable {
    public let fd: OwnedFD

    public init() throws(SystemError) {
        let raw = CDPosix_eventfd()
        guard raw >= 0 else { throw SystemError(errno: errno, call: "eventfd") }
        fd = OwnedFD(raw)
    }

    /// Makes the descriptor readable (more signals before a `consume` add up to one wake-up).
    public func signal() {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { Glibc.write(fd.raw, $0.baseAddress, 8) }
    }

    /// Makes it unreadable again.
    public func consume() {
        var count: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &count) { Glibc.read(fd.raw, $0.baseAddress, 8) }
    }
}
