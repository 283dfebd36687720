/// Bytes read from a stream and not consumed yet: what a reader cuts messages out of (bus frames,
/// Redis replies). Consumed bytes stay until the next append, which drops them: all of them once
/// everything was consumed (keeping up to 1 MiB of capacity), else the consumed part once it is
/// over 64 KiB and over half the buffer, so that appending never copies much for little.
public struct ReadBuffer: Sendable {
    public private(set) var bytes: [UInt8] = []
    /// Where the unconsumed bytes begin.
    public var start = 0

    public init() {}

    public mutating func append(_ more: UnsafeRawBufferPointer) {
        if start > 0 && start == bytes.count {
            bytes.removeAll(keepingCapacity: bytes.capacity <= 1 << 20)
            start = 0
        } else if start > 1 << 16 && start * 2 > bytes.count {
            bytes.removeFirst(start)
            start = 0
        }
        bytes.append(contentsOf: more)
    }

    /// Bytes not consumed yet.
    public var unconsumed: Int { bytes.count - start }
}
