import Foundation
import Testing

extension IntegrationSuite {
    @Suite struct HTTPProtocolTests {
        /// A plain GET: status, Date, Server, Content-Length, body.
        @Test func helloWorld() throws {
            try withServer(["testapp:application"]) { s in
                let r = try RawClient.get(s.port, "/")
                #expect(r.status == 200)
                #expect(r.text == "Hello, World!")
                #expect(r.header("Content-Length") == "13")
                #expect(r.header("Server") == "dispatchd")
                let date = try #require(r.header("Date"))
                #expect(date.hasSuffix(" GMT") && date.count == 29, "Date: \(date)")
                #expect(r.header("Connection") == "close")
            }
        }

        /// Keep-alive: HTTP/1.1 by default, HTTP/1.0 only when asked, Connection: close honoured.
        @Test func keepAliveRules() throws {
            try withServer(["testapp:application"]) { s in
                let c = try RawClient(port: s.port)
                for _ in 0..<3 {
                    try c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                    let r = try c.readResponse()
                    #expect(r.status == 200)
                    #expect(r.header("Connection") == nil)
                }
                try c.send("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                #expect(try c.readResponse().header("Connection") == "close")
                #expect(c.isClosedByServer())

                let c10 = try RawClient(port: s.port)
                try c10.send("GET /hello HTTP/1.0\r\n\r\n")
                let r10 = try c10.readResponse()
                #expect(r10.version == "HTTP/1.0")
                #expect(r10.header("Connection") == "close")
                #expect(c10.isClosedByServer())

                let ka10 = try RawClient(port: s.port)
                for _ in 0..<2 {
                    try ka10.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                    let r = try ka10.readResponse()
                    #expect(r.status == 200)
                    #expect(r.header("Connection") == "keep-alive")
                }
            }
        }

        /// Pipelined requests are answered in order on one connection.
        @Test func pipelining() throws {
            try withServer(["testapp:application"]) { s in
                let c = try RawClient(port: s.port)
                var batch = ""
                let paths = ["/status/201", "/echo", "/gen", "/status/202", "/hello"]
                for p in paths {
                    if p == "/echo" {
                        batch += "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde"
                    } else {
                        batch += "GET \(p) HTTP/1.1\r\nHost: x\r\n\r\n"
                    }
                }
                try c.send(batch)
                let statuses = try paths.map { _ in try c.readResponse() }
                #expect(statuses.map(\.status) == [201, 200, 200, 202, 200])
                #expect(statuses[1].text == "abcde")
                #expect(statuses[2].text == "chunk0;chunk1;chunk2;chunk3;chunk4;")
            }
        }

        /// Request bodies: Content-Length and chunked, read in every way wsgi.input allows.
        @Test func requestBodies() throws {
            try withServer(["testapp:application"]) { s in
                let body = "line one\nline two\nlast"
                for (mode, expected) in [
                    ("read", body), ("readn", body), ("readline", "[line one\n][line two\n][last]"),
                    ("readline5", "line |one\n|line |two\n|last"), ("readlines", "line one\n|line two\n|last"),
                    ("iter", "line one\n|line two\n|last"),
                ] {
                    let r = try RawClient.request(
                        s.port,
                        "POST /echo?\(mode) HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
                    )
                    #expect(r.text == expected, "mode \(mode)")
                    let chunked =
                        "POST /echo?\(mode) HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                        + "5\r\nline \r\n4;ext=v\r\none\n\r\n" + String(body.utf8.count - 9, radix: 16) + "\r\n"
                        + String(body.dropFirst(9)) + "\r\n0\r\nX-Trailer: t\r\n\r\n"
                    let rc = try RawClient.request(s.port, chunked)
                    #expect(rc.text == expected, "chunked mode \(mode)")
                }
                // A chunked body that arrives in many pieces (read on the loop across many reads).
                let pieces = try RawClient(port: s.port)
                try pieces.send(
                    "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
                var wire = ""
                for i in 0..<200 { wire += "a\r\nchunk-\(String(format: "%04d", i))\r\n" }
                wire += "0\r\n\r\n"
                let bytes = Array(wire.utf8)
                for start in stride(from: 0, to: bytes.count, by: 97) {
                    try pieces.send(Array(bytes[start..<min(start + 97, bytes.count)]))
                    Thread.sleep(forTimeInterval: 0.002)
                }
                let pr = try pieces.readResponse()
                #expect(pr.text == (0..<200).map { "chunk-\(String(format: "%04d", $0))" }.joined())
                // A large body arrives in many reads.
                let big = String(repeating: "0123456789abcdef", count: 40_000)
                let r = try RawClient.request(
                    s.port,
                    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: \(big.utf8.count)\r\nConnection: close\r\n\r\n\(big)"
                )
                #expect(r.body.count == big.utf8.count)
                #expect(r.text == big)
            }
        }

        /// Expect: 100-continue: the server answers 100 once the head passes its checks, receives
        /// the body, then runs the app (which never waits on the client); a body over
        /// --limit-request-body gets 413 instead, and no 100.
        @Test func expectContinue() throws {
            try withServer(["--limit-request-body", "100", "testapp:application"]) { s in
                let c = try RawClient(port: s.port)
                try c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
                let interim = try c.readResponse()
                #expect(interim.status == 100)
                try c.send("hello")
                let r = try c.readResponse()
                #expect(r.status == 200)
                #expect(r.text == "hello")
                // An app that does not read the body: the connection stays usable.
                try c.send("POST /noread HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
                #expect(try c.readResponse().status == 100)
                try c.send("hello")
                let r2 = try c.readResponse()
                #expect(r2.text == "ignored your body")
                #expect(r2.header("Connection") == nil)
                try c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(try c.readResponse().text == "Hello, World!")
                // Over the limit: 413 at once, no 100, and a close.
                let big = try RawClient(port: s.port)
                try big.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\nExpect: 100-continue\r\n\r\n")
                #expect(try big.readResponse().status == 413)
                #expect(big.isClosedByServer())
            }
        }

        /// A body the app did not read is skipped; the next request on the connection works,
        /// also after a body large enough to be received into a temporary file.
        @Test func unreadBodyIsDrained() throws {
            try withServer(["testapp:application"]) { s in
                let c = try RawClient(port: s.port)
                let body = String(repeating: "z", count: 100_000)
                try c.send(
                    "POST /noread HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.count)\r\n\r\n\(body)GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                )
                #expect(try c.readResponse().text == "ignored your body")
                #expect(try c.readResponse().text == "Hello, World!")
                try c.send(
                    "POST /noread HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                )
                #expect(try c.readResponse().text == "ignored your body")
                #expect(try c.readResponse().text == "Hello, World!")
                let large = String(repeating: "y", count: 3_000_000)
                try c.send(
                    "POST /noread HTTP/1.1\r\nHost: x\r\nContent-Length: \(large.utf8.count)\r\n\r\n\(large)GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                )
                #expect(try c.readResponse().text == "ignored your body")
                #expect(try c.readResponse().text == "Hello, World!")
            }
        }

        /// A body that ends early never reaches the app: bodies are received in full before the
        /// app runs (in memory, or into a temporary file when large), so the connection just
        /// ends, with no response and no app call.
        @Test func truncatedBodyNeverReachesTheApp() throws {
            try withServer(["testapp:corpus_app"], workers: 1) { s in
                let small = try RawClient(port: s.port)
                try small.send("POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly this")
                shutdown(small.fd, Int32(SHUT_WR))
                #expect(small.isClosedByServer(), "the app answered a truncated body")
                let large = try RawClient(port: s.port)
                try large.send(
                    "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 3000000\r\n\r\n"
                        + String(repeating: "p", count: 100_000))
                shutdown(large.fd, Int32(SHUT_WR))
                #expect(large.isClosedByServer(), "the app answered a truncated body")
                // A chunked body past the in-memory size, cut in its last chunk.
                let chunked = try RawClient(port: s.port)
                try chunked.send(
                    "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n200000\r\n"
                        + String(repeating: "q", count: 1_500_000))
                shutdown(chunked.fd, Int32(SHUT_WR))
                #expect(chunked.isClosedByServer(), "the app answered a truncated body")
                // The same worker answers complete requests.
                let ok = try RawClient.request(
                    s.port, "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                #expect(ok.status == 299)
            }
        }

        /// Response framing: chunked without a length (1.1), close-delimited (1.0), no body for
        /// HEAD, 204 and 304, Content-Length added for list responses.
        @Test func responseFraming() throws {
            try withServer(["testapp:application"]) { s in
                let gen = try RawClient.get(s.port, "/gen")
                #expect(gen.chunked)
                #expect(gen.text == "chunk0;chunk1;chunk2;chunk3;chunk4;")
                let empty = try RawClient.get(s.port, "/empty-chunks")
                #expect(empty.text == "ab")

                let c10 = try RawClient(port: s.port)
                try c10.send("GET /gen HTTP/1.0\r\n\r\n")
                let r10 = try c10.readResponse()
                #expect(r10.header("Transfer-Encoding") == nil)
                #expect(r10.header("Content-Length") == nil)
                #expect(r10.text == "chunk0;chunk1;chunk2;chunk3;chunk4;")

                let list = try RawClient.get(s.port, "/echo")
                #expect(list.header("Content-Length") == "0")

                for code in [204, 304] {
                    let c = try RawClient(port: s.port)
                    try c.send("GET /status/\(code) HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                    let r = try c.readResponse()
                    #expect(r.status == code)
                    #expect(try c.readResponse().text == "Hello, World!", "no body bytes after \(code)")
                }
                let h = try RawClient(port: s.port)
                try h.send("HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                let hr = try h.readResponse(head: true)
                #expect(hr.header("Content-Length") == "13")
                #expect(try h.readResponse().text == "Hello, World!", "no body bytes after HEAD")
                let hg = try RawClient(port: s.port)
                try hg.send("HEAD /gen HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                _ = try hg.readResponse(head: true)
                #expect(try hg.readResponse().text == "Hello, World!")
            }
        }

        /// A body longer or shorter than the app's Content-Length never corrupts the next
        /// response: it is truncated, or the connection is closed.
        @Test func contentLengthMismatch() throws {
            try withServer(["testapp:application"]) { s in
                let long = try RawClient(port: s.port)
                try long.send("GET /cl-long HTTP/1.1\r\nHost: x\r\n\r\n")
                let r = try long.readResponse()
                #expect(r.text == "123")
                #expect(long.isClosedByServer())
                let short = try RawClient(port: s.port)
                try short.send("GET /cl-short HTTP/1.1\r\nHost: x\r\n\r\n")
                while try short.fill(timeout: 5) {}
                let text = String(decoding: short.buffer, as: UTF8.self)
                #expect(text.hasSuffix("\r\n\r\n12345"), "\(text)")
                let app = try RawClient(port: s.port)
                try app.send("GET /close-header HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(try app.readResponse().header("Connection") == "close")
                #expect(app.isClosedByServer())
            }
        }

        /// Invalid requests get an error status and a close; the app never sees them.
        @Test func rejectsMalformedRequests() throws {
            try withServer(["testapp:application"]) { s in
                for (raw, status) in [
                    ("GET / HTTP/1.1\r\n\r\n", 400),
                    ("GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n", 400),
                    ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
                    ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
                    ("GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505),
                    ("GET /" + String(repeating: "a", count: 9000) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414),
                    ("GET / HTTP/1.1\r\nHost: x\r\nX: " + String(repeating: "a", count: 9000) + "\r\n\r\n", 431),
                ] {
                    let c = try RawClient(port: s.port)
                    try c.send(raw)
                    let r = try c.readResponse()
                    #expect(r.status == status, "\(raw.prefix(60).debugDescription)")
                    #expect(r.header("Connection") == "close")
                    #expect(c.isClosedByServer())
                }
                let c = try RawClient(port: s.port)
                try c.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n")
                let bad = try c.readResponse()
                #expect(bad.status == 400, "an invalid chunk size is refused before the app runs")
                #expect(c.isClosedByServer())
            }
        }

        /// After a refusal the server reads (and drops) what the client still sends, so the close
        /// does not destroy the response; a client that keeps sending is cut at the 2 s
        /// lingering deadline all the same.
        @Test func lingeringEndsAtItsDeadline() throws {
            try withServer(["testapp:application"], workers: 1) { s in
                let c = try RawClient(port: s.port)
                try c.send("GET / HTTP/1.1\r\nBad Header: x\r\n\r\nmore request bytes")
                #expect(try c.readResponse().status == 400)
                let refused = Date()
                // While the server lingers it reads what we send; once it has closed, what we
                // send is answered with a reset, and a later send fails.
                var cutAfter: TimeInterval? = nil
                while cutAfter == nil && Date().timeIntervalSince(refused) < 6 {
                    do { try c.send("still sending ") } catch { cutAfter = Date().timeIntervalSince(refused) }
                    Thread.sleep(forTimeInterval: 0.1)
                }
                let after = try #require(cutAfter, "the lingering connection was never closed")
                #expect(after > 1.8 && after < 3, "closed \(after) s after the refusal; the deadline is 2 s")
            }
        }

        /// Unix socket listeners.
        @Test func unixSocket() throws {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
                "dispatchd-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let path = dir.appendingPathComponent("s.sock").path
            let server = try ServerProcess(["--bind", "unix:\(path)", "testapp:application"], workers: 1, bind: nil)
            let c = try RawClient(unixPath: path)
            try c.send("GET /environ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let r = try c.readResponse()
            #expect(r.status == 200)
            #expect(r.json["SERVER_PORT"] as? String == "0")
            server.stop()
            #expect(!FileManager.default.fileExists(atPath: path), "the socket file is removed at exit")
        }
    }
}
