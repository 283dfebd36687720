/// A message of `dispatchd.channels` on the bus between a worker and the master (and between
/// the master and the Redis bridge): the channel's name, whether it is binary, and the payload.
///
/// On the bus (a stream socket) each message is a frame: the length of the rest (4 bytes,
/// little-endian), a kind byte, a flags byte (bit 0: binary), the name's length (2 bytes,
/// little-endian), the name (UTF-8) and the payload. The master forwards frames as they are;
/// only the workers and the Redis bridge decode them.
public struct ChannelMessage: Sendable, Equatable {
    public var name: [UInt8]
    public var binary: Bool
    public var payload: [UInt8]

    public init(name: [UInt8], binary: Bool, payload: [UInt8]) {
        self.name = name
        self.binary = binary
        self.payload = payload
    }

    /// The frame's kind byte ("P": a publish).
    static let publishKind: UInt8 = 0x50
    /// Length, kind, flags, name length.
    public static let headerSize = 8
    /// The longest channel name, in bytes.
    public static let maxName = 1024
    /// The largest frame the bus carries (a larger one means a corrupt stream).
    public static let maxFrame = 256 << 20

    /// Appends the frame of a message to `out`, without building the message first.
    public static func encode(
        name: UnsafeRawBufferPointer, binary: Bool, payload: UnsafeRawBufferPointer, into out: inout [UInt8]
    ) {
        precondition(name.count <= maxName, "Internal inconsistency: channel name of \(name.count) bytes")
        let rest = UInt32(headerSize - 4 + name.count + payload.count)
        out.reserveCapacity(out.count + 4 + Int(rest))
        withUnsafeBytes(of: rest.littleEndian) { out.append(contentsOf: $0) }
        out.append(publishKind)
        out.append(binary ? 1 : 0)
        withUnsafeBytes(of: UInt16(name.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: name)
        out.append(contentsOf: payload)
    }

    public func encode(into out: inout [UInt8]) {
        name.withUnsafeBytes { n in
            payload.withUnsafeBytes { Self.encode(name: n, binary: binary, payload: $0, into: &out) }
        }
    }

    /// The message of one whole frame (as `ChannelFrameReader` returns it); nil for a malformed one.
    public init?(frame: ArraySlice<UInt8>) {
        guard frame.count >= Self.headerSize else { return nil }
        let s = frame.startIndex
        guard frame[s + 4] == Self.publishKind else { return nil }
        let nameCount = Int(frame[s + 6]) | Int(frame[s + 7]) << 8
        guard nameCount <= Self.maxName, frame.count >= Self.headerSize + nameCount else { return nil }
        name = Array(frame[(s + Self.headerSize)..<(s + Self.headerSize + nameCount)])
        binary = frame[s + 5] & 1 != 0
        payload = Array(frame[(s + Self.headerSize + nameCount)...])
    }
}

/// Cuts the bytes read from a bus stream into whole frames.
public struct ChannelFrameReader: Sendable {
    var input = ReadBuffer()

    public init() {}

    public enum ReadError: Error, Equatable {
        /// A frame claims a length no frame has: the stream is corrupt.
        case badLength(Int)
    }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) { input.append(bytes) }

    /// The next whole frame (its length prefix included), or nil until more bytes arrive.
    public mutating func next() throws(ReadError) -> ArraySlice<UInt8>? {
        let buffer = input.bytes
        let start = input.start
        guard buffer.count - start >= 4 else { return nil }
        let rest =
            Int(buffer[start]) | Int(buffer[start + 1]) << 8 | Int(buffer[start + 2]) << 16 | Int(buffer[start + 3])
            << 24
        guard rest >= ChannelMessage.headerSize - 4, rest <= ChannelMessage.maxFrame else { throw .badLength(rest) }
        guard buffer.count - start >= 4 + rest else { return nil }
        input.start = start + 4 + rest
        return buffer[start..<(start + 4 + rest)]
    }

    /// Bytes held that are not a whole frame yet.
    public var buffered: Int { input.unconsumed }
}
