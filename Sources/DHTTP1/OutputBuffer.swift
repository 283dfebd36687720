/// Bytes waiting to be written to a connection; responses to pipelined requests are appended
/// in order.
public final class OutputBuffer {
    /// The bytes, read and changed through `bytes`. The connection's loop thread (or the request
    /// thread that runs its request) alone uses them: unchecked. `@exclusivity(unchecked)` does
    /// not reach accesses compiled in another module, so the other modules go through inlinable
    /// accessors, which carry it (a dynamic check on each access cost about 500 instructions a
    /// request; callgrind).
    @exclusivity(unchecked) @usableFromInline var storage: [UInt8] = []

    @inlinable public var bytes: [UInt8] {
        _read { yield storage }
        _modify { yield &storage }
    }

    public init() {
        storage.reserveCapacity(4096)
    }
}
