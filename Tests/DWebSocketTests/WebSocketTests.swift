import DCrypto
import DWebSocket
import Testing

/// A masked client frame.
func clientFrame(
    _ opcode: UInt8, _ payload: [UInt8], fin: Bool = true, rsv: UInt8 = 0, key: [UInt8] = [1, 2, 3, 4]
) -> [UInt8] {
    var out: [UInt8] = [(fin ? 0x80 : 0) | rsv | opcode]
    let n = payload.count
    if n < 126 {
        out.append(0x80 | UInt8(n))
    } else if n <= 0xFFFF {
        out += [0x80 | 126, UInt8(n >> 8), UInt8(n & 0xFF)]
    } else {
        out.append(0x80 | 127)
        for s in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: n >> s)) }
    }
    out += key
    for (i, b) in payload.enumerated() { out.append(b ^ key[i & 3]) }
    return out
}

func parse(_ bytes: [UInt8], max: Int = 1 << 20) -> WebSocketFrame.Parse {
    bytes.withUnsafeBytes { WebSocketFrame.parse($0, allowRSV1: false, maxPayload: max) }
}

/// Feeds a session bytes as they might arrive, piece by piece (whole frames, or parts of
/// them; what it leaves unused, a part of a header, goes before the next piece, as in the
/// connection's input): every action.
func feed(_ session: inout WebSocketSession, _ pieces: [[UInt8]]) -> [WebSocketSession.Action] {
    var actions: [WebSocketSession.Action] = []
    var input: [UInt8] = []
    for piece in pieces {
        input += piece
        let used = input.withUnsafeMutableBytes { raw in
            var used = 0
            while true {
                let step = session.receive(UnsafeMutableRawBufferPointer(rebasing: raw[used...]))
                used += step.used
                actions += step.actions
                if step.actions.isEmpty { return used }
            }
        }
        input.removeFirst(used)
    }
    return actions
}

@Suite struct WebSocketFrameTests {
    @Test func parsesLengthsAndMask() {
        for n in [0, 5, 125, 126, 65535, 65536, 100_000] {
            let f = clientFrame(0x2, [UInt8](repeating: 7, count: n))
            guard case .frame(let h) = parse(f) else {
                Issue.record("length \(n)")
                continue
            }
            #expect(h.payloadLength == n)
            #expect(h.headerLength == (n < 126 ? 6 : n <= 0xFFFF ? 8 : 14))
            #expect(h.opcode == .binary && h.fin)
            // Every shorter prefix of the header is incomplete.
            for cut in 0..<h.headerLength { #expect(parse(Array(f[0..<cut])) == .incomplete) }
        }
    }

    @Test func refusesProtocolErrors() {
        #expect(parse([0x81, 0x00]) == .invalid(code: 1002, reason: "client frames must be masked"))
        #expect(parse(clientFrame(0x1, [], rsv: 0x40)) == .invalid(code: 1002, reason: "reserved bits set"))
        #expect(parse(clientFrame(0x1, [], rsv: 0x10)) == .invalid(code: 1002, reason: "reserved bits set"))
        if case .invalid(1002, _) = parse(clientFrame(0x3, [])) {} else { Issue.record("opcode 3") }
        if case .invalid(1002, _) = parse(clientFrame(0xB, [])) {} else { Issue.record("opcode 0xB") }
        #expect(parse(clientFrame(0x9, [], fin: false)) == .invalid(code: 1002, reason: "fragmented control frame"))
        #expect(
            parse(clientFrame(0x9, [UInt8](repeating: 0, count: 126)))
                == .invalid(code: 1002, reason: "control frame payload over 125 bytes"))
        #expect(
            parse(clientFrame(0x2, [UInt8](repeating: 0, count: 2000)), max: 1000)
                == .invalid(code: 1009, reason: "message too big"))
        #expect(
            parse([0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1])
                == .invalid(code: 1002, reason: "payload length has its top bit set"))
        #expect(
            parse([0x82, 0xFE, 0x00, 0x05]) == .invalid(code: 1002, reason: "payload length not minimally encoded"))
    }

    @Test func serverFramesAndClosePayload() {
        var out: [UInt8] = []
        [UInt8](repeating: 1, count: 300).withUnsafeBytes {
            WebSocketFrame.append(to: &out, opcode: .text, payload: $0)
        }
        #expect(Array(out[0..<4]) == [0x81, 126, 0x01, 0x2C])
        #expect(out.count == 304)
        let p = WebSocketFrame.closePayload(code: 1000, reason: String(repeating: "é", count: 100))
        #expect(p.count <= 125)
        #expect(p.count == 124)  // 2 code bytes + 61 whole 2-byte characters
    }
}

