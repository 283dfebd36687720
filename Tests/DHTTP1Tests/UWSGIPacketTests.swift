import Testing

@testable import DHTTP1

/// A uwsgi packet: the 4-byte header (datasize little-endian, the real size unless `dataSize` says otherwise), then
/// `data` (the encoded vars), then `body`.
private func uwsgiPacket(
    data: [UInt8], modifier1: UInt8 = 0, modifier2: UInt8 = 0, dataSize: Int? = nil, body: [UInt8] = []
) -> [UInt8] {
    let size = dataSize ?? data.count
    return [modifier1, UInt8(size & 0xFF), UInt8(size >> 8), modifier2] + data + body
}

/// The vars encoded as the packet's data: 16-bit little-endian key size, key, value size, value.
private func uwsgiVars(_ vars: [(name: [UInt8], value: [UInt8])]) -> [UInt8] {
    var data: [UInt8] = []
    for (name, value) in vars {
        data += [UInt8(name.count & 0xFF), UInt8(name.count >> 8)] + name
        data += [UInt8(value.count & 0xFF), UInt8(value.count >> 8)] + value
    }
    return data
}

/// A packet of UTF-8 vars (repeats allowed, in order), followed by `body`.
private func uwsgiPacket(_ vars: KeyValuePairs<String, String>, body: [UInt8] = []) -> [UInt8] {
    uwsgiPacket(data: uwsgiVars(vars.map { (Array($0.key.utf8), Array($0.value.utf8)) }), body: body)
}

private func parseUWSGI(_ bytes: [UInt8], maxSize: Int = 4 + 65535) -> UWSGIPacket.Outcome {
    bytes.withUnsafeBytes { UWSGIPacket.parse($0, maxSize: maxSize) }
}

/// The request of a `.complete` outcome; nil (and a failed expectation) for any other.
private func completeRequest(
    _ outcome: UWSGIPacket.Outcome, sourceLocation: SourceLocation = #_sourceLocation
) -> UWSGIPacket.Request? {
    guard case .complete(let request) = outcome else {
        Issue.record("expected a complete packet, got \(outcome)", sourceLocation: sourceLocation)
        return nil
    }
    return request
}

/// The status of an `.invalid` outcome, nil for any other.
private func refusal(_ outcome: UWSGIPacket.Outcome) -> HTTPError? {
    guard case .invalid(let error) = outcome else { return nil }
    return error
}

/// A synthesized head as the server's strict parser reads it.
private struct ParsedHead {
    var result: RequestHeadParser.Result
    var head: RequestHead
    var bytes: [UInt8]

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        var parser = RequestHeadParser(
            limits: HTTPLimits(requestLine: 8192, fieldLine: 8192, headSize: 65536, fieldCount: 100))
        var head = RequestHead()
        result = bytes.withUnsafeBytes { parser.parse($0, into: &head) }
        self.head = head
    }

    func text(_ r: Range<Int>) -> String { String(decoding: bytes[r], as: UTF8.self) }
    var method: String { text(head.method) }
    var target: String { text(head.target) }
    /// (name upper-cased, value) for every field, in order.
    var fields: [String] { head.fields.map { "\(text($0.name).uppercased()): \(text($0.value))" } }
}

@Suite struct UWSGIPacketTests {
    /// What nginx's uwsgi_params sends for `GET /search?q=swift&page=2`, with a few request headers.
    let getVars: KeyValuePairs<String, String> = [
        "QUERY_STRING": "q=swift&page=2",
        "REQUEST_METHOD": "GET",
        "CONTENT_TYPE": "",
        "CONTENT_LENGTH": "",
        "REQUEST_URI": "/search?q=swift&page=2",
        "PATH_INFO": "/search",
        "DOCUMENT_ROOT": "/srv/www",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.7",
        "REMOTE_PORT": "51234",
        "SERVER_PORT": "80",
        "SERVER_NAME": "example.com",
        "HTTP_HOST": "example.com",
        "HTTP_X_FORWARDED_FOR": "198.51.100.1, 203.0.113.7",
        "HTTP_ACCEPT": "*/*",
        "HTTP_CONNECTION": "keep-alive",
    ]

