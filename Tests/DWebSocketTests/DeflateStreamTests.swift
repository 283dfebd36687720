import DCompression
import DWebSocket
import Testing

@Suite struct DeflateStreamTests {
    /// The shared streams: each message alone, with any window; a bomb stops at the limit, data
    /// that is not DEFLATE fails.
    @Test func sharedRoundTripAndLimits() throws {
        let z = RawDeflate()
        let text = Array(String(repeating: "the quick brown fox ", count: 500).utf8)
        for bits in [9, 12, 15] {
            for _ in 0..<2 {
                let c = text.withUnsafeBytes { z.compress($0, windowBits: bits) }
                #expect(c.count < text.count / 10)
                #expect(try z.decompress(c, limit: 1 << 20) == text)
            }
        }
        let bomb = [UInt8](repeating: 0, count: 5_000_000).withUnsafeBytes { z.compress($0, windowBits: 15) }
        #expect(throws: RawDeflate.InflateError.tooLarge) { try z.decompress(bomb, limit: 1 << 20) }
        #expect(throws: RawDeflate.InflateError.tooLarge) { try z.decompress(bomb, limit: 4095) }
        #expect(throws: RawDeflate.InflateError.invalid) { try z.decompress([0xFF, 0xFF, 0xFF, 0xFF], limit: 1 << 20) }
        // Exactly at the limit passes.
        #expect(try z.decompress(text.withUnsafeBytes { z.compress($0, windowBits: 15) }, limit: text.count) == text)
        // A compressed message through the session: RSV1 on the first frame only.
        var s = WebSocketSession(maxMessage: 100, compression: true)
        #expect(feed(&s, [[0xC1, 0x80, 0, 0, 0, 0]]) == [.compressedMessage(binary: false, payload: [])])
        #expect(
            s.checkDecompressed(binary: false, payload: [0xC0]).first
                == .send(.close, WebSocketFrame.closePayload(code: 1007, reason: "invalid UTF-8 in a text message")))
    }

    /// Context takeover: a message repeated is sent as a reference to the first, which a
    /// decompressor that kept its window reads and one reset for each message cannot.
    @Test func takeoverRefersToEarlierMessages() throws {
        let message = Array(#"{"type":"message","room":"general","user":"alice","text":"see you at noon"}"#.utf8)
        let sender = DeflateStream(windowBits: 12, memLevel: 5)
        let first = message.withUnsafeBytes { sender.compress($0) }
        let second = message.withUnsafeBytes { sender.compress($0) }
        #expect(second.count < first.count / 4, "\(first.count) then \(second.count)")
        let receiver = InflateStream(windowBits: 12)
        #expect(try receiver.decompress(first, limit: 1000) == message)
        #expect(try receiver.decompress(second, limit: 1000) == message)
        let shared = RawDeflate()
        #expect(try shared.decompress(first, limit: 1000) == message)
        #expect(throws: RawDeflate.InflateError.invalid) { try shared.decompress(second, limit: 1000) }
        // Reset: the next message stands alone again.
        sender.reset()
        let third = message.withUnsafeBytes { sender.compress($0) }
        #expect(third == first)
        #expect(try shared.decompress(third, limit: 1000) == message)
    }

    /// A message that ends its DEFLATE stream (a stored block with BFINAL set): the next message
    /// starts a new stream that may still refer to it.
    @Test func finalBlockKeepsTheWindow() throws {
        let message = Array("hello, hello, a message said twice over".utf8)
        let n = UInt16(message.count)
        let stored: [UInt8] = [0x01, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8(~n >> 8)] + message
        let sender = DeflateStream(windowBits: 15)
        _ = message.withUnsafeBytes { sender.compress($0) }
        let reference = message.withUnsafeBytes { sender.compress($0) }
        let receiver = InflateStream(windowBits: 15)
        #expect(try receiver.decompress(stored, limit: 1000) == message)
        #expect(try receiver.decompress(reference, limit: 1000) == message)
        #expect(try receiver.decompress(reference, limit: 1000) == message)
    }
}
