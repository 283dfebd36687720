import Foundation
import Testing

extension IntegrationSuite {
    /// Issue 3: every RFC 9112 rule the parser enforces, sent as raw bytes to the real binary.
    /// Each must be answered with its status and a close, and the app (which answers 299) must
    /// never see the request.
    @Suite struct HTTPStrictnessTests {
        static let host = "Host: x\r\n"

        static let rules: [(rule: String, raw: String, status: Int)] = [
            (
                "Content-Length with Transfer-Encoding",
                "POST / HTTP/1.1\r\n\(host)Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400
            ),
            (
                "repeated Content-Length, different values",
                "POST / HTTP/1.1\r\n\(host)Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400
            ),
            (
                "list-valued Content-Length, different values",
                "POST / HTTP/1.1\r\n\(host)Content-Length: 5, 6\r\n\r\nhello!", 400
            ),
            ("Content-Length not a number", "POST / HTTP/1.1\r\n\(host)Content-Length: +5\r\n\r\nhello", 400),
            (
                "Content-Length overflow", "POST / HTTP/1.1\r\n\(host)Content-Length: 99999999999999999999999\r\n\r\n",
                400
            ),
            (
                "final transfer coding not chunked",
                "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked, gzip\r\n\r\n", 400
            ),
            (
                "a coding other than chunked",
                "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501
            ),
            ("chunked twice", "POST / HTTP/1.1\r\n\(host)Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400),
            ("Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
            ("bare LF after the request line", "GET / HTTP/1.1\n\(host)\r\n", 400),
            ("bare LF after a field", "GET / HTTP/1.1\r\nHost: x\n\r\n", 400),
            ("bare CR in a field", "GET / HTTP/1.1\r\n\(host)X: a\rb\r\n\r\n", 400),
            ("obs-fold", "GET / HTTP/1.1\r\n\(host)X: a\r\n  b\r\n\r\n", 400),
            ("whitespace before the colon", "GET / HTTP/1.1\r\n\(host)X : a\r\n\r\n", 400),
            ("NUL in a field name", "GET / HTTP/1.1\r\n\(host)X\u{0}Y: a\r\n\r\n", 400),
            ("NUL in a field value", "GET / HTTP/1.1\r\n\(host)X: a\u{0}b\r\n\r\n", 400),
            ("control character in a field value", "GET / HTTP/1.1\r\n\(host)X: a\u{1}b\r\n\r\n", 400),
            ("control character in the target", "GET /a\u{1}b HTTP/1.1\r\n\(host)\r\n", 400),
            ("DEL in the target", "GET /a\u{7f} HTTP/1.1\r\n\(host)\r\n", 400),
            ("invalid token in the method", "G(T / HTTP/1.1\r\n\(host)\r\n", 400),
            ("invalid token in a field name", "GET / HTTP/1.1\r\n\(host)X@Y: a\r\n\r\n", 400),
            ("missing Host in HTTP/1.1", "GET / HTTP/1.1\r\n\r\n", 400),
            ("repeated Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            ("invalid HTTP version", "GET / HTTP/1.x\r\n\(host)\r\n", 400),
            ("unsupported major version", "GET / HTTP/2.0\r\n\(host)\r\n", 505),
            ("asterisk-form outside OPTIONS", "GET * HTTP/1.1\r\n\(host)\r\n", 400),
            ("relative target", "GET a/b HTTP/1.1\r\n\(host)\r\n", 400),
            ("userinfo in an absolute-form target", "GET http://u:p@x/ HTTP/1.1\r\n\(host)\r\n", 400),
            ("unsupported expectation", "GET / HTTP/1.1\r\n\(host)Expect: 200-ok\r\n\r\n", 417),
        ]

        static let chunkRules: [(rule: String, body: String)] = [
            ("invalid chunk size", "x\r\nhello\r\n0\r\n\r\n"),
            ("chunk-size overflow", "fffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
            ("bad chunk extension", "5 junk\r\nhello\r\n0\r\n\r\n"),
            ("control character in a chunk extension", "5;a=\u{1}\r\nhello\r\n0\r\n\r\n"),
            ("missing CRLF after chunk data", "5\r\nhelloXX0\r\n\r\n"),
            ("bare LF after the chunk size", "5\nhello\r\n0\r\n\r\n"),
            ("framing field in trailers", "5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n"),
        ]

        /// Each head rule: the status, a close, and the app never called.
        @Test func headRules() throws {
            try withServer(["--no-access-log", "testapp:corpus_app"], workers: 1) { s in
                for (rule, raw, status) in Self.rules {
                    let c = try RawClient(port: s.port)
                    try c.send(Array(raw.utf8) + Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
                    let r = try c.readResponse()
                    #expect(r.status == status, "\(rule)")
                    #expect(r.header("Connection") == "close", "\(rule)")
                    #expect(c.isClosedByServer(), "\(rule): the connection stays open")
                }
            }
        }

        /// Content-Length as a list of identical values ("5, 5", the field twice, "5," with an
        /// empty member) is processed as that one value (RFC 9112 §6.3): the body is framed with
        /// it (the request after it on the connection is answered), and the app's
        /// int(environ['CONTENT_LENGTH']) is the length of the body it read. Differing values
        /// (in one field or two), a member with a parameter and a field with no value are still
        /// 400 with a close.
        @Test func contentLengthLists() throws {
            try withServer(["--no-access-log", "testapp:application"], workers: 1) { s in
                for fields in [
                    "Content-Length: 5, 5", "Content-Length: 5\r\nContent-Length: 5", "Content-Length: 5,",
                    "Content-Length: ,5 ,, 5", "Content-Length: 005",
                ] {
                    let c = try RawClient(port: s.port)
                    try c.send(
                        "POST /content-length HTTP/1.1\r\n\(Self.host)\(fields)\r\n\r\nhello"
                            + "GET /hello HTTP/1.1\r\n\(Self.host)\r\n")
                    let r = try c.readResponse()
                    #expect(r.status == 200, "\(fields.debugDescription): \(r.status) \(r.text)")
                    #expect(r.text == "5 5 b'hello'", "\(fields.debugDescription)")
                    let next = try c.readResponse()
                    #expect(
                        next.status == 200 && next.text == "Hello, World!", "\(fields.debugDescription): after the body"
                    )
                }
                for fields in [
                    "Content-Length: 5, 6", "Content-Length: 5,\r\nContent-Length: 6", "Content-Length: 5, 5;x=1",
                    "Content-Length: 5\r\nContent-Length: ,",
                ] {
                    let c = try RawClient(port: s.port)
                    try c.send("POST /content-length HTTP/1.1\r\n\(Self.host)\(fields)\r\n\r\nhello!")
                    let r = try c.readResponse()
                    #expect(r.status == 400, "\(fields.debugDescription): \(r.status) \(r.text)")
                    #expect(c.isClosedByServer(), "\(fields.debugDescription): the connection stays open")
                }
            }
        }

        /// Each chunked-body rule: 400 before the app runs (the body is read on the loop first),
        /// nothing after it on the connection is read as a request, and the connection is closed.
        @Test func chunkedBodyRules() throws {
            try withServer(["--no-access-log", "testapp:corpus_app"], workers: 1) { s in
                for (rule, body) in Self.chunkRules {
                    let c = try RawClient(port: s.port)
                    try c.send(
                        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body
                            + "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    let r = try c.readResponse()
                    #expect(r.status == 400, "\(rule): \(r.status) \(r.text)")
                    #expect(c.isClosedByServer(), "\(rule): a request after the bad body was answered")
                }
            }
        }
    }
}
