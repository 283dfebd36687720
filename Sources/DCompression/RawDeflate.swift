internal import CDZlib

/// Raw DEFLATE streams from zlib for WebSocket permessage-deflate (RFC 7692). Messages are
/// independent (no context takeover), so one compressor per window size and one decompressor
/// serve every connection of a worker: each message starts from a reset stream.
public final class RawDeflate {
    var deflaters: [Int: UnsafeMutablePointer<z_stream>] = [:]
    let inflater: UnsafeMutablePointer<z_stream>
    var scratch = [UInt8](repeating: 0, count: 64 * 1024)

    public enum InflateError: Error, Equatable {
        case tooLarge
        case invalid
    }

    public init() {
        inflater = .allocate(capacity: 1)
        inflater.initialize(to: z_stream())
        precondition(CDZlib_inflateInit(inflater) == Z_OK, "zlib inflateInit failed")
    }

    deinit {
        inflateEnd(inflater)
        inflater.deallocate()
        for (_, d) in deflaters {
            deflateEnd(d)
            d.deallocate()
        }
    }

    func deflater(windowBits: Int) -> UnsafeMutablePointer<z_stream> {
        if let d = deflaters[windowBits] { return d }
        let d = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        d.initialize(to: z_stream())
        precondition(CDZlib_deflateInit(d, Int32(windowBits)) == Z_OK, "zlib deflateInit failed")
        deflaters[windowBits] = d
        return d
    }

    /// Compresses one message (RFC 7692 7.2.1: sync flush, without the final 00 00 FF FF).
    public func compress(_ input: UnsafeRawBufferPointer, windowBits: Int) -> [UInt8] {
        let d = deflater(windowBits: windowBits)
        deflateReset(d)
        var out: [UInt8] = []
        out.reserveCapacity(input.count / 2 + 64)
        d.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        d.pointee.avail_in = uInt(input.count)
        repeat {
            scratch.withUnsafeMutableBufferPointer { buf in
                d.pointee.next_out = buf.baseAddress
                d.pointee.avail_out = uInt(buf.count)
                _ = deflate(d, Z_SYNC_FLUSH)
                out.append(contentsOf: buf[0..<(buf.count - Int(d.pointee.avail_out))])
            }
        } while d.pointee.avail_out == 0
        if out.count >= 4 && out.suffix(4) == [0x00, 0x00, 0xFF, 0xFF] { out.removeLast(4) }
        return out
    }

    /// Decompresses one message (its frames' payloads joined), up to `limit` bytes.
    public func decompress(_ input: [UInt8], limit: Int) throws(InflateError) -> [UInt8] {
        inflateReset(inflater)
        var data = input
        data += [0x00, 0x00, 0xFF, 0xFF]
        var out: [UInt8] = []
        var failure: InflateError? = nil
        data.withUnsafeMutableBufferPointer { inBuf in
            inflater.pointee.next_in = inBuf.baseAddress
            inflater.pointee.avail_in = uInt(inBuf.count)
            while failure == nil {
                let status = scratch.withUnsafeMutableBufferPointer { buf -> Int32 in
                    inflater.pointee.next_out = buf.baseAddress
                    inflater.pointee.avail_out = uInt(buf.count)
                    let r = inflate(inflater, Z_SYNC_FLUSH)
                    out.append(contentsOf: buf[0..<(buf.count - Int(inflater.pointee.avail_out))])
                    return r
                }
                if out.count > limit {
                    failure = .tooLarge
                    break
                }
                if status == Z_STREAM_END { break }
                if status != Z_OK && status != Z_BUF_ERROR {
                    failure = .invalid
                    break
                }
                if inflater.pointee.avail_in == 0 && inflater.pointee.avail_out != 0 { break }
                if status == Z_BUF_ERROR && inflater.pointee.avail_out != 0 { break }
            }
        }
        if let failure { throw failure }
        return out
    }
}
