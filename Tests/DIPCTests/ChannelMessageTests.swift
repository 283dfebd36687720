import DIPC
import Testing

/// The channel bus's frames (ChannelMessage): encoded, cut out of a stream that arrives in any
/// pieces, decoded; corrupt lengths refused.
@Suite struct ChannelMessageTests {
    static let messages = [
        ChannelMessage(name: Array("room".utf8), binary: false, payload: Array("hello".utf8)),
        ChannelMessage(name: Array("r".utf8), binary: true, payload: []),
        ChannelMessage(
            name: Array(repeating: 0x61, count: ChannelMessage.maxName), binary: true, payload: Array(0..<255)),
        ChannelMessage(name: Array("ü".utf8), binary: false, payload: Array(repeating: 0x78, count: 70_000)),
    ]

    @Test func roundTripInAnyPieces() throws {
        var stream: [UInt8] = []
        for m in Self.messages { m.encode(into: &stream) }
        for piece in [1, 3, 7, 4096, stream.count] {
            var reader = ChannelFrameReader()
            var decoded: [ChannelMessage] = []
            var offset = 0
            while offset < stream.count {
                let end = min(offset + piece, stream.count)
                stream[offset..<end].withUnsafeBytes { reader.append($0) }
                offset = end
                while let frame = try reader.next() { decoded.append(try #require(ChannelMessage(frame: frame))) }
            }
            #expect(decoded == Self.messages, "pieces of \(piece)")
            #expect(reader.buffered == 0)
        }
    }

    @Test func corruptLengthsAndKinds() throws {
        var reader = ChannelFrameReader()
        [UInt8]([0xFF, 0xFF, 0xFF, 0x7F]).withUnsafeBytes { reader.append($0) }
        #expect(throws: ChannelFrameReader.ReadError.badLength(0x7FFF_FFFF)) { try reader.next() }
        var short = ChannelFrameReader()
        [UInt8]([2, 0, 0, 0, 0x50, 0]).withUnsafeBytes { short.append($0) }
        #expect(throws: ChannelFrameReader.ReadError.badLength(2)) { try short.next() }
        // A frame of another kind, or whose name runs past its end, is not a message.
        var frame: [UInt8] = []
        Self.messages[0].encode(into: &frame)
        frame[4] = 0x51
        #expect(ChannelMessage(frame: frame[...]) == nil)
        frame[4] = 0x50
        frame[6] = 200
        #expect(ChannelMessage(frame: frame[...]) == nil)
    }
}
