import Testing

@testable import DHTTP1

/// Limits that the ordinary tests do not come near (the server's defaults).
let roomyLimits = HTTPLimits(requestLine: 8192, fieldLine: 8192, headSize: 65536, fieldCount: 100)

/// Parses `text` fed whole, byte by byte, and split at every index; all must agree.
func parseAllWays(_ text: String, limits: HTTPLimits = roomyLimits) -> (RequestHeadParser.Result, RequestHead, [UInt8])
{
    let bytes = Array(text.utf8)
    func feed(_ cuts: [Int]) -> (RequestHeadParser.Result, RequestHead) {
        var parser = RequestHeadParser(limits: limits)
        var head = RequestHead()
        var result = RequestHeadParser.Result.incomplete
        for cut in cuts + [bytes.count] {
            result = bytes.withUnsafeBytes { parser.parse(UnsafeRawBufferPointer(rebasing: $0[0..<cut]), into: &head) }
            if result != .incomplete { break }
        }
        return (result, head)
    }
    let whole = feed([])
    for i in 0...bytes.count {
        let split = feed([i])
        #expect(split.0 == whole.0, "split at \(i) of \(text.debugDescription)")
    }
    let dripped = feed(Array(0...bytes.count))
    #expect(dripped.0 == whole.0)
    if whole.0 == .complete { #expect(dripped.1.fields == whole.1.fields) }
    return (whole.0, whole.1, bytes)
}

func string(_ bytes: [UInt8], _ r: Range<Int>) -> String { String(decoding: bytes[r], as: UTF8.self) }

@Suite struct RequestHeadParserTests {
    @Test func parsesSimpleGet() {
        let (result, head, b) = parseAllWays("GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n")
        #expect(result == .complete)
        #expect(string(b, head.method) == "GET")
        #expect(head.methodKind == .get)
        #expect(string(b, head.target) == "/a/b?x=1")
        #expect(head.versionMinor == 1)
        #expect(head.fields.count == 2)
        #expect(string(b, head.fields[1].name) == "User-Agent")
        #expect(string(b, head.fields[1].value) == "t")
        #expect(head.keepAlive)
        #expect(head.length == b.count)
    }

    @Test func trimsValueWhitespaceAndSkipsLeadingEmptyLines() {
        let (result, head, b) = parseAllWays(
            "\r\nPOST / HTTP/1.1\r\nHost: h\r\nX-A: \t v v \t\r\nContent-Length: 5\r\n\r\nhello")
        #expect(result == .complete)
        #expect(string(b, head.fields[1].value) == "v v")
        #expect(head.contentLength == 5)
        #expect(head.length == b.count - 5)
    }

    @Test func http10DefaultsToClose() {
        #expect(parseAllWays("GET / HTTP/1.0\r\n\r\n").1.keepAlive == false)
        #expect(parseAllWays("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").1.keepAlive == true)
        #expect(parseAllWays("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").1.keepAlive == false)
    }

    @Test func chunkedAndExpect() {
        let (r, head, _) = parseAllWays(
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n")
        #expect(r == .complete)
        #expect(head.chunked)
        #expect(head.expectContinue)
    }

    @Test(arguments: [
        ("GET / HTTP/1.1\nHost: h\r\n\r\n", 400),  // bare LF
        ("GET / HTTP/1.1\r\nHost: h\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400),  // bare CR
        ("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400),  // obs-fold
        ("GET / HTTP/1.1\r\nHost: h\r\nX : a\r\n\r\n", 400),  // space before colon
        ("GET / HTTP/1.1\r\nHost: h\r\nX\u{0}: a\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: h\r\nX: a\u{0}b\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\n\r\n", 400),  // no Host
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        ("G@T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        ("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        ("GET /a\u{7f} HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        ("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
        ("GET / HTTP/1.x\r\nHost: h\r\n\r\n", 400),
        ("GET / FOO/1.1\r\nHost: h\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 4\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3,\r\nContent-Length: 4\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3;x=1\r\n\r\n", 400),  // not a list of decimals
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3 3\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: ,\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: , \r\n\r\n", 400),  // a line with no value
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1e3\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nExpect: something\r\n\r\n", 417),
    ])
    func rejects(_ text: String, _ status: Int) {
        let (result, _, _) = parseAllWays(text)
        guard case .invalid(let error) = result else {
            Issue.record("accepted \(text.debugDescription)")
            return
        }
        #expect(error.status == status, "\(text.debugDescription): \(error)")
    }

    /// A list of identical values is that one value (RFC 9112 §6.3), empty members ignored
    /// (RFC 9110 §5.6.1); the environ gets the one decimal the body is framed with.
    @Test(arguments: [
        "Content-Length: 5, 5",
        "Content-Length: 5\r\nContent-Length: 5",
        "Content-Length: 5,",
        "Content-Length: ,5,\t, 5 ",
        "Content-Length: 5, 5\r\nContent-Length: 5",
        "Content-Length: 005",
    ])
    func collapsesIdenticalContentLengths(_ fields: String) {
        let (r, head, _) = parseAllWays("POST / HTTP/1.1\r\nHost: h\r\n\(fields)\r\n\r\n")
        #expect(r == .complete, "\(fields.debugDescription)")
        #expect(head.contentLength == 5, "\(fields.debugDescription)")
        #expect(!head.chunked)
        #expect(EnvironMapping.contentLength(of: head) == "5", "\(fields.debugDescription)")
    }

    @Test func contentLengthEnvironIsAbsentWithoutALength() {
        let chunked = parseAllWays("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n").1
        #expect(EnvironMapping.contentLength(of: chunked) == nil)
        let none = parseAllWays("GET / HTTP/1.1\r\nHost: h\r\n\r\n").1
        #expect(EnvironMapping.contentLength(of: none) == nil)
        let zero = parseAllWays("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n").1
        #expect(EnvironMapping.contentLength(of: zero) == "0")
    }

    @Test func limits() {
        let limits = HTTPLimits(requestLine: 20, fieldLine: 20, headSize: 100, fieldCount: 2)
        let long = "GET /" + String(repeating: "a", count: 30) + " HTTP/1.1\r\nHost: h\r\n\r\n"
        #expect(parseAllWays(long, limits: limits).0 == .invalid(HTTPError(414, "request line too long")))
        let bigField = "GET / HTTP/1.1\r\nHost: h\r\nX: " + String(repeating: "a", count: 30) + "\r\n\r\n"
        #expect(parseAllWays(bigField, limits: limits).0 == .invalid(HTTPError(431, "header field too large")))
        let many = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"
        #expect(parseAllWays(many, limits: limits).0 == .invalid(HTTPError(431, "too many header fields")))
        // An incomplete request line over the limit is refused before its end arrives.
        var parser = RequestHeadParser(limits: limits)
        var head = RequestHead()
        let partial = Array(("GET /" + String(repeating: "b", count: 40)).utf8)
        let r = partial.withUnsafeBytes { parser.parse($0, into: &head) }
        #expect(r == .invalid(HTTPError(414, "request line too long")))
    }

    @Test func resetParsesNextPipelinedRequest() {
        let text = Array("GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n".utf8)
        var parser = RequestHeadParser(limits: roomyLimits)
        var head = RequestHead()
        let first = text.withUnsafeBytes { parser.parse($0, into: &head) }
        #expect(first == .complete)
        let used = head.length
        parser.reset()
        let second = text.withUnsafeBytes { parser.parse(UnsafeRawBufferPointer(rebasing: $0[used...]), into: &head) }
        #expect(second == .complete)
        #expect(string(Array(text[used...]), head.target) == "/2")
    }
}
