import Foundation
import Testing

/// A raw WebSocket client for the tests: sends any frame (masked or not, any bits), reads the
/// server's frames, so protocol rules can be checked byte by byte.
final class WSClient {
    let raw: RawClient
    let handshake: HTTPResponse

    struct Frame: Equatable {
        var fin: Bool
        var opcode: UInt8
        var payload: [UInt8]
        var text: String { String(decoding: payload, as: UTF8.self) }
        /// A close frame's code (1005 when it has none).
        var closeCode: Int { payload.count >= 2 ? Int(payload[0]) << 8 | Int(payload[1]) : 1005 }
    }

    static let key = "dGhlIHNhbXBsZSBub25jZQ=="

    init(port: Int, path: String, headers: String = "") throws {
        raw = try RawClient(port: port)
        try raw.send("GET \(path) HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: \(Self.key)\r\nSec-WebSocket-Version: 13\r\n\(headers)\r\n")
        handshake = try raw.readResponse(head: true)
    }

    func send(_ opcode: UInt8, _ payload: [UInt8], fin: Bool = true, rsv: UInt8 = 0, masked: Bool = true) throws {
        var out: [UInt8] = [(fin ? 0x80 : 0) | rsv | opcode]
        let m: UInt8 = masked ? 0x80 : 0
        let n = payload.count
        if n < 126 { out.append(m | UInt8(n)) } else if n <= 0xFFFF { out += [m | 126, UInt8(n >> 8), UInt8(n & 0xFF)] } else {
            out.append(m | 127)
            for s in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: n >> s)) }
        }
        let key: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        if masked {
            out += key
            for (i, b) in payload.enumerated() { out.append(b ^ key[i & 3]) }
        } else {
            out += payload
        }
        try raw.send(out)
    }

    func sendText(_ text: String) throws { try send(0x1, Array(text.utf8)) }

    func read(timeout: TimeInterval = 5) throws -> Frame {
        while true {
            let b = raw.buffer
            if b.count >= 2 {
                var n = Int(b[1] & 0x7F)
                var offset = 2
                if n == 126, b.count >= 4 { n = Int(b[2]) << 8 | Int(b[3]); offset = 4 } else if n == 126 { n = -1 }
                if n == 127, b.count >= 10 {
                    n = 0
                    for i in 2..<10 { n = n << 8 | Int(b[i]) }
                    offset = 10
                } else if n == 127 { n = -1 }
                if n >= 0 && b.count >= offset + n {
                    #expect(b[1] & 0x80 == 0, "server frames must not be masked")
                    let frame = Frame(fin: b[0] & 0x80 != 0, opcode: b[0] & 0x0F, payload: Array(b[offset..<(offset + n)]))
                    raw.buffer.removeFirst(offset + n)
                    return frame
                }
            }
            if try !raw.fill(timeout: timeout) { throw ClientError(description: "connection closed while reading a frame") }
        }
    }

    /// Reads frames until a close frame; returns it.
    func readClose(timeout: TimeInterval = 5) throws -> Frame {
        while true {
            let f = try read(timeout: timeout)
            if f.opcode == 0x8 { return f }
        }
    }
}
