/// Incremental UTF-8 validation (RFC 3629), fed a message in pieces: fails at the first byte
/// that cannot start or continue a valid sequence, so a bad text message is refused as soon as
/// its bad byte arrives, not when its last fragment does.
public struct UTF8Validator: Sendable {
    /// Continuation bytes still expected in the current sequence.
    var pending = 0
    /// Bounds of the next continuation byte (narrower after E0, ED, F0 and F4).
    var low: UInt8 = 0x80
    var high: UInt8 = 0xBF

    public init() {}

    /// False when `bytes` make the text invalid.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> Bool {
        for b in bytes {
            if pending > 0 {
                guard b >= low && b <= high else { return false }
                pending -= 1
                low = 0x80
                high = 0xBF
                continue
            }
            switch b {
            case 0x00...0x7F: continue
            case 0xC2...0xDF: pending = 1
            case 0xE0:
                pending = 2
                low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: pending = 2
            case 0xED:
                pending = 2
                high = 0x9F
            case 0xF0:
                pending = 3
                low = 0x90
            case 0xF1...0xF3: pending = 3
            case 0xF4:
                pending = 3
                high = 0x8F
            default: return false
            }
        }
        return true
    }

    /// Whether the text may end here (no sequence left open).
    public var isComplete: Bool { pending == 0 }

    public static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var v = UTF8Validator()
        return v.feed(bytes) && v.isComplete
    }
}
