/// Bytes waiting to be written to a connection; responses to pipelined requests are appended
/// in order. No memory until a request reserves it (`reserveForResponse`); an idle WebSocket
/// gives it back (`release`).
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

    /// What a request reserves: kept from request to request on a keep-alive connection.
    public static let responseCapacity = 4096

    public init() {}

    /// Makes room for a response, once per connection (a response's head and small body then
    /// take no reallocation).
    @inlinable public func reserveForResponse() {
        if storage.capacity < Self.responseCapacity { storage.reserveCapacity(Self.responseCapacity) }
    }

    /// Gives the memory back (nothing may be unsent): the next append allocates what it needs.
    public func release() {
        storage = []
    }
}
