import Foundation
import Testing

extension IntegrationSuite {
    /// Issue 4: WebSockets (RFC 6455) for WSGI apps, on the worker's cooperative scheduler.
    @Suite struct WebSocketTests {
        /// The handshake: 101 with the RFC's accept value; a plain request to the same path
        /// falls through to Flask; a bad version gets 426 with the version we speak; a bad key
        /// or a POST gets 400.
        @Test func handshake() throws {
            try withServer(["wsapp:app"], workers: 1) { s in
                let c = try WSClient(port: s.port, path: "/ws/echo")
                #expect(c.handshake.status == 101)
                #expect(c.handshake.header("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
                #expect(c.handshake.header("Upgrade")?.lowercased() == "websocket")
                #expect(c.handshake.header("Connection")?.lowercased() == "upgrade")
                #expect(try RawClient.get(s.port, "/ws/echo").text == "not a WebSocket request")
                let v8 = try RawClient.request(
                    s.port,
                    "GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: \(WSClient.key)\r\nSec-WebSocket-Version: 8\r\n\r\n"
                )
                #expect(v8.status == 426)
                #expect(v8.header("Sec-WebSocket-Version") == "13")
                let badKey = try RawClient.request(
                    s.port,
                    "GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n"
                )
                #expect(badKey.status == 400)
                let post = try RawClient.request(
                    s.port,
                    "POST /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: \(WSClient.key)\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n"
                )
                #expect(post.status == 400)
                // An upgrade to a path with no WebSocket route is Flask's (404 here).
                let other = try WSClient(port: s.port, path: "/nowhere")
                #expect(other.handshake.status == 404)
            }
        }

        /// Messages: text and binary echo, a fragmented message with a ping between its
        /// fragments (answered with a pong carrying the ping's payload), a 3 MB message to the
        /// client, URL converters, and the close handshake echoing the client's code.
        @Test func messagesAndControlFrames() throws {
            try withServer(["wsapp:app"], workers: 1) { s in
                let c = try WSClient(port: s.port, path: "/ws/echo")
                try c.sendText("hello")
                #expect(try c.read() == .init(fin: true, opcode: 1, payload: Array("hello".utf8)))
                try c.send(0x2, [0, 1, 2, 255])
                #expect(try c.read() == .init(fin: true, opcode: 2, payload: [0, 1, 2, 255]))
                try c.send(0x1, Array("frag".utf8), fin: false)
                try c.send(0x9, Array("ping!".utf8))
                try c.send(0x0, Array("men".utf8), fin: false)
                try c.send(0x0, Array("ted ✓".utf8))
                #expect(try c.read() == .init(fin: true, opcode: 0xA, payload: Array("ping!".utf8)))
                #expect(try c.read().text == "fragmented ✓")
                try c.send(0x8, [0x0F, 0xA1] + Array("done".utf8))
                let close = try c.readClose()
                #expect(close.closeCode == 4001)
                #expect(c.raw.isClosedByServer())

                let big = try WSClient(port: s.port, path: "/ws/big")
                try big.sendText("3000000")
                let f = try big.read(timeout: 10)
                #expect(f.opcode == 2 && f.payload.count == 3_000_000 && f.payload.allSatisfy { $0 == 0x62 })
                #expect(try big.read().text == "done")
                #expect(try big.readClose().closeCode == 1000)  // the handler returned

                let user = try WSClient(port: s.port, path: "/ws/user/42")
                #expect(try user.read().text == "user 42 /ws/user/42")
            }
        }

