/// An `X-Request-ID` the server makes for a request whose client sent none it could keep: 32
/// lower-case hex digits, as nginx's `$request_id`. A worker draws a random 64-bit prefix once
/// and counts after it, so IDs are unique across workers and restarts without a random draw
/// (or an allocation) per request.
public struct RequestID: Sendable, Equatable {
    public var prefix: UInt64
    public var counter: UInt64

    public init(prefix: UInt64, counter: UInt64) {
        self.prefix = prefix
        self.counter = counter
    }

    public static let length = 32

    /// Writes the 32 ASCII digits at `out` (a byte pair per table lookup: this runs for every
    /// request without an ID of its own).
    public func write(to out: UnsafeMutableRawPointer) {
        Self.hexPairs.withUnsafeBufferPointer { pairs in
            for i in 0..<8 {
                let shift = UInt64(56 - 8 * i)
                let high = pairs[Int((prefix >> shift) & 0xFF)].littleEndian
                let low = pairs[Int((counter >> shift) & 0xFF)].littleEndian
                out.storeBytes(of: high, toByteOffset: 2 * i, as: UInt16.self)
                out.storeBytes(of: low, toByteOffset: 16 + 2 * i, as: UInt16.self)
            }
        }
    }

    /// The two ASCII digits of each byte, as a little-endian UInt16 (the first digit first).
    static let hexPairs: [UInt16] = (0..<256).map { b in
        let digits = Array("0123456789abcdef".utf8)
        return UInt16(digits[b >> 4]) | UInt16(digits[b & 15]) << 8
    }

    /// The 32 digits, for the access log.
    public var bytes: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: Self.length) { buffer, count in
            write(to: buffer.baseAddress!)
            count = Self.length
        }
    }

    public var text: String { String(decoding: bytes, as: UTF8.self) }
}
