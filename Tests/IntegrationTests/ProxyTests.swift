import Foundation
import Testing

extension IntegrationSuite {
    /// Issue 14, behind proxies: X-Forwarded-* and Forwarded believed from trusted peers only
    /// (nginx for real), and the PROXY protocol v1 and v2 from HAProxy (plain, TLS and a
    /// WebSocket through it).
    @Suite struct ProxyTests {
        /// GET /environ at `port` from a socket bound to `source` (127.0.0.0/8 is all loopback),
        /// optionally over TLS; prints REMOTE_ADDR, REMOTE_PORT==local port, the scheme, host
        /// and port.
        static let environClient = """
            import json, socket, ssl, sys
            port, source, headers = int(sys.argv[1]), sys.argv[2], sys.argv[3]
            s = socket.create_connection(('127.0.0.1', port), source_address=(source, 0))
            local = s.getsockname()[1]
            if len(sys.argv) > 4:
                s = ssl.create_default_context(cafile=sys.argv[4]).wrap_socket(s, server_hostname='localhost')
            s.sendall(('GET /environ HTTP/1.1\\r\\nHost: app.test\\r\\nConnection: close\\r\\n%s\\r\\n' % headers.replace('|', '\\r\\n')).encode())
            data = b''
            while chunk := s.recv(65536):
                data += chunk
            env = json.loads(data.split(b'\\r\\n\\r\\n', 1)[1])
            print('remote', env['REMOTE_ADDR'], 'ownport' if env['REMOTE_PORT'] == str(local) else env['REMOTE_PORT'],
                  env['wsgi.url_scheme'], env.get('HTTP_HOST'), env['SERVER_NAME'], env['SERVER_PORT'],
                  env.get('HTTP_X_FORWARDED_FOR'))
            """

        static func environ(
            _ port: Int, from source: String = "127.0.0.1", headers: [String] = [], ca: String? = nil
        )
            -> String
        {
            var args = [String(port), source, headers.map { $0 + "|" }.joined()]
            if let ca { args.append(ca) }
            let (status, output) = Command.python(environClient, args)
            return status == 0 ? output.trimmingCharacters(in: .whitespacesAndNewlines) : "failed: \(output)"
        }

