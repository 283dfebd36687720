import Foundation
import Testing

extension IntegrationSuite {
    /// Issue 17: the timing of protocol errors, as Autobahn|Testsuite's strict cases check it:
    /// a bad frame fails the connection as soon as the bytes that make it bad arrive, and
    /// after the handler's answers to the messages before it.
    @Suite struct WebSocketStrictnessTests {
        /// A frame is judged while it arrives: invalid UTF-8 in the first bytes of a text
        /// frame's payload closes with 1007 although the rest never comes; a continuation with
        /// no message, and a fragment that takes the message over the limit, are refused from
        /// their header alone (1002, 1009).
        @Test func partialFramesFailFast() throws {
            try withServer(["--websocket-max-message", "1000", "wsapp:app"], workers: 1) { s in
                let cases: [(String, [UInt8], Int)] = [
                    (
                        "invalid UTF-8",
                        Array(
                            WSClient.frame(0x1, Array("ab".utf8) + [0xC0] + Array(repeating: 0x61, count: 97)).prefix(9)
                        ), 1007
                    ),
                    (
                        "invalid UTF-8 in a continuation",
                        WSClient.frame(0x1, Array("é".utf8), fin: false)
                            + WSClient.frame(0x0, [0xED, 0xA0, 0x80] + Array(repeating: 0x61, count: 97)).prefix(9),
                        1007
                    ),
                    (
                        "continuation without a message",
                        Array(WSClient.frame(0x0, Array(repeating: 0x61, count: 100)).prefix(6)), 1002
                    ),
                    (
                        "fragment over the limit",
                        WSClient.frame(0x2, Array(repeating: 0, count: 600), fin: false)
                            + WSClient.frame(0x0, Array(repeating: 0, count: 600)).prefix(8), 1009
                    ),
                ]
                for (name, bytes, code) in cases {
                    let c = try WSClient(port: s.port, path: "/ws/echo")
                    try c.raw.send(bytes)
                    do {
                        let close = try c.readClose(timeout: 3)
                        #expect(close.closeCode == code, "\(name): \(close.closeCode)")
                        #expect(c.raw.isClosedByServer(), "\(name): not closed")
                    } catch {
                        Issue.record("\(name): \(error)")
                    }
                }
            }
        }

        /// A message, then a bad frame (or the client's close) and a ping in the same write:
        /// the handler's echo of the message goes before the close (1002, 1007, or the client's
        /// code echoed), and the ping after it is not answered. A handler that takes long over
        /// its message does not hold the close for longer than a second.
        @Test func closeFollowsTheHandlersAnswers() throws {
            try withServer(["wsapp:app"], workers: 1) { s in
                let cases: [(String, [UInt8], Int)] = [
                    ("reserved bit", WSClient.frame(0x1, Array("again".utf8), rsv: 0x20), 1002),
                    ("reserved opcode", WSClient.frame(0x5, []), 1002),
                    ("reserved control opcode", WSClient.frame(0xD, []), 1002),
                    ("invalid UTF-8", WSClient.frame(0x1, [0xC0, 0x80]), 1007),
                    ("the client's close", WSClient.frame(0x8, [0x0F, 0xA2]), 4002),
                ]
                for (name, frame, code) in cases {
                    let c = try WSClient(port: s.port, path: "/ws/echo")
                    try c.raw.send(WSClient.frame(0x1, Array("hello".utf8)) + frame + WSClient.frame(0x9, [1]))
                    let first = try c.read()
                    #expect(first.opcode == 1 && first.text == "hello", "\(name): \(first)")
                    guard first.opcode == 1 else { continue }
                    let close = try c.read()
                    #expect(close.opcode == 8 && close.closeCode == code, "\(name): \(close)")
                    #expect(c.raw.isClosedByServer(), "\(name): not closed")
                }
                let slow = try WSClient(port: s.port, path: "/ws/slowecho")
                let start = Date()
                try slow.raw.send(WSClient.frame(0x1, Array("take your time".utf8)) + WSClient.frame(0x3, []))
                let close = try slow.read(timeout: 10)
                let waited = Date().timeIntervalSince(start)
                #expect(close.opcode == 8 && close.closeCode == 1002, "\(close)")
                #expect(waited >= 0.9 && waited < 4, "the close came after \(waited) s")
            }
        }
    }
}