@Suite struct UTF8ValidatorTests {
    @Test func validatesInEveryPieceSize() {
        let valid = Array("héllo wörld ✓ 𝄞 κόσμε".utf8)
        let invalid: [[UInt8]] = [
            [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE0, 0x80, 0x80], [0xFF],
            [
                0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED, 0xA0, 0x80, 0x65, 0x64, 0x69,
                0x74, 0x65, 0x64,
            ],
        ]
        for piece in 1...5 {
            var v = UTF8Validator()
            var ok = true
            for start in stride(from: 0, to: valid.count, by: piece) {
                ok = ok && valid[start..<min(start + piece, valid.count)].withUnsafeBytes { v.feed($0) }
            }
            #expect(ok && v.isComplete)
            for bad in invalid {
                var w = UTF8Validator()
                var good = true
                for start in stride(from: 0, to: bad.count, by: piece) where good {
                    good = bad[start..<min(start + piece, bad.count)].withUnsafeBytes { w.feed($0) }
                }
                #expect(!good, "\(bad)")
            }
        }
        // A sequence cut at the end is incomplete, not invalid.
        var v = UTF8Validator()
        #expect([UInt8]([0xE2, 0x9C]).withUnsafeBytes { v.feed($0) } && !v.isComplete)
    }
}

@Suite struct WebSocketSessionTests {
    @Test func reassemblesWithControlFramesBetween() {
        var s = WebSocketSession(maxMessage: 1000)
        let a = feed(
            &s,
            [
                clientFrame(0x1, Array("Hel".utf8), fin: false), clientFrame(0x9, [9]),
                clientFrame(0x0, Array("lo".utf8)),
            ])
        #expect(a == [.send(.pong, [9]), .message(binary: false, payload: Array("Hello".utf8))])
        #expect(feed(&s, [clientFrame(0x2, [1, 2, 3])]) == [.message(binary: true, payload: [1, 2, 3])])
    }

    @Test func protocolErrors() {
        var s = WebSocketSession(maxMessage: 10)
        #expect(feed(&s, [clientFrame(0x0, [1])]).last == .closeConnection)
        #expect(s.state == .closed)
        #expect(s.failure?.code == 1002 && s.failure?.reason == "continuation frame without a message")
        var t = WebSocketSession(maxMessage: 10)
        let over = feed(
            &t,
            [
                clientFrame(0x2, [UInt8](repeating: 0, count: 6), fin: false),
                clientFrame(0x0, [UInt8](repeating: 0, count: 6)),
            ])
        #expect(over.first == .send(.close, WebSocketFrame.closePayload(code: 1009, reason: "message over 10 bytes")))
        var u = WebSocketSession(maxMessage: 100)
        // Invalid UTF-8 fails at the fragment that carries it, before the message ends.
        let bad = feed(&u, [clientFrame(0x1, [0xCE, 0xBA], fin: false), clientFrame(0x0, [0xED, 0xA0], fin: false)])
        if case .send(.close, let p) = bad.first {
            #expect(Array(p[0..<2]) == [0x03, 0xEF])
        } else {
            Issue.record("\(bad)")
        }
        var w = WebSocketSession(maxMessage: 100)
        let interleaved = feed(&w, [clientFrame(0x1, [0x61], fin: false), clientFrame(0x1, [0x62])])
        if case .send(.close, let p) = interleaved.first {
            #expect(Array(p[0..<2]) == [0x03, 0xEA])
        } else {
            Issue.record("\(interleaved)")
        }
    }

