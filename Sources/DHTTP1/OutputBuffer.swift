/// Bytes waiting to be written to a connection; responses to pipelined requests are appended
/// in order.
public final class OutputBuffer {
    @exclusivity(unchecked) public var bytes: [UInt8] = []

    public init() {
        bytes.reserveCapacity(4096)
    }
}