    @Test func getWithQueryAndHeaders() throws {
        let bytes = uwsgiPacket(getVars)
        let request = try #require(completeRequest(parseUWSGI(bytes)))
        #expect(request.packetLength == bytes.count)
        #expect(request.vars == getVars.map { UWSGIPacket.Request.Var(name: $0.key, value: $0.value) })
        #expect(
            String(decoding: request.httpHead, as: UTF8.self)
                == "GET /search?q=swift&page=2 HTTP/1.0\r\nHOST: example.com\r\n"
                + "X-FORWARDED-FOR: 198.51.100.1, 203.0.113.7\r\nACCEPT: */*\r\n\r\n")

        let parsed = ParsedHead(request.httpHead)
        #expect(parsed.result == .complete)
        #expect(parsed.head.length == request.httpHead.count)
        #expect(parsed.method == "GET")
        #expect(parsed.head.methodKind == .get)
        #expect(parsed.target == "/search?q=swift&page=2")
        #expect(parsed.head.versionMinor == 0)
        #expect(
            parsed.fields == [
                "HOST: example.com", "X-FORWARDED-FOR: 198.51.100.1, 203.0.113.7", "ACCEPT: */*",
            ])
        #expect(parsed.head.contentLength == nil)
        #expect(!parsed.head.chunked)
        #expect(!parsed.head.hasBody)
        #expect(parsed.head.keepAlive == false)  // HTTP/1.0, and the front server's Connection is dropped
    }

    @Test func postWithContentLengthAndBody() throws {
        let body = Array("{\"a\": 1}\n".utf8)
        let bytes = uwsgiPacket(
            [
                "REQUEST_METHOD": "POST", "REQUEST_URI": "/api/items", "CONTENT_TYPE": "application/json",
                "CONTENT_LENGTH": "\(body.count)", "HTTP_HOST": "api.example.com", "HTTP_CONTENT_LENGTH": "100",
                "HTTP_CONTENT_TYPE": "application/json",
            ],
            body: body)
        let request = try #require(completeRequest(parseUWSGI(bytes)))
        #expect(request.packetLength == bytes.count - body.count)
        #expect(Array(bytes[request.packetLength...]) == body)

        let parsed = ParsedHead(request.httpHead)
        #expect(parsed.result == .complete)
        #expect(parsed.method == "POST")
        #expect(parsed.head.methodKind == .post)
        #expect(parsed.target == "/api/items")
        #expect(parsed.fields == ["HOST: api.example.com", "CONTENT-TYPE: application/json", "CONTENT-LENGTH: 9"])
        #expect(parsed.head.contentLength == body.count)
        #expect(parsed.head.keepAlive == false)

        // Only part of the body has arrived: the packet is complete all the same.
        let partial = Array(bytes[..<(request.packetLength + 3)])
        #expect(parseUWSGI(partial) == .complete(request))
    }

    @Test func incompleteAtEverySplitPoint() throws {
        let bytes = uwsgiPacket(getVars)
        for cut in 0..<bytes.count {
            #expect(parseUWSGI(Array(bytes[..<cut])) == .incomplete, "prefix of \(cut) of \(bytes.count) bytes")
        }
        let whole = try #require(completeRequest(parseUWSGI(bytes)))
        #expect(parseUWSGI(bytes + Array("trailing body".utf8)) == .complete(whole))
    }

    @Test func datasizeOverMaxSizeIs431AsSoonAsTheHeaderIsThere() {
        let bytes = uwsgiPacket(getVars)
        #expect(completeRequest(parseUWSGI(bytes, maxSize: bytes.count)) != nil)
        let tooLarge = HTTPError(431, "uwsgi packet too large")
        #expect(parseUWSGI(bytes, maxSize: bytes.count - 1) == .invalid(tooLarge))
        #expect(parseUWSGI(Array(bytes[..<4]), maxSize: bytes.count - 1) == .invalid(tooLarge))
        #expect(parseUWSGI(Array(bytes[..<3]), maxSize: bytes.count - 1) == .incomplete)
        // 0xFFFF vars bytes: datasize is little-endian, so the high byte counts 256 each.
        #expect(parseUWSGI([0, 0xFF, 0xFF, 0], maxSize: 4096) == .invalid(tooLarge))
        #expect(parseUWSGI([0, 0x00, 0x10, 0], maxSize: 4096) == .invalid(tooLarge))  // 4 + 4096
        #expect(parseUWSGI([0, 0xFC, 0x0F, 0], maxSize: 4096) == .incomplete)  // 4 + 4092
    }

    @Test func otherModifiersAre501() {
        let bytes = uwsgiPacket(getVars)
        var psgi = bytes
        psgi[0] = 5
        #expect(parseUWSGI(psgi) == .invalid(HTTPError(501, "unsupported uwsgi modifier1 5")))
        #expect(parseUWSGI(Array(psgi[..<4])) == .invalid(HTTPError(501, "unsupported uwsgi modifier1 5")))
        var modifier2 = bytes
        modifier2[3] = 1
        #expect(parseUWSGI(modifier2) == .invalid(HTTPError(501, "unsupported uwsgi modifier2 1")))
    }

    @Test func truncatedVarIs400() {
        let truncated = HTTPError(400, "truncated uwsgi var")
        let method = uwsgiVars([(Array("REQUEST_METHOD".utf8), Array("GET".utf8))])
        // The value's size says 10 bytes; 3 are there before datasize ends.
        #expect(parseUWSGI(uwsgiPacket(data: method + [1, 0, 65, 10, 0, 66, 67, 68])) == .invalid(truncated))
        // The key's size says 300 bytes.
        #expect(parseUWSGI(uwsgiPacket(data: method + [0x2C, 0x01, 65, 66])) == .invalid(truncated))
        // One byte of a key size; no value size after a key.
        #expect(parseUWSGI(uwsgiPacket(data: method + [1])) == .invalid(truncated))
        #expect(parseUWSGI(uwsgiPacket(data: method + [1, 0, 65])) == .invalid(truncated))
        // Body bytes after datasize are not read as vars.
        #expect(
            parseUWSGI(uwsgiPacket(data: method + [1, 0, 65, 10, 0], body: Array("0123456789".utf8)))
                == .invalid(truncated))
    }

    @Test func controlBytesAndEmptyNamesAre400() {
        let cr = uwsgiPacket(["REQUEST_METHOD": "GET", "HTTP_X_A": "a\rInjected: yes"])
        #expect(parseUWSGI(cr) == .invalid(HTTPError(400, "CR, LF or NUL in uwsgi var HTTP_X_A")))
        let lf = uwsgiPacket(["REQUEST_METHOD": "GET", "REQUEST_URI": "/a\nb"])
        #expect(refusal(parseUWSGI(lf))?.status == 400)
        let nul = uwsgiPacket(["REQUEST_METHOD": "GET", "X\u{0}Y": "v"])
        #expect(parseUWSGI(nul) == .invalid(HTTPError(400, "CR, LF or NUL in a uwsgi var name")))
        let empty = uwsgiPacket(["REQUEST_METHOD": "GET", "": "v"])
        #expect(parseUWSGI(empty) == .invalid(HTTPError(400, "empty uwsgi var name")))
        // Other controls are fine in vars the head does not carry, not in a field value.
        #expect(completeRequest(parseUWSGI(uwsgiPacket(["REQUEST_METHOD": "GET", "X": "\u{1}"]))) != nil)
        let field = uwsgiPacket(["REQUEST_METHOD": "GET", "HTTP_X_A": "a\u{7F}"])
        #expect(parseUWSGI(field) == .invalid(HTTPError(400, "invalid character in uwsgi var HTTP_X_A")))
        let name = uwsgiPacket(["REQUEST_METHOD": "GET", "HTTP_X A": "a"])
        #expect(parseUWSGI(name) == .invalid(HTTPError(400, "invalid header name in uwsgi var HTTP_X A")))
    }

    @Test func requestMethodIsRequired() {
        let missing = HTTPError(400, "missing REQUEST_METHOD")
        #expect(parseUWSGI(uwsgiPacket(["REQUEST_URI": "/", "HTTP_HOST": "h"])) == .invalid(missing))
        #expect(parseUWSGI(uwsgiPacket(["REQUEST_METHOD": "", "REQUEST_URI": "/"])) == .invalid(missing))
        #expect(parseUWSGI(uwsgiPacket(data: [])) == .invalid(missing))
        let spaced = uwsgiPacket(["REQUEST_METHOD": "GET /x", "REQUEST_URI": "/"])
        #expect(parseUWSGI(spaced) == .invalid(HTTPError(400, "invalid REQUEST_METHOD")))
    }

    @Test func framingAndHopFieldsAreDropped() throws {
        let bytes = uwsgiPacket([
            "REQUEST_METHOD": "PUT", "REQUEST_URI": "/u", "CONTENT_LENGTH": "5",
            "HTTP_TRANSFER_ENCODING": "chunked", "HTTP_Transfer_Encoding": "chunked",
            "HTTP_TRANSFER-ENCODING": "chunked", "HTTP_CONNECTION": "keep-alive", "HTTP_KEEP_ALIVE": "300",
            "HTTP_UPGRADE": "websocket", "HTTP_TE": "trailers", "HTTP_TRAILER": "X", "HTTP_PROXY_CONNECTION": "close",
            "HTTP_X_KEPT": "1",
        ])
        let request = try #require(completeRequest(parseUWSGI(bytes)))
        #expect(request.vars.count == 13)  // the vars themselves are all there
        #expect(
            String(decoding: request.httpHead, as: UTF8.self)
                == "PUT /u HTTP/1.0\r\nX-KEPT: 1\r\nContent-Length: 5\r\n\r\n")
        let parsed = ParsedHead(request.httpHead)
        #expect(parsed.result == .complete)
        #expect(!parsed.head.chunked)
        #expect(!parsed.head.upgrade)
        #expect(!parsed.head.keepAlive)
        #expect(parsed.head.contentLength == 5)
    }

    @Test(arguments: ["12a", "-1", " 5", "5 ", "0x10", "1e3", "1234567890123456789"])
    func nonDigitContentLengthIs400(_ length: String) {
        let bytes = uwsgiPacket(["REQUEST_METHOD": "POST", "REQUEST_URI": "/", "CONTENT_LENGTH": length])
        #expect(parseUWSGI(bytes) == .invalid(HTTPError(400, "invalid CONTENT_LENGTH")), "\(length)")
    }

    @Test func contentLengthLeadingZerosAndEmptyType() throws {
        let bytes = uwsgiPacket([
            "REQUEST_METHOD": "POST", "PATH_INFO": "/", "CONTENT_TYPE": "", "CONTENT_LENGTH": "007",
        ])
        let parsed = ParsedHead(try #require(completeRequest(parseUWSGI(bytes))).httpHead)
        #expect(parsed.result == .complete)
        #expect(parsed.head.contentLength == 7)
        #expect(parsed.fields == ["CONTENT-LENGTH: 007"])
    }

    @Test func pathInfoIsPercentEncodedWithoutRequestURI() throws {
        // "/a b/caf\u{E9}%?/x:@!$&'()*+,;=~-._" and a query with a space and a "#".
        let path: [UInt8] = Array("/a b/caf".utf8) + [0xE9] + Array("%?/x:@!$&'()*+,;=~-._".utf8)
        let bytes = uwsgiPacket(
            data: uwsgiVars([
                (Array("REQUEST_METHOD".utf8), Array("GET".utf8)), (Array("PATH_INFO".utf8), path),
                (Array("QUERY_STRING".utf8), Array("q=a b#c&d=%20".utf8)), (Array("REQUEST_URI".utf8), []),
            ]))
        let request = try #require(completeRequest(parseUWSGI(bytes)))
        let parsed = ParsedHead(request.httpHead)
        #expect(parsed.result == .complete)
        #expect(parsed.target == "/a%20b/caf%E9%25%3F/x:@!$&'()*+,;=~-._?q=a%20b%23c&d=%20")
        // The server's environ mapping decodes the path back to PATH_INFO's bytes.
        let decoded: [UInt8] = parsed.bytes.withUnsafeBytes { raw in
            let (pathRange, _) = EnvironMapping.split(raw, target: parsed.head.target)
            var out: [UInt8] = []
            EnvironMapping.decodePath(raw, pathRange, target: parsed.head.target, into: &out)
            return out
        }
        #expect(decoded == path)
    }

    @Test(
        arguments: [
            (["PATH_INFO": "", "QUERY_STRING": ""], "/"),
            ([:], "/"),
            (["QUERY_STRING": "x=1"], "/?x=1"),
            (["PATH_INFO": "rel/p"], "/rel/p"),
            (["PATH_INFO": "/p", "REQUEST_URI": ""], "/p"),
            (
                ["PATH_INFO": "/ignored", "QUERY_STRING": "ignored", "REQUEST_URI": "/raw%2Fpath?x=1"],
                "/raw%2Fpath?x=1"
            ),
            (["REQUEST_URI": "/a b\u{7F}"], "/a%20b%7F"),
        ] as [([String: String], String)])
    func targetChoice(_ vars: [String: String], _ target: String) throws {
        var all: [(name: [UInt8], value: [UInt8])] = [(Array("REQUEST_METHOD".utf8), Array("GET".utf8))]
        for (name, value) in vars.sorted(by: { $0.key < $1.key }) { all.append((Array(name.utf8), Array(value.utf8))) }
        let request = try #require(completeRequest(parseUWSGI(uwsgiPacket(data: uwsgiVars(all)))))
        let parsed = ParsedHead(request.httpHead)
        #expect(parsed.result == .complete)
        #expect(parsed.target == target)
    }

    @Test func varsAreDecodedAsLatin1() throws {
        let bytes = uwsgiPacket(
            data: uwsgiVars([
                (Array("REQUEST_METHOD".utf8), Array("GET".utf8)),
                (Array("HTTP_X_NAME".utf8), Array("caf".utf8) + [0xE9]),
                ([0x58, 0xE9], [0x80, 0xFF, 0x41]),
            ]))
        let request = try #require(completeRequest(parseUWSGI(bytes)))
        #expect(request.vars[1] == UWSGIPacket.Request.Var(name: "HTTP_X_NAME", value: "caf\u{E9}"))
        #expect(request.vars[1].value.unicodeScalars.map(\.value) == [0x63, 0x61, 0x66, 0xE9])
        #expect(request.vars[2] == UWSGIPacket.Request.Var(name: "X\u{E9}", value: "\u{80}\u{FF}A"))
        // The head carries the field's byte as it came (obs-text), not its UTF-8 spelling.
        let parsed = ParsedHead(request.httpHead)
        #expect(parsed.result == .complete)
        #expect(Array(parsed.bytes[parsed.head.fields[0].value]) == Array("caf".utf8) + [0xE9])
    }

    @Test func lastOfARepeatedVarCounts() throws {
        let bytes = uwsgiPacket([
            "REQUEST_METHOD": "GET", "REQUEST_METHOD": "DELETE", "REQUEST_URI": "/a", "REQUEST_URI": "/b",
        ])
        let request = try #require(completeRequest(parseUWSGI(bytes)))
        #expect(request.vars.count == 4)
        #expect(String(decoding: request.httpHead, as: UTF8.self) == "DELETE /b HTTP/1.0\r\n\r\n")
    }
}