    /// A frame is judged as it arrives: a text payload's bad byte fails the connection before
    /// the frame's end; a header alone refuses a continuation with no message, or a fragment
    /// that takes the message over the limit.
    @Test func judgesFramesAsTheyArrive() {
        var s = WebSocketSession(maxMessage: 1000)
        let text = clientFrame(0x1, Array("ab".utf8) + [0xC0] + [UInt8](repeating: 0x61, count: 97))
        #expect(feed(&s, [Array(text[0..<8])]) == [])  // the header and "ab"
        #expect(s.framePayloadRemaining == 98)
        #expect(
            feed(&s, [Array(text[8..<9])]) == [
                .send(.close, WebSocketFrame.closePayload(code: 1007, reason: "invalid UTF-8 in a text message")),
                .closeConnection,
            ])
        var c = WebSocketSession(maxMessage: 1000)
        let continuation = clientFrame(0x0, [UInt8](repeating: 0x61, count: 100))
        #expect(feed(&c, [Array(continuation[0..<6])]).last == .closeConnection)
        #expect(c.failure?.code == 1002 && c.failure?.reason == "continuation frame without a message")
        var o = WebSocketSession(maxMessage: 1000)
        let over = clientFrame(0x0, [UInt8](repeating: 0, count: 600))
        #expect(
            feed(&o, [clientFrame(0x2, [UInt8](repeating: 0, count: 600), fin: false), Array(over[0..<8])]).last
                == .closeConnection)
        #expect(o.failure?.code == 1009)
    }

    /// The same bytes give the same actions whole, split in two anywhere, or one by one.
    @Test func anySplitGivesTheSameActions() {
        let streams: [[UInt8]] = [
            clientFrame(0x1, Array("héllo ".utf8), fin: false) + clientFrame(0x9, [7])
                + clientFrame(0x0, Array("wörld ✓".utf8)) + clientFrame(0x2, (0..<200).map { UInt8($0) })
                + clientFrame(0x8, [0x03, 0xE8]),
            clientFrame(0x2, [1, 2, 3], fin: false) + clientFrame(0x0, [UInt8](repeating: 9, count: 300), fin: false)
                + clientFrame(0x1, [0x61]),
            clientFrame(0x1, Array("κόσμε".utf8) + [0xED, 0xA0, 0x80] + Array("edited".utf8)),
        ]
        for stream in streams {
            var whole = WebSocketSession(maxMessage: 1000)
            let expected = feed(&whole, [stream])
            #expect(!expected.isEmpty)
            for cut in 0...stream.count {
                var s = WebSocketSession(maxMessage: 1000)
                #expect(feed(&s, [Array(stream[..<cut]), Array(stream[cut...])]) == expected, "cut at \(cut)")
                #expect(s.state == whole.state)
            }
            var bytewise = WebSocketSession(maxMessage: 1000)
            #expect(feed(&bytewise, stream.map { [$0] }) == expected)
        }
    }

    /// A close owed to the peer, a protocol error's or the echo of its own close, waits while
    /// the application has not finished with a message it was given; it goes when the
    /// application asks for its next message, closes, or waited too long. Once the application
    /// asked for more, a failure closes at once.
    @Test func closeWaitsForTheApplication() {
        var s = WebSocketSession(maxMessage: 100)
        let a = feed(
            &s, [clientFrame(0x1, Array("hi".utf8)) + clientFrame(0x1, [0x61], rsv: 0x20) + clientFrame(0x9, [])])
        #expect(a == [.message(binary: false, payload: Array("hi".utf8))])
        #expect(s.state == .closing && s.failure?.code == 1002)
        #expect(
            s.applicationWaiting() == [
                .send(.close, WebSocketFrame.closePayload(code: 1002, reason: "reserved bits set")), .closeConnection,
            ])
        #expect(s.state == .closed && s.applicationWaiting() == [])

        var t = WebSocketSession(maxMessage: 100)
        #expect(feed(&t, [clientFrame(0x1, Array("hi".utf8))]).count == 1)
        #expect(t.applicationWaiting() == [])
        #expect(feed(&t, [clientFrame(0x3, [])]).last == .closeConnection)

        var p = WebSocketSession(maxMessage: 100)
        #expect(
            feed(&p, [clientFrame(0x2, [1]), clientFrame(0x8, [0x03, 0xE8])]) == [.message(binary: true, payload: [1])])
        #expect(p.state == .closing && p.peerCloseCode == 1000 && p.failure == nil)
        #expect(p.close(code: 4000, reason: "") == [.send(.close, [0x03, 0xE8]), .closeConnection])

        var d = WebSocketSession(maxMessage: 100, compression: true)
        #expect(d.checkDecompressed(binary: true, payload: [1]) == [.message(binary: true, payload: [1])])
        #expect(d.fail(1007, "a compressed message that does not decompress") == [])
        #expect(d.sendOwedClose().last == .closeConnection)
        #expect(d.sendOwedClose() == [])
    }

    @Test func closeHandshake() {
        var s = WebSocketSession(maxMessage: 100)
        #expect(
            feed(&s, [clientFrame(0x8, [0x03, 0xE8] + Array("bye".utf8))]) == [
                .send(.close, [0x03, 0xE8]), .closeConnection,
            ])
        #expect(s.peerCloseCode == 1000)
        #expect(s.failure == nil)
        var e = WebSocketSession(maxMessage: 100)
        #expect(feed(&e, [clientFrame(0x8, [])]) == [.send(.close, []), .closeConnection])
        #expect(e.peerCloseCode == 1005)
        for (payload, code) in [
            ([UInt8(0x03)], UInt16(1002)), ([0x03, 0xED], 1002), ([0x03, 0xE8, 0xFF], 1007), ([0x00, 0x00], 1002),
        ] {
            var t = WebSocketSession(maxMessage: 100)
            let a = feed(&t, [clientFrame(0x8, payload)])
            if case .send(.close, let p) = a.first {
                #expect(Array(p[0..<2]) == [UInt8(code >> 8), UInt8(code & 0xFF)], "\(payload)")
            } else {
                Issue.record("\(payload)")
            }
        }
        var c = WebSocketSession(maxMessage: 100)
        #expect(
            c.close(code: 1000, reason: "done") == [
                .send(.close, WebSocketFrame.closePayload(code: 1000, reason: "done"))
            ])
        #expect(feed(&c, [clientFrame(0x1, [0x61])]) == [])
        #expect(feed(&c, [clientFrame(0x8, [0x03, 0xE8])]) == [.closeConnection])
    }
}

