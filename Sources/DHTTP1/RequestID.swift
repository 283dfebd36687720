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

    /// Calls `body` with the 32 ASCII bytes.
    public func withText<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeTemporaryAllocation(byteCount: Self.length, alignment: 8) { raw in
            let hex: StaticString = "0123456789abcdef"
            let digits = hex.utf8Start
            for i in 0..<16 {
                let shift = UInt64(60 - 4 * i)
                raw[i] = digits[Int((prefix >> shift) & 15)]
                raw[16 + i] = digits[Int((counter >> shift) & 15)]
            }
            return body(UnsafeRawBufferPointer(raw))
        }
    }

    public var text: String { withText { String(decoding: $0, as: UTF8.self) } }
}
