/// The worker's shared streams for the permessage-deflate connections that keep no context
/// (RFC 7692 no context takeover): each message starts from a reset stream, so one compressor
/// per window size and one decompressor serve them all.
public final class RawDeflate {
    public typealias InflateError = InflateStream.InflateError

    var deflaters: [Int: DeflateStream] = [:]
    /// 15 bits: reads a message made with any window.
    let inflater = InflateStream(windowBits: 15)

    public init() {}

    /// Compresses one message alone (RFC 7692 7.2.1).
    public func compress(_ input: UnsafeRawBufferPointer, windowBits: Int) -> [UInt8] {
        let d: DeflateStream
        if let existing = deflaters[windowBits] {
            d = existing
            d.reset()
        } else {
            d = DeflateStream(windowBits: windowBits)
            deflaters[windowBits] = d
        }
        return d.compress(input)
    }

    /// Decompresses one message alone (its frames' payloads joined), up to `limit` bytes.
    public func decompress(_ input: [UInt8], limit: Int) throws(InflateError) -> [UInt8] {
        inflater.reset()
        return try inflater.decompress(input, limit: limit)
    }
}