        @Test func forwardedFromTrustedPeersOnly() throws {
            let headers = [
                "X-Forwarded-For: 203.0.113.7, 10.0.0.2", "X-Forwarded-Proto: https",
                "X-Forwarded-Host: example.com:8443",
            ]
            // 127.0.0.1 is trusted by default; 10.0.0.2 is not, so it is the client.
            try withServer(["testapp:application"]) { s in
                #expect(
                    Self.environ(s.port, headers: headers)
                        == "remote 10.0.0.2 0 https example.com:8443 example.com 8443 203.0.113.7, 10.0.0.2")
                #expect(
                    Self.environ(s.port, headers: [#"Forwarded: for="[2001:db8::1]:4711";proto=https;host=h.example"#])
                        == "remote 2001:db8::1 0 https h.example h.example 443 None")
                // Malformed values change nothing.
                #expect(
                    Self.environ(s.port, headers: ["X-Forwarded-For: nonsense", "X-Forwarded-Proto: ftp"])
                        == "remote 127.0.0.1 ownport http app.test 127.0.0.1 \(s.port) nonsense")
                // A peer that is not trusted (127.0.0.5) is only passing headers along.
                #expect(
                    Self.environ(s.port, from: "127.0.0.5", headers: headers)
                        == "remote 127.0.0.5 ownport http app.test 127.0.0.1 \(s.port) 203.0.113.7, 10.0.0.2")
            }
            try withServer(["--forwarded-allow-ips", "127.0.0.1, 10.0.0.0/8", "testapp:application"]) { s in
                #expect(Self.environ(s.port, headers: headers).hasPrefix("remote 203.0.113.7 0 https"))
            }
        }

        /// nginx for real, adding X-Forwarded-* as deployments configure it.
        @Test func behindNginx() throws {
            try withServer(["testapp:application"]) { s in
                let port = Nginx.freePorts(1)[0]
                let nginx = try Nginx(
                    servers: """
                        server { listen 127.0.0.1:\(port); location / {
                            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                            proxy_set_header X-Forwarded-Proto https;
                            proxy_set_header X-Forwarded-Host $host;
                            proxy_set_header X-Forwarded-Port 8443;
                            proxy_pass http://127.0.0.1:\(s.port); } }
                        """, port: port)
                defer { nginx.stop() }
                // The client (127.0.0.5) is not a proxy: it is REMOTE_ADDR, whatever it claims.
                #expect(
                    Self.environ(port, from: "127.0.0.5", headers: ["X-Forwarded-For: 198.51.100.1"])
                        == "remote 127.0.0.5 0 https app.test app.test 8443 198.51.100.1, 127.0.0.5")
            }
        }

        @Test func proxyProtocolFromHAProxy() throws {
            let certs = TestCertificates.shared
            try withServer([
                "--proxy-protocol", "--https", "127.0.0.1:0,\(certs.certificate),\(certs.key)", "testapp:application",
            ]) { s in
                try withServer(["--proxy-protocol", "wsapp:app"], workers: 1) { ws in
                    let https = try #require(s.port("https"))
                    let ports = Nginx.freePorts(4)
                    let haproxy = try HAProxy(
                        sections: """
                            frontend v1
                                bind 127.0.0.1:\(ports[0])
                                default_backend d1
                            backend d1
                                server s 127.0.0.1:\(s.port) send-proxy
                            frontend v2
                                bind 127.0.0.1:\(ports[1])
                                default_backend d2
                            backend d2
                                server s 127.0.0.1:\(s.port) send-proxy-v2
                            frontend tls
                                bind 127.0.0.1:\(ports[2])
                                default_backend d3
                            backend d3
                                server s 127.0.0.1:\(https) send-proxy-v2
                            frontend ws
                                bind 127.0.0.1:\(ports[3])
                                default_backend d4
                            backend d4
                                server s 127.0.0.1:\(ws.port) send-proxy
                            """, port: ports[3])
                    defer { haproxy.stop() }
                    // The address HAProxy saw (127.0.0.7), not HAProxy's own.
                    #expect(Self.environ(ports[0], from: "127.0.0.7").hasPrefix("remote 127.0.0.7 ownport http"))
                    #expect(Self.environ(ports[1], from: "127.0.0.8").hasPrefix("remote 127.0.0.8 ownport http"))
                    #expect(
                        Self.environ(ports[2], from: "127.0.0.9", ca: certs.ca).hasPrefix(
                            "remote 127.0.0.9 ownport https"))
                    let script = """
                        import asyncio, socket, sys, websockets
                        async def main():
                            sock = socket.create_connection(('127.0.0.1', int(sys.argv[1])), source_address=('127.0.0.10', 0))
                            async with websockets.connect('ws://127.0.0.1:%s/ws/echo' % sys.argv[1], sock=sock) as c:
                                await c.send('through haproxy')
                                assert await c.recv() == 'through haproxy'
                            print('websocket ok')
                        asyncio.run(main())
                        """
                    let (status, text) = Command.python(script, [String(ports[3])])
                    #expect(status == 0 && text.contains("websocket ok"), "\(text)")

                    // Straight to dispatchd: a health check's v2 LOCAL header is served with the
                    // socket's addresses; a connection without a header is closed unanswered.
                    let local = try RawClient(port: s.port)
                    try local.send([
                        0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x20, 0x00, 0, 0,
                    ])
                    try local.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                    #expect(try local.readResponse().status == 200)
                    let bare = try RawClient(port: s.port)
                    try bare.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                    #expect(bare.isClosedByServer())
                    #expect(s.stderrContains("does not start with a PROXY protocol header"))
                }
            }
        }
    }
}