        /// Every protocol error closes that connection with its code (1002, 1007, 1009) and
        /// nothing else: the worker and its other connections go on.
        @Test func protocolErrorsCloseOnlyThatConnection() throws {
            try withServer(["--websocket-max-message", "1000", "wsapp:app"], workers: 1) { s in
                let pid = try RawClient.get(s.port, "/").text
                let bystander = try WSClient(port: s.port, path: "/ws/echo")
                let cases: [(String, (WSClient) throws -> Void, Int)] = [
                    ("unmasked", { try $0.send(0x1, [0x61], masked: false) }, 1002),
                    ("reserved bit", { try $0.send(0x1, [0x61], rsv: 0x40) }, 1002),
                    ("unknown opcode", { try $0.send(0x3, []) }, 1002),
                    ("fragmented ping", { try $0.send(0x9, [], fin: false) }, 1002),
                    ("long ping", { try $0.send(0x9, [UInt8](repeating: 0, count: 126)) }, 1002),
                    ("stray continuation", { try $0.send(0x0, [0x61]) }, 1002),
                    (
                        "new message inside a fragmented one",
                        {
                            try $0.send(0x1, [0x61], fin: false)
                            try $0.send(0x1, [0x62])
                        }, 1002
                    ),
                    ("invalid UTF-8", { try $0.send(0x1, [0x61, 0xC0, 0x80]) }, 1007),
                    (
                        "invalid UTF-8 split across fragments",
                        {
                            try $0.send(0x1, [0xE2, 0x82], fin: false)
                            try $0.send(0x0, [0x28], fin: false)
                        }, 1007
                    ),
                    ("text ending inside a sequence", { try $0.send(0x1, [0xE2, 0x82]) }, 1007),
                    ("oversize message", { try $0.send(0x2, [UInt8](repeating: 0, count: 1001)) }, 1009),
                    (
                        "oversize in fragments",
                        {
                            try $0.send(0x2, [UInt8](repeating: 0, count: 600), fin: false)
                            try $0.send(0x0, [UInt8](repeating: 0, count: 600))
                        }, 1009
                    ),
                    ("invalid close code", { try $0.send(0x8, [0x03, 0xED]) }, 1002),
                    ("one-byte close", { try $0.send(0x8, [0x03]) }, 1002),
                    ("invalid UTF-8 close reason", { try $0.send(0x8, [0x03, 0xE8, 0xFF]) }, 1007),
                ]
                for (name, act, code) in cases {
                    let c = try WSClient(port: s.port, path: "/ws/echo")
                    try act(c)
                    let close = try c.readClose()
                    #expect(close.closeCode == code, "\(name): \(close.closeCode)")
                    #expect(c.raw.isClosedByServer(), "\(name): not closed")
                }
                try bystander.sendText("still here")
                #expect(try bystander.read().text == "still here")
                #expect(try RawClient.get(s.port, "/").text == pid)
                #expect(s.stderrContains("WebSocket protocol error"))
            }
        }

        /// A client that vanishes: the handler's receive() returns None and it ends; the
        /// worker serves on. The server's own close (code and reason) and a handler that
        /// raises (1011, with the traceback logged).
        @Test func disconnectsAndServerClose() throws {
            let events = FileManager.default.temporaryDirectory.appendingPathComponent("ws-\(UUID().uuidString).log")
                .path
            defer { try? FileManager.default.removeItem(atPath: events) }
            try withServer(["wsapp:app"], workers: 1, environment: ["DISPATCHD_TEST_EVENTS": events]) { s in
                for path in ["/ws/echo", "/ws/aecho"] {
                    let c = try WSClient(port: s.port, path: path)
                    try c.sendText("x")
                    _ = try c.read()
                    close(c.raw.fd)
                }
                let closing = try WSClient(port: s.port, path: "/ws/close")
                let f = try closing.readClose()
                #expect(f.closeCode == 4000)
                #expect(Array(f.payload.dropFirst(2)) == Array("bye now".utf8))
                try closing.send(0x8, [0x0F, 0xA0])
                #expect(closing.raw.isClosedByServer())

                let failing = try WSClient(port: s.port, path: "/ws/fail")
                try failing.sendText("go")
                #expect(try failing.readClose().closeCode == 1011)
                #expect(s.stderrContains("RuntimeError: handler failed on purpose"))

                var lines: [String] = []
                for _ in 0..<100 {
                    lines = ((try? String(contentsOfFile: events, encoding: .utf8)) ?? "").split(separator: "\n").map(
                        String.init)
                    if lines.count >= 3 { break }
                    Thread.sleep(forTimeInterval: 0.05)
                }
                #expect(
                    Set(lines) == ["echo: disconnected", "aecho: disconnected", "close: receive after close -> None"])
                #expect(try RawClient.get(s.port, "/").text == "plain HTTP")
            }
        }

