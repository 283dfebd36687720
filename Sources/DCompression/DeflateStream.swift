internal import CDZlib

/// A raw DEFLATE compressor from zlib for WebSocket permessage-deflate (RFC 7692). A
/// connection whose server side keeps its context has one of its own, and each message may refer
/// back to the earlier ones; the worker's shared ones (`RawDeflate`) are reset before each
/// message. Released with the object.
public final class DeflateStream {
    let stream: UnsafeMutablePointer<z_stream>
    /// What zlib has allocated for the stream, in bytes (counted by the shim's allocator).
    let allocated: UnsafeMutablePointer<Int>

    /// `windowBits`: 9 to 15 (zlib's raw deflate has no 8); `memLevel`: 1 to 9.
    public init(windowBits: Int, memLevel: Int = 8) {
        precondition((9...15).contains(windowBits) && (1...9).contains(memLevel), "deflate parameters out of range")
        allocated = .allocate(capacity: 1)
        allocated.initialize(to: 0)
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        precondition(
            CDZlib_deflateInit(stream, Int32(windowBits), Int32(memLevel), allocated) == Z_OK, "zlib deflateInit failed"
        )
    }

    deinit {
        deflateEnd(stream)
        stream.deallocate()
        allocated.deallocate()
    }

    /// Bytes zlib holds for this stream.
    public var allocatedBytes: Int { allocated.pointee }

    /// Forgets the earlier messages: the next starts from an empty window.
    public func reset() { deflateReset(stream) }

    /// Compresses one message (RFC 7692 7.2.1: a sync flush, without the final 00 00 FF FF).
    public func compress(_ input: UnsafeRawBufferPointer) -> [UInt8] {
        var out: [UInt8] = []
        stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(input.count)
        // Room for all of it at once, but for the bits a sync flush adds; more if it is not.
        var room = Int(deflateBound(stream, uLong(input.count))) + 16
        repeat {
            let start = out.count
            out.append(contentsOf: repeatElement(0, count: room))
            out.withUnsafeMutableBufferPointer { buf in
                stream.pointee.next_out = buf.baseAddress! + start
                stream.pointee.avail_out = uInt(room)
                _ = deflate(stream, Z_SYNC_FLUSH)
            }
            out.removeLast(Int(stream.pointee.avail_out))
            room = max(room, 4096)
        } while stream.pointee.avail_out == 0
        if out.count >= 4 && out.suffix(4) == [0x00, 0x00, 0xFF, 0xFF] { out.removeLast(4) }
        return out
    }
}
