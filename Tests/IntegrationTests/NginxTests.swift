import Foundation
import Testing

extension IntegrationSuite {
    /// nginx (apt) in front of dispatchd, as deployments have it: `uwsgi_pass` to `--socket`
    /// over a unix socket (with --chmod-socket) and over TCP, and `proxy_pass` with WebSocket
    /// upgrades; request bodies (also chunked by the client) and chunked responses through each.
    @Suite struct NginxTests {
        /// The requests a client makes through nginx at `port`; what it saw, a line each.
        static let client = """
            import hashlib, http.client, json, sys
            port = int(sys.argv[1])
            c = http.client.HTTPConnection('127.0.0.1', port)
            c.request('GET', '/environ?a=1&b=%20', headers={'X-Custom': 'yes'})
            r = c.getresponse()
            env = json.loads(r.read())
            print('environ', r.status, env['REQUEST_METHOD'], env['PATH_INFO'], env['QUERY_STRING'],
                  env.get('HTTP_X_CUSTOM'), env.get('wsgi.url_scheme'), 'DOCUMENT_ROOT' in env)
            body = bytes(range(256)) * 1200
            c.request('POST', '/echo', body=body)
            r = c.getresponse()
            print('echo', r.status, r.read() == body)
            def chunks():
                for i in range(5):
                    yield b'part%d-' % i * 1000
            c.request('POST', '/echo', body=chunks(), encode_chunked=True)
            r = c.getresponse()
            print('chunked-in', r.status, r.read() == b''.join(chunks()))
            c.request('GET', '/gen')
            r = c.getresponse()
            print('chunked-out', r.status, r.getheader('Transfer-Encoding'), r.read().decode())
            """

        static func run(_ port: Int) -> String {
            let (status, output) = Command.python(client, [String(port)])
            return "status \(status)\n\(output)"
        }

        static func expectThrough(
            _ output: String, scheme: String = "http", sourceLocation: SourceLocation = #_sourceLocation
        ) {
            #expect(output.contains("status 0"), "\(output)", sourceLocation: sourceLocation)
            #expect(
                output.contains("environ 200 GET /environ a=1&b=%20 yes \(scheme) True"), "\(output)",
                sourceLocation: sourceLocation)
            #expect(output.contains("echo 200 True"), "\(output)", sourceLocation: sourceLocation)
            #expect(output.contains("chunked-in 200 True"), "\(output)", sourceLocation: sourceLocation)
            #expect(
                output.contains("chunked-out 200 chunked chunk0;chunk1;chunk2;chunk3;chunk4;"), "\(output)",
                sourceLocation: sourceLocation)
        }

        @Test func uwsgiPass() throws {
            let dir = NSTemporaryDirectory() + "dispatchd-uwsgi-\(getpid())"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let sock = dir + "/app.sock"
            let server = try ServerProcess(
                ["--socket", sock, "--chmod-socket", "666", "--uwsgi-socket", "127.0.0.1:0", "testapp:application"],
                bind: nil)
            defer { server.stop() }
            let uwsgiPort = try #require(server.port("uwsgi"))
            let attributes = try FileManager.default.attributesOfItem(atPath: sock)
            #expect((attributes[.posixPermissions] as? Int) == 0o666)
            // Loopback and unix sockets: no warning about who may set the environ.
            #expect(!server.stderr.text.contains("WARNING: the uwsgi protocol"), "\(server.stderr.text)")

            let ports = Nginx.freePorts(3)
            let nginx = try Nginx(
                servers: """
                    server { listen 127.0.0.1:\(ports[0]); location / { \(Nginx.uwsgiParams) uwsgi_pass unix:\(sock); } }
                    server { listen 127.0.0.1:\(ports[1]); location / { \(Nginx.uwsgiParams) uwsgi_pass 127.0.0.1:\(uwsgiPort); } }
                    server { listen 127.0.0.1:\(ports[2]); location / { \(Nginx.uwsgiParams) uwsgi_param HTTPS on; uwsgi_pass unix:\(sock); } }
                    """, port: ports[2])
            defer { nginx.stop() }
            Self.expectThrough(Self.run(ports[0]))
            Self.expectThrough(Self.run(ports[1]))
            // The front server says the client's connection was HTTPS.
            Self.expectThrough(Self.run(ports[2]), scheme: "https")
            #expect(!nginx.errorLog.contains("[error]"), "\(nginx.errorLog)")

            // A packet that is not a WSGI request (modifier1 5: PSGI) gets an error status and a
            // close, and the server goes on.
            let raw = try RawClient(port: uwsgiPort)
            try raw.send([5, 0, 0, 0])
            let refused = try raw.readResponse()
            #expect(refused.status == 501)
            #expect(raw.isClosedByServer())
            Self.expectThrough(Self.run(ports[1]))
        }

        /// On an address others can reach, the start-up log says what the protocol lets a peer do.
        @Test func uwsgiSocketOnANetworkAddressWarns() throws {
            try withServer(["--socket", "0.0.0.0:0", "testapp:application"]) { s in
                #expect(s.stderrContains("WARNING: the uwsgi protocol lets its peer set any environ value"))
            }
        }

        @Test func proxyPassWithWebSocket() throws {
            try withServer(["testapp:application"]) { app in
                try withServer(["wsapp:app"], workers: 1) { ws in
                    let ports = Nginx.freePorts(2)
                    let proxy = """
                        proxy_http_version 1.1;
                        proxy_set_header Upgrade $http_upgrade;
                        proxy_set_header Connection $connection_upgrade;
                        proxy_set_header Host $host;
                        """
                    let nginx = try Nginx(
                        servers: """
                            server { listen 127.0.0.1:\(ports[0]); location / { \(proxy) proxy_pass http://127.0.0.1:\(app.port); } }
                            server { listen 127.0.0.1:\(ports[1]); location / { \(proxy) proxy_pass http://127.0.0.1:\(ws.port); } }
                            """, port: ports[1])
                    defer { nginx.stop() }
                    let output = Self.run(ports[0])
                    #expect(output.contains("status 0"), "\(output)")
                    #expect(output.contains("environ 200 GET /environ a=1&b=%20 yes http False"), "\(output)")
                    #expect(output.contains("echo 200 True"), "\(output)")
                    #expect(output.contains("chunked-in 200 True"), "\(output)")
                    #expect(output.contains("chunked-out 200 chunked chunk0;chunk1;chunk2;chunk3;chunk4;"), "\(output)")
                    let script = """
                        import asyncio, sys, websockets
                        async def main():
                            async with websockets.connect('ws://127.0.0.1:%s/ws/echo' % sys.argv[1]) as c:
                                for m in ('one', 'twö', 'x' * 70000):
                                    await c.send(m)
                                    assert await c.recv() == m
                            print('websocket ok')
                        asyncio.run(main())
                        """
                    let (status, text) = Command.python(script, [String(ports[1])])
                    #expect(status == 0 && text.contains("websocket ok"), "\(text)\n\(nginx.errorLog)")
                }
            }
        }
    }
}
