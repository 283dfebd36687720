internal import CDZlib

/// A raw DEFLATE decompressor from zlib for WebSocket permessage-deflate (RFC 7692). A
/// connection whose client keeps its context has one of its own, which keeps the window of the
/// earlier messages; the worker's shared one (`RawDeflate`) is reset before each message.
/// Released with the object.
public final class InflateStream {
    public enum InflateError: Error, Equatable {
        case tooLarge
        case invalid
    }

    let stream: UnsafeMutablePointer<z_stream>
    let allocated: UnsafeMutablePointer<Int>
    let windowBits: Int
    /// The last message ended its DEFLATE stream (a block with BFINAL set, RFC 7692 7.2.3.4):
    /// the next one starts a new stream, which may still refer to the window.
    var ended = false

    /// `windowBits`: 8 to 15, the largest window the sender's messages may refer back through.
    public init(windowBits: Int) {
        precondition((8...15).contains(windowBits), "inflate window out of range")
        self.windowBits = windowBits
        allocated = .allocate(capacity: 1)
        allocated.initialize(to: 0)
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        precondition(CDZlib_inflateInit(stream, Int32(windowBits), allocated) == Z_OK, "zlib inflateInit failed")
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
        allocated.deallocate()
    }

    /// Bytes zlib holds for this stream (its window is allocated at the first message).
    public var allocatedBytes: Int { allocated.pointee }

    /// Forgets the earlier messages.
    public func reset() {
        inflateReset(stream)
        ended = false
    }

    /// Starts a new DEFLATE stream with the window of the one that ended.
    func restart() {
        var window = [UInt8](repeating: 0, count: 1 << windowBits)
        var length: uInt = 0
        inflateGetDictionary(stream, &window, &length)
        inflateReset(stream)
        if length > 0 { inflateSetDictionary(stream, window, length) }
        ended = false
    }

    /// Decompresses one message (its frames' payloads joined), up to `limit` bytes.
    public func decompress(_ input: [UInt8], limit: Int) throws(InflateError) -> [UInt8] {
        if ended { restart() }
        var data = input
        data += [0x00, 0x00, 0xFF, 0xFF]
        var out: [UInt8] = []
        var failure: InflateError? = nil
        // Output grows a piece at a time, never past one byte over the limit.
        var room = min(max(4096, input.count * 4), limit + 1)
        data.withUnsafeMutableBufferPointer { inBuf in
            stream.pointee.next_in = inBuf.baseAddress
            stream.pointee.avail_in = uInt(inBuf.count)
            while true {
                let start = out.count
                out.append(contentsOf: repeatElement(0, count: room))
                let status = out.withUnsafeMutableBufferPointer { buf -> Int32 in
                    stream.pointee.next_out = buf.baseAddress! + start
                    stream.pointee.avail_out = uInt(room)
                    return inflate(stream, Z_SYNC_FLUSH)
                }
                out.removeLast(Int(stream.pointee.avail_out))
                if out.count > limit {
                    failure = .tooLarge
                    break
                }
                if status == Z_STREAM_END {
                    ended = true
                    break
                }
                if status != Z_OK && status != Z_BUF_ERROR {
                    failure = .invalid
                    break
                }
                // Room left over: the input is used up, or zlib can go no further with it.
                if stream.pointee.avail_out != 0 { break }
                room = min(room * 2, limit + 1 - out.count)
            }
        }
        if let failure { throw failure }
        return out
    }
}