@Suite struct WebSocketHandshakeTests {
    func check(
        _ fields: [String: [String]], get: Bool = true, minor: Int = 1
    ) -> Result<WebSocketHandshake, WebSocketHandshake.Refusal> {
        WebSocketHandshake.check(isGet: get, versionMinor: minor) { fields[$0] ?? [] }
    }

    let good: [String: [String]] = [
        "upgrade": ["websocket"], "connection": ["keep-alive, Upgrade"],
        "sec-websocket-version": ["13"], "sec-websocket-key": ["dGhlIHNhbXBsZSBub25jZQ=="],
        "sec-websocket-protocol": ["chat, superchat"],
    ]

    @Test func acceptsAndComputesAccept() throws {
        let h = try check(good).get()
        #expect(h.protocols == ["chat", "superchat"])
        // RFC 6455 section 1.3's example.
        #expect(h.acceptValue == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        #expect(
            String(decoding: h.response(subprotocol: "chat", extensions: "permessage-deflate"), as: UTF8.self)
                == "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n"
                + "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
        #expect(
            !String(decoding: h.response(subprotocol: nil, extensions: nil), as: UTF8.self).contains(
                "Sec-WebSocket-Protocol"))
    }

    @Test func refuses() {
        var v = good
        v["sec-websocket-version"] = ["8"]
        #expect(check(v) == .failure(.unsupportedVersion))
        var k = good
        k["sec-websocket-key"] = ["c2hvcnQ="]
        if case .failure(.badRequest) = check(k) {} else { Issue.record("short key") }
        var u = good
        u["upgrade"] = ["h2c"]
        if case .failure(.badRequest) = check(u) {} else { Issue.record("upgrade") }
        if case .failure(.badRequest) = check(good, get: false) {} else { Issue.record("POST") }
        if case .failure(.badRequest) = check(good, minor: 0) {} else { Issue.record("1.0") }
        #expect(Base64.decode("abc") == nil)
        #expect(Base64.decode("YQ==") == [0x61])
        #expect(Base64.decode("Y===") == nil)
    }
}
