/// A file descriptor owned by exactly one value: closed when the value ends, and handed off
/// by consuming it, so using a descriptor after giving it away is a compile error.
public struct OwnedFD: ~Copyable {
    public let raw: CInt

    public init(_ raw: CInt) {
        precondition(raw >= 0, "Internal inconsistency: OwnedFD of \(raw)")
        self.raw = raw
    }

    /// Gives up ownership without closing; the caller now owns the number.
    public consuming func release() -> CInt {
        let fd = raw
        discard self
        return fd
    }

    deinit { Posix.close(raw) }
}
