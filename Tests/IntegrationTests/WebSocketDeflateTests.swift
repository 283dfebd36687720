import Foundation
import Testing

extension IntegrationSuite {
    /// Issue 17: permessage-deflate with context takeover, within --websocket-deflate-memory.
    @Suite struct WebSocketDeflateTests {
        /// A small JSON chat message, like the ones before and after it.
        static func chat(_ i: Int) -> [UInt8] {
            Array(
                #"{"type":"message","room":"general","user":"user\#(i % 5)","id":\#(i),"text":"see you at the meeting at noon, bring the notes from monday"}"#
                    .utf8)
        }

        /// A browser's offer with the default bound (64 KiB): 12-bit windows and takeover both
        /// ways. The server's echoes of one message refer back to the earlier ones (the second
        /// takes a fraction of the first's bytes and decodes only with the kept window); the
        /// client's messages may refer back to its earlier ones too.
        @Test func takeoverBothWays() throws {
            try withServer(["wsapp:app"], workers: 1) { s in
                let c = try WSClient(
                    port: s.port, path: "/ws/echo",
                    headers: "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
                #expect(
                    c.handshake.header("Sec-WebSocket-Extensions")
                        == "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12")
                let message = Self.chat(1)
                var echoes: [[UInt8]] = []
                for _ in 0..<3 {
                    try c.send(0x1, try Deflate.raw(message), rsv: 0x40)
                    echoes.append(try c.read().payload)
                    #expect(c.lastHeaderByte & 0x40 != 0, "an echo was not compressed")
                }
                #expect(echoes[1].count * 4 < echoes[0].count, "\(echoes.map(\.count)): no context taken over")
                #expect(try Deflate.inflateMessages(echoes, windowBits: 12) == [message, message, message])
                #expect(throws: ClientError.self) { try Deflate.inflate(echoes[1], windowBits: 12) }

                // The client's side: messages that refer back to its earlier ones.
                let chats = (2..<8).map(Self.chat)
                let sent = try Deflate.rawMessages(chats, windowBits: 12)
                #expect(sent[1].count * 2 < chats[1].count)
                var back: [[UInt8]] = []
                for m in sent {
                    try c.send(0x1, m, rsv: 0x40)
                    back.append(try c.read().payload)
                }
                #expect(
                    try Deflate.inflateMessages(echoes + back, windowBits: 12) == [message, message, message] + chats)
                try c.send(0x8, [0x03, 0xE8])
                #expect(try c.readClose().closeCode == 1000)
            }
        }

        /// --websocket-deflate-memory bounds what a connection keeps: 16 KiB holds the server's
        /// side with a 10-bit window and not the client's; 0 keeps nothing (each message alone,
        /// as the client may decode it).
        @Test func memoryBound() throws {
            let offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
            try withServer(["--websocket-deflate-memory", "16384", "wsapp:app"], workers: 1) { s in
                let c = try WSClient(port: s.port, path: "/ws/echo", headers: offer)
                #expect(
                    c.handshake.header("Sec-WebSocket-Extensions")
                        == "permessage-deflate; client_no_context_takeover; server_max_window_bits=10")
                let message = Self.chat(1)
                var echoes: [[UInt8]] = []
                for _ in 0..<2 {
                    try c.send(0x1, try Deflate.raw(message), rsv: 0x40)
                    echoes.append(try c.read().payload)
                }
                #expect(echoes[1].count * 4 < echoes[0].count)
                #expect(try Deflate.inflateMessages(echoes, windowBits: 10) == [message, message])
            }
            try withServer(["--websocket-deflate-memory", "0", "wsapp:app"], workers: 1) { s in
                let c = try WSClient(port: s.port, path: "/ws/echo", headers: offer)
                #expect(
                    c.handshake.header("Sec-WebSocket-Extensions")
                        == "permessage-deflate; server_no_context_takeover; client_no_context_takeover")
                let message = Self.chat(1)
                for _ in 0..<2 {
                    try c.send(0x1, try Deflate.raw(message), rsv: 0x40)
                    #expect(try Deflate.inflate(try c.read().payload) == message)
                }
            }
        }

        /// A connection's zlib streams are made for its first compressed message: 1,000
        /// connections with a browser's offer, takeover answered, idle or sending only messages
        /// too short to compress, grow the worker by no more than idle ones without the extension
        /// (WebSocketMemoryTests: at most 12 KiB; made at the handshake, about 30 KiB more each).
        @Test func idleConnectionsKeepNoZlibState() throws {
            try raiseDescriptorLimit(atLeast: 3000)
            try withServer(
                ["--no-access-log", "--uwsgi-compat", "--pythonpath", Paths.benchmarkApps, "ws_uwsgi_app:application"],
                workers: 1
            ) { s in
                let worker = try #require(s.liveWorkerPids().first)
                let offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
                func open(_ n: Int) throws -> [WSClient] {
                    try (0..<n).map { i in
                        let c = try WSClient(port: s.port, path: "/ws", headers: offer)
                        try #require(c.handshake.header("Sec-WebSocket-Extensions")?.contains("no_context") == false)
                        if i % 2 == 0 { try c.sendText("hi") }
                        return c
                    }
                }
                // The first connections import greenlet and touch the code of every path.
                var clients = try open(100)
                Thread.sleep(forTimeInterval: 0.5)
                let before = ProcFS.rssKiB(worker)
                let count = 1000
                clients += try open(count)
                for c in clients.enumerated() where c.offset % 2 == 0 { #expect(try c.element.read().text == "hi") }
                Thread.sleep(forTimeInterval: 0.5)
                let perConnection = Double(ProcFS.rssKiB(worker) - before) / Double(count)
                #expect(perConnection <= 12, "\(perConnection) KiB a connection")
                // Each still takes its context over once it has something to compress.
                let message = Self.chat(1)
                var echoes: [[UInt8]] = []
                for _ in 0..<2 {
                    try clients[7].send(0x1, try Deflate.raw(message), rsv: 0x40)
                    echoes.append(try clients[7].read().payload)
                }
                #expect(echoes[1].count * 4 < echoes[0].count)
                #expect(try Deflate.inflateMessages(echoes, windowBits: 12) == [message, message])
            }
        }

        /// The `websockets` library (pip) with its default offer (permessage-deflate with
        /// takeover and client_max_window_bits): similar JSON messages both ways, each echoed
        /// intact, over the windows the server answered.
        @Test func websocketsLibraryTakeover() throws {
            try withServer(["wsapp:app"], workers: 1) { s in
                let script = """
                    import asyncio, json, websockets
                    async def main():
                        async with websockets.connect('ws://127.0.0.1:\(s.port)/ws/echo') as c:
                            print(c.response.headers['Sec-WebSocket-Extensions'])
                            for i in range(40):
                                m = json.dumps({'type': 'message', 'room': 'general', 'user': 'user%d' % (i % 5),
                                                'id': i, 'text': 'see you at noon ' * (1 + i % 7)})
                                await c.send(m)
                                assert await c.recv() == m, i
                            await c.send('x' * 70000); assert await c.recv() == 'x' * 70000
                        print('ok')
                    asyncio.run(main())
                    """
                let (status, text) = Command.python(script)
                #expect(status == 0, "\(text)")
                #expect(
                    text.hasPrefix("permessage-deflate; server_max_window_bits=12; client_max_window_bits=12\nok"),
                    "\(text)")
                #expect(!s.stderr.text.contains("WebSocket protocol error"), "\(s.stderr.text)")
            }
        }
    }
}