        /// The scheduler: receive(timeout=) returns None; dispatchd.sleep in blocking-style and
        /// async handlers; handlers in one worker send to each other's connections (a chat room).
        @Test func schedulerTimeoutsSleepAndRooms() throws {
            try withServer(["wsapp:app"], workers: 1) { s in
                let t0 = Date()
                let t = try WSClient(port: s.port, path: "/ws/timeout")
                #expect(try t.read().text == "got None")
                #expect(Date().timeIntervalSince(t0) >= 0.3)
                #expect(try t.read().text == "connected True")
                // Two sleeping handlers at once (3 sleeps of 0.1 s each): their messages
                // interleave, and all six arrive in about 0.3 s. A sleep that blocked the worker
                // would delay the second handshake and put every "atick" after every "tick".
                let start = Date()
                let a = try WSClient(port: s.port, path: "/ws/ticker")
                let b = try WSClient(port: s.port, path: "/ws/aticker")
                // Six messages, then each handler's close frame (it returned).
                let arrivals = try WSClient.readArrivals([a, b], count: 8).filter { $0.1.opcode == 1 }
                let elapsed = Date().timeIntervalSince(start)
                #expect(arrivals.filter { $0.0 == 0 }.map(\.1.text) == ["tick 0", "tick 1", "tick 2"])
                #expect(arrivals.filter { $0.0 == 1 }.map(\.1.text) == ["atick 0", "atick 1", "atick 2"])
                let order = arrivals.map(\.0)
                #expect(
                    order.firstIndex(of: 1)! < order.lastIndex(of: 0)!
                        && order.firstIndex(of: 0)! < order.lastIndex(of: 1)!,
                    "the handlers did not interleave: \(arrivals.map(\.1.text))")
                #expect(elapsed < 0.5, "the sleeps did not overlap: \(elapsed) s")
                let room = try (0..<3).map { _ in try WSClient(port: s.port, path: "/ws/room") }
                Thread.sleep(forTimeInterval: 0.2)
                try room[1].sendText("hi all")
                for c in room { #expect(try c.read().text == "hi all") }
                let sent = try RawClient.get(s.port, "/broadcast?from-http")
                #expect(sent.text == "sent to 3")
                for c in room { #expect(try c.read().text == "from-http") }
            }
        }

        /// Keepalive: an idle connection gets a ping after --websocket-ping-interval; a client
        /// that does not answer within --websocket-ping-timeout is closed; one that answers
        /// stays.
        @Test func keepalivePings() throws {
            try withServer(
                ["--websocket-ping-interval", "0.3", "--websocket-ping-timeout", "0.5", "wsapp:app"], workers: 1
            ) { s in
                let silent = try WSClient(port: s.port, path: "/ws/echo")
                let answering = try WSClient(port: s.port, path: "/ws/echo")
                let ping = try silent.read(timeout: 2)
                #expect(ping.opcode == 0x9)
                for _ in 0..<3 {
                    let p = try answering.read(timeout: 2)
                    #expect(p.opcode == 0x9)
                    try answering.send(0xA, p.payload)
                }
                #expect(silent.raw.drainsToEnd(timeout: 3))
                try answering.sendText("alive")
                #expect(try answering.read().text == "alive")
            }
        }

        /// The keepalive runs from what the client sent, not from what it was sent: a client
        /// that receives a message every 0.1 s but answers no ping still gets one after
        /// --websocket-ping-interval and is closed --websocket-ping-timeout later.
        @Test func keepaliveIgnoresOutput() throws {
            try withServer(
                ["--websocket-ping-interval", "0.3", "--websocket-ping-timeout", "0.5", "wsapp:app"], workers: 1
            ) { s in
                let silent = try WSClient(port: s.port, path: "/ws/stream")
                let start = Date()
                var ticks = 0
                var pinged: TimeInterval? = nil
                while pinged == nil, Date().timeIntervalSince(start) < 3 {
                    let f = try silent.read(timeout: 3)
                    if f.opcode == 0x9 { pinged = Date().timeIntervalSince(start) } else { ticks += 1 }
                }
                #expect(pinged != nil && pinged! < 1, "no ping within 3 s (\(ticks) ticks)")
                #expect(silent.raw.drainsToEnd(timeout: 3))
                #expect(Date().timeIntervalSince(start) < 2.5)
            }
        }

        /// SIGTERM: open WebSockets get a close frame with 1001 (going away), their handlers end,
        /// and once the clients answer the server exits 0.
        @Test func sigtermClosesWebSockets() throws {
            let s = try ServerProcess(["wsapp:app"], workers: 1)
            let sync = try WSClient(port: s.port, path: "/ws/echo")
            let async = try WSClient(port: s.port, path: "/ws/aecho")
            try sync.sendText("before")
            #expect(try sync.read().text == "before")
            kill(s.pid, SIGTERM)
            for c in [sync, async] {
                let close = try c.readClose()
                #expect(close.closeCode == 1001)
                try c.send(0x8, [0x03, 0xE9])
            }
            #expect(s.waitForExit(timeout: 10) == 0)
        }

        /// uWSGI's API, unmodified uWSGI-style code under --uwsgi-compat (`import uwsgi`).
        @Test func uwsgiCompatAPI() throws {
            let events = FileManager.default.temporaryDirectory.appendingPathComponent("ws-\(UUID().uuidString).log")
                .path
            defer { try? FileManager.default.removeItem(atPath: events) }
            try withServer(
                ["--uwsgi-compat", "wsapp:uwsgi_app"], workers: 1, environment: ["DISPATCHD_TEST_EVENTS": events]
            ) { s in
                let c = try WSClient(port: s.port, path: "/anything")
                #expect(c.handshake.status == 101)
                try c.send(0x1, Array("frag".utf8), fin: false)
                try c.send(0x9, [7])
                try c.send(0x0, Array("ments".utf8))
                #expect(try c.read() == .init(fin: true, opcode: 0xA, payload: [7]))
                #expect(try c.read() == .init(fin: true, opcode: 1, payload: Array("fragments".utf8)))
                #expect(try c.read() == .init(fin: true, opcode: 2, payload: Array("bin:fragments".utf8)))
                try c.send(0x8, [0x03, 0xE8])
                #expect(try c.readClose().closeCode == 1000)
                Thread.sleep(forTimeInterval: 0.3)
                #expect(((try? String(contentsOfFile: events, encoding: .utf8)) ?? "").contains("uwsgi: disconnected"))
            }
            // A module that imports uwsgi at its top, as uWSGI apps do.
            try withServer(
                ["--uwsgi-compat", "--pythonpath", Paths.benchmarkApps, "ws_uwsgi_app:application"], workers: 1
            ) { s in
                let c = try WSClient(port: s.port, path: "/ws")
                try c.sendText("top-level import")
                #expect(try c.read().text == "top-level import")
            }
            // Without --uwsgi-compat too, when no real uwsgi module is importable (issue 13).
            try withServer(["wsapp:uwsgi_app"], workers: 1) { s in
                let c = try WSClient(port: s.port, path: "/anything")
                try c.sendText("no flag")
                #expect(try c.read().text == "no flag")
            }
        }

        /// permessage-deflate (RFC 7692): compressed messages in both directions (also
        /// fragmented); the client's server_max_window_bits honoured; no context takeover when
        /// the client asks for none (takeover: WebSocketDeflateTests); a message that inflates past the limit closes with 1009, data that does not
        /// inflate with 1007; no extension when the client offers none.
        @Test func permessageDeflate() throws {
            try withServer(["--websocket-max-message", "100000", "wsapp:app"], workers: 1) { s in
                let c = try WSClient(
                    port: s.port, path: "/ws/echo",
                    headers:
                        "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10, permessage-deflate\r\n"
                )
                #expect(
                    c.handshake.header("Sec-WebSocket-Extensions")
                        == "permessage-deflate; server_max_window_bits=10"
                )
                // A text whose second half repeats its first at a distance of 1,500 bytes: a
                // server that ignored server_max_window_bits=10 (1,024 bytes) would refer back
                // that far, and a decoder with the negotiated window would fail.
                let block = Self.noise(1500)
                let text = block + block
                let z = try Deflate.raw(Array(text.utf8))
                // Compressed, in two fragments (RSV1 on the first only).
                let half = z.count / 2
                try c.send(0x1, Array(z[0..<half]), fin: false, rsv: 0x40)
                try c.send(0x0, Array(z[half...]))
                let back = try c.read()
                #expect(back.opcode == 1)
                #expect(c.lastHeaderByte & 0x40 != 0, "the echo was not compressed")
                #expect(try Deflate.inflate(back.payload, windowBits: 10) == Array(text.utf8))
                // Short messages go uncompressed.
                try c.sendText("hi")
                #expect(try c.read().text == "hi")
                #expect(c.lastHeaderByte & 0x40 == 0)

                // No context takeover, as the client asks: the same message three times, each
                // echo decoded with a fresh context (a server that kept its context would send
                // later ones as references to the first).
                let repeated = try WSClient(
                    port: s.port, path: "/ws/echo",
                    headers: "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n")
                #expect(
                    repeated.handshake.header("Sec-WebSocket-Extensions")
                        == "permessage-deflate; server_no_context_takeover")
                let message = Array(Self.noise(2000).utf8)
                for i in 0..<3 {
                    try repeated.send(0x1, try Deflate.raw(message), rsv: 0x40)
                    let echo = try repeated.read()
                    #expect(repeated.lastHeaderByte & 0x40 != 0, "echo \(i) was not compressed")
                    #expect(try Deflate.inflate(echo.payload) == message, "echo \(i) does not decode on its own")
                }

                let bomb = try WSClient(
                    port: s.port, path: "/ws/echo", headers: "Sec-WebSocket-Extensions: permessage-deflate\r\n")
                try bomb.send(0x2, try Deflate.raw([UInt8](repeating: 0, count: 1_000_000)), rsv: 0x40)
                #expect(try bomb.readClose().closeCode == 1009)
                let junk = try WSClient(
                    port: s.port, path: "/ws/echo", headers: "Sec-WebSocket-Extensions: permessage-deflate\r\n")
                try junk.send(0x2, [0xFF, 0xFF, 0xFF, 0xFF], rsv: 0x40)
                #expect(try junk.readClose().closeCode == 1007)
                let rsvOnContinuation = try WSClient(
                    port: s.port, path: "/ws/echo", headers: "Sec-WebSocket-Extensions: permessage-deflate\r\n")
                try rsvOnContinuation.send(0x1, [0x61], fin: false)
                try rsvOnContinuation.send(0x0, [0x61], rsv: 0x40)
                #expect(try rsvOnContinuation.readClose().closeCode == 1002)
                let none = try WSClient(port: s.port, path: "/ws/echo")
                #expect(none.handshake.header("Sec-WebSocket-Extensions") == nil)
            }
        }

        /// `count` printable characters that deflate finds no repeats in (a fixed sequence).
        static func noise(_ count: Int) -> String {
            var x: UInt32 = 12345
            return String(
                (0..<count).map { _ in
                    x = x &* 1_103_515_245 &+ 12345
                    return Character(Unicode.Scalar(UInt8(33 + (x >> 16) % 94)))
                })
        }

        /// Backpressure: a handler that sends far more than its client reads is suspended at the
        /// send bound (1 MiB unsent, plus the one message that crossed it: nothing is lost,
        /// nothing grows without limit) while the worker serves other connections at once; when
        /// the client reads, everything arrives in order.
        @Test func sendBackpressure() throws {
            let events = FileManager.default.temporaryDirectory.appendingPathComponent("ws-\(UUID().uuidString).log")
                .path
            defer { try? FileManager.default.removeItem(atPath: events) }
            try withServer(["wsapp:app"], workers: 1, environment: ["DISPATCHD_TEST_EVENTS": events]) { s in
                let flood = try WSClient(port: s.port, path: "/ws/flood", receiveBuffer: 65536)
                // The handler records each message after send() returns; it is suspended inside
                // the next one, which is queued already. What the kernel holds on both sides is
                // not the server's queue. Read once the handler has stopped (the kernel's buffers
                // grow while they fill, so how long that takes varies).
                func sent() -> Int {
                    ((try? String(contentsOfFile: events, encoding: .utf8)) ?? "").split(separator: "\n")
                        .filter { $0.hasPrefix("flood sent ") }.count
                }
                Thread.sleep(forTimeInterval: 0.5)
                var returned = sent()
                for _ in 0..<50 {
                    Thread.sleep(forTimeInterval: 0.1)
                    let now = sent()
                    if now == returned { break }
                    returned = now
                }
                let frame = 65536 + 10
                let queued = (returned + 1) * frame
                // (The client's buffer holds what arrived with the handshake's response.)
                let kernel =
                    try Sockets.serverSendQueue(serverPort: s.port, clientPort: flood.raw.localPort)
                    + flood.raw.unreadInKernel
                let unsent = queued - kernel - flood.raw.buffer.count
                #expect(returned < 199, "the handler was never suspended (\(returned) sends returned)")
                // The worker's queue crossed 1 MiB when the handler was suspended; the kernel may
                // take more of it afterwards (its send buffer grows up to tcp_wmem's maximum, by
                // how much depends on the machine's TCP memory), so what is left is at most the
                // bound, and more than the kernel could take was queued in all.
                #expect(
                    unsent >= 0 && unsent <= (1 << 20) + frame && queued > kernel + (1 << 19),
                    "\(unsent) bytes queued in the worker (\(returned + 1) messages sent, \(kernel) in the kernel); the bound is 1 MiB plus one message"
                )
                let other = try WSClient(port: s.port, path: "/ws/echo")
                let t = Date()
                try other.sendText("prompt")
                #expect(try other.read().text == "prompt")
                #expect(Date().timeIntervalSince(t) < 0.5)
                #expect(try RawClient.get(s.port, "/").text == "plain HTTP")
                for i in 0..<200 {
                    let f = try flood.read(timeout: 10)
                    #expect(f.payload.count == 65536 && f.payload.first == UInt8(i), "message \(i)")
                }
                #expect(try flood.read().text == "flood done")
            }
        }

        /// environ['dispatchd.websocket'] is the connection's native object: there for a
        /// request that asks for a WebSocket (not for others), it answers the handshake,
        /// reports its state, sends, and closes with a code.
        @Test func nativeSocketObject() throws {
            try withServer(["wsapp:native_app"], workers: 1) { s in
                #expect(try RawClient.get(s.port, "/").text == "no dispatchd.websocket in an ordinary request")
                let c = try WSClient(port: s.port, path: "/native")
                #expect(c.handshake.status == 101)
                #expect(try c.read().text == "before (False, False), after (True, True)")
                try c.sendText("hello")
                #expect(try c.read() == .init(fin: true, opcode: 2, payload: Array("native:hello".utf8)))
                let close = try c.readClose()
                #expect(close.closeCode == 4002 && Array(close.payload.dropFirst(2)) == Array("native close".utf8))
            }
        }

        /// uWSGI-style code sees dispatchd.WebSocketClosed (an OSError) when its client leaves;
        /// letting it propagate ends the handler quietly (no traceback), as with uWSGI.
        @Test func webSocketClosedException() throws {
            let events = FileManager.default.temporaryDirectory.appendingPathComponent("ws-\(UUID().uuidString).log")
                .path
            defer { try? FileManager.default.removeItem(atPath: events) }
            try withServer(["wsapp:closed_app"], workers: 1, environment: ["DISPATCHD_TEST_EVENTS": events]) { s in
                for path in ["/catch", "/reraise"] {
                    let c = try WSClient(port: s.port, path: path)
                    #expect(try c.read().text == "ready")
                    close(c.raw.fd)
                }
                var lines: [Substring] = []
                for _ in 0..<100 where lines.count < 2 {
                    Thread.sleep(forTimeInterval: 0.05)
                    lines = ((try? String(contentsOfFile: events, encoding: .utf8)) ?? "").split(separator: "\n")
                }
                #expect(lines == ["closed: WebSocketClosed True", "closed: WebSocketClosed True"])
                Thread.sleep(forTimeInterval: 0.2)
                #expect(!s.stderr.text.contains("Traceback"), "\(s.stderr.text)")
            }
        }

        /// Thousands of WebSockets share one worker: 5,000 connections open at once, each
        /// echoes a message, and every one is still answered at the end.
        @Test func fiveThousandConnectionsOnOneWorker() throws {
            try raiseDescriptorLimit(atLeast: 12_000)
            try withServer(["--no-access-log", "wsapp:app"], workers: 1) { s in
                var clients: [WSClient] = []
                clients.reserveCapacity(5000)
                for i in 0..<5000 {
                    let c = try WSClient(port: s.port, path: "/ws/echo")
                    try #require(c.handshake.status == 101, "connection \(i)")
                    clients.append(c)
                }
                for (i, c) in clients.enumerated() { try c.sendText("message \(i)") }
                for (i, c) in clients.enumerated() {
                    let f = try c.read(timeout: 10)
                    if f.text != "message \(i)" { Issue.record("connection \(i) got \(f.text.debugDescription)") }
                }
                // All still open and answering.
                for i in stride(from: 0, to: 5000, by: 499) {
                    try clients[i].sendText("again")
                    #expect(try clients[i].read().text == "again")
                }
            }
        }

        /// dispatchd.sleep before the handshake sleeps like time.sleep (the request is still an
        /// ordinary one); after it, cooperatively.
        @Test func sleepBeforeHandshake() throws {
            try withServer(["wsapp:sleep_first_app"], workers: 1) { s in
                let c = try WSClient(port: s.port, path: "/x")
                #expect(c.handshake.status == 101)
                #expect(try c.read().text == "slept before and after the handshake")
                #expect(try c.readClose().closeCode == 1000)
            }
        }

        /// Subprotocols: the app picks one the client offered (answered in the 101); one it did
        /// not offer fails the handshake (OSError in the app: 500). websocket_recv_nb polls.
        @Test func subprotocolsAndNonBlockingReceive() throws {
            try withServer(["wsapp:proto_app"], workers: 1) { s in
                let c = try WSClient(port: s.port, path: "/p", headers: "Sec-WebSocket-Protocol: superchat, chat\r\n")
                #expect(c.handshake.status == 101)
                #expect(c.handshake.header("Sec-WebSocket-Protocol") == "chat")
                try c.sendText("polled")
                #expect(try c.read().text == "nb:polled")
                let none = try WSClient(port: s.port, path: "/p")
                #expect(none.handshake.status == 500)
                #expect(s.stderrContains("did not offer the subprotocol 'chat'"))
            }
        }

        /// Without the greenlet package, a blocking-style handler's handshake fails with a 500
        /// and a log line that says what to do; async handlers still work.
        @Test func withoutGreenlet() throws {
            let hide = Paths.fixtures.appendingPathComponent("nogreenlet").path
            try withServer(["--pythonpath", hide, "wsapp:app"], workers: 1) { s in
                let c = try WSClient(port: s.port, path: "/ws/echo")
                #expect(c.handshake.status == 500)
                #expect(s.stderrContains("pip install greenlet"))
                // The traceback names the embedded Python files, by their paths in the source tree.
                #expect(s.stderrContains(#"File "Sources/DWSGI/Python/dispatchd_flask.py", line "#))
                #expect(s.stderrContains(#"File "Sources/DWSGI/Python/dispatchd_websocket.py", line "#))
                let a = try WSClient(port: s.port, path: "/ws/aecho")
                #expect(a.handshake.status == 101)
                try a.sendText("async works")
                #expect(try a.read().text == "async works")
            }
        }

        /// A real browser: headless Chromium opens a page served by the Flask app, connects to
        /// its WebSocket on the same port, sends three messages, and the page shows the echoes.
        @Test func browserEcho() throws {
            try withServer(["wsapp:app"], workers: 1) { s in
                let (status, text) = try runBrowser(
                    url: "http://127.0.0.1:\(s.port)/page",
                    expression: "document.getElementById('log').innerText",
                    until: "Got echo: \u{2713} three")
                #expect(status == 0, "\(text)")
                #expect(text.contains("Connected to ws://127.0.0.1:\(s.port)/ws/echo"))
                for m in ["one", "twö", "\u{2713} three"] {
                    #expect(text.contains("Sent: \(m)"))
                    #expect(text.contains("Got echo: \(m)"))
                }
            }
        }

        /// The `websockets` client library (pip) talks to the Flask API: blocking-style and
        /// async handlers, text and binary.
        @Test func websocketsLibraryClient() throws {
            try withServer(["wsapp:app"], workers: 1) { s in
                let script = """
                    import asyncio, websockets
                    async def main():
                        for path in ('/ws/echo', '/ws/aecho'):
                            async with websockets.connect('ws://127.0.0.1:\(s.port)' + path) as c:
                                await c.send('héllo'); assert await c.recv() == 'héllo'
                                await c.send(b'\\x00\\xff'); assert await c.recv() == b'\\x00\\xff'
                                await c.send('x' * 70000); assert await c.recv() == 'x' * 70000
                        print('ok')
                    asyncio.run(main())
                    """
                let (status, text) = Command.python(script)
                #expect(status == 0, "\(text)")
                #expect(text.contains("ok"))
            }
        }
    }
}

/// Runs Fixtures/browser.py (headless Chromium over the DevTools protocol); its exit status and
/// the expression's last value.
func runBrowser(
    url: String, expression: String, until: String, timeout: Double = 20, extraFlags: [String] = []
) throws -> (Int32, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments =
        [
            ProcessInfo.processInfo.environment["PYTHON"] ?? "python3",
            Paths.fixtures.appendingPathComponent("browser.py").path,
            url, expression, until, String(timeout),
        ] + extraFlags
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}
