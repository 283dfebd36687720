/// Parses the request packet of uWSGI's binary protocol, which nginx sends with `uwsgi_pass` (and Apache with
/// mod_proxy_uwsgi): a 4-byte header (modifier1, a 16-bit little-endian datasize, modifier2), then datasize bytes
/// of CGI-style vars, each a 16-bit little-endian key size, the key, a 16-bit value size and the value. The request
/// body, CONTENT_LENGTH bytes, follows the packet.
///
/// Rather than a second way into the server, a packet is turned into the HTTP/1.0 request head it stands for, and
/// `RequestHeadParser` parses that like any other head: one set of rules routes requests and frames bodies. The head
/// is built so that the strict parser accepts its syntax: a byte a request line or field line cannot carry is
/// percent-encoded in the target and refused (400) anywhere else. Rules about meaning (one valid Host, Expect) stay
/// with the parser.
public enum UWSGIPacket {
    /// A complete packet: its vars, and the head that stands for it.
    public struct Request: Sendable, Equatable {
        /// One var as the front server sent it (CGI-style: REQUEST_METHOD, HTTP_HOST, REMOTE_ADDR, ...).
        public struct Var: Sendable, Equatable {
            public var name: String
            public var value: String

            public init(name: String, value: String) {
                self.name = name
                self.value = value
            }
        }

        /// 4 + datasize: where the body starts.
        public var packetLength: Int
        /// Every var in order, decoded as ISO-8859-1 (latin-1), like WSGI's environ strings.
        public var vars: [Var]
        /// An HTTP/1.0 request head (bytes, ending with CRLF CRLF) equivalent to the packet, for the server's
        /// ordinary strict HTTP parser: it frames the body and routes the request.
        public var httpHead: [UInt8]
    }

    public enum Outcome: Sendable, Equatable {
        /// The packet has not all arrived; call again with more bytes.
        case incomplete
        case invalid(HTTPError)
        case complete(Request)
    }

    /// Parses the packet at the start of `bytes`, what has arrived so far (the packet, perhaps followed by body
    /// bytes). `maxSize` is the largest packet accepted, header included: a larger datasize is refused (431) as soon
    /// as the header is there, before its vars are waited for.
    ///
    /// A var seen twice counts with its last value, as in uWSGI's environ; every occurrence stays in `vars`.
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxSize: Int) -> Outcome {
        guard bytes.count >= 4 else { return .incomplete }
        // modifier1 0 with modifier2 0 is a WSGI request; other values are other languages' requests or uWSGI's own
        // services (signals, the spooler, cache commands), which this server does not offer.
        if bytes[0] != 0 { return .invalid(HTTPError(501, "unsupported uwsgi modifier1 \(bytes[0])")) }
        if bytes[3] != 0 { return .invalid(HTTPError(501, "unsupported uwsgi modifier2 \(bytes[3])")) }
        let packetLength = 4 + (Int(bytes[1]) | Int(bytes[2]) << 8)
        if packetLength > maxSize { return .invalid(HTTPError(431, "uwsgi packet too large")) }
        guard bytes.count >= packetLength else { return .incomplete }

        var spans: [VarSpan] = []
        spans.reserveCapacity(32)
        var known = KnownVars()
        var p = 4
        while p < packetLength {
            guard let name = sizedRange(bytes, at: &p, end: packetLength),
                let value = sizedRange(bytes, at: &p, end: packetLength)
            else { return .invalid(.bad("truncated uwsgi var")) }
            if name.isEmpty { return .invalid(.bad("empty uwsgi var name")) }
            if containsLineBreakOrNUL(bytes, name) { return .invalid(.bad("CR, LF or NUL in a uwsgi var name")) }
            if containsLineBreakOrNUL(bytes, value) {
                return .invalid(.bad("CR, LF or NUL in uwsgi var \(latin1(bytes, name))"))
            }
            known.note(bytes, name: name, value: value)
            spans.append(VarSpan(name: name, value: value))
        }

        let head: [UInt8]
        do throws(HTTPError) {
            head = try httpHead(bytes, spans, known, capacity: packetLength)
        } catch {
            return .invalid(error)
        }
        var vars: [Request.Var] = []
        vars.reserveCapacity(spans.count)
        for span in spans {
            vars.append(Request.Var(name: latin1(bytes, span.name), value: latin1(bytes, span.value)))
        }
        return .complete(Request(packetLength: packetLength, vars: vars, httpHead: head))
    }

    /// Where one var's name and value are in the packet.
    struct VarSpan {
        var name: Range<Int>
        var value: Range<Int>
    }

    /// The vars the request line and the framing fields are made from (the last of each, when repeated).
    struct KnownVars {
        var method: Range<Int>?
        var requestURI: Range<Int>?
        var pathInfo: Range<Int>?
        var queryString: Range<Int>?
        var contentType: Range<Int>?
        var contentLength: Range<Int>?

        mutating func note(_ b: UnsafeRawBufferPointer, name: Range<Int>, value: Range<Int>) {
            if UWSGIPacket.equals(b, name, "REQUEST_METHOD") {
                method = value
            } else if UWSGIPacket.equals(b, name, "REQUEST_URI") {
                requestURI = value
            } else if UWSGIPacket.equals(b, name, "PATH_INFO") {
                pathInfo = value
            } else if UWSGIPacket.equals(b, name, "QUERY_STRING") {
                queryString = value
            } else if UWSGIPacket.equals(b, name, "CONTENT_TYPE") {
                contentType = value
            } else if UWSGIPacket.equals(b, name, "CONTENT_LENGTH") {
                contentLength = value
            }
        }
    }

    /// Fields an HTTP_* var does not become: the front server has already framed the body and ended its own hop, so
    /// framing must come only from CONTENT_LENGTH, and these would contradict it or describe the other connection.
    static let hopFields: [StaticString] = [
        "connection", "keep-alive", "transfer-encoding", "content-length", "content-type", "upgrade", "te",
        "trailer", "proxy-connection",
    ]

    /// The HTTP/1.0 head equivalent to the vars: the request line, a field per HTTP_* var (less `hopFields`),
    /// Content-Type and Content-Length from their CGI vars, and the empty line.
    static func httpHead(
        _ b: UnsafeRawBufferPointer, _ spans: [VarSpan], _ known: KnownVars, capacity: Int
    ) throws(HTTPError) -> [UInt8] {
        guard let method = known.method, !method.isEmpty else { throw .bad("missing REQUEST_METHOD") }
        var head: [UInt8] = []
        head.reserveCapacity(capacity + 64)
        for i in method {
            guard ByteClass.token[Int(b[i])] else { throw .bad("invalid REQUEST_METHOD") }
            head.append(b[i])
        }
        head.append(32)
        appendTarget(b, known, to: &head)
        head.append(contentsOf: " HTTP/1.0\r\n".utf8)

        for span in spans where span.name.count >= 5 && equals(b, span.name.prefix(5), "HTTP_") {
            let name = span.name.dropFirst(5)
            if hopFields.contains(where: { fieldName(b, name, is: $0) }) { continue }
            if name.isEmpty { throw .bad("invalid header name in uwsgi var \(latin1(b, span.name))") }
            for i in name {
                let c = b[i] == 95 ? 45 : b[i]  // "_" is "-"
                guard ByteClass.token[Int(c)] else {
                    throw .bad("invalid header name in uwsgi var \(latin1(b, span.name))")
                }
                head.append(c)
            }
            head.append(contentsOf: ": ".utf8)
            try appendFieldValue(b, span.value, of: span.name, to: &head)
        }

        if let type = known.contentType, !type.isEmpty {
            head.append(contentsOf: "Content-Type: ".utf8)
            try appendFieldValue(b, type, of: 0..<0, to: &head)
        }
        if let length = known.contentLength, !length.isEmpty {
            // At most 18 digits, as RequestHeadParser takes a Content-Length.
            guard length.count <= 18, length.allSatisfy({ b[$0] >= 48 && b[$0] <= 57 }) else {
                throw .bad("invalid CONTENT_LENGTH")
            }
            head.append(contentsOf: "Content-Length: ".utf8)
            head.append(contentsOf: UnsafeRawBufferPointer(rebasing: b[length]))
            head.append(contentsOf: "\r\n".utf8)
        }
        head.append(contentsOf: "\r\n".utf8)
        return head
    }

    /// REQUEST_URI, which the front server passes as the client sent it, query included; without it, PATH_INFO
    /// percent-encoded (it is the decoded path) with "/" in front when it has none, and "?" QUERY_STRING. Bytes a
    /// request target cannot carry (SP, controls, and "#" in the query, which would start a fragment) are
    /// percent-encoded.
    static func appendTarget(_ b: UnsafeRawBufferPointer, _ known: KnownVars, to head: inout [UInt8]) {
        if let uri = known.requestURI, !uri.isEmpty {
            for i in uri { appendEscaped(b[i], unless: ByteClass.target[Int(b[i])], to: &head) }
            return
        }
        let path = known.pathInfo ?? 0..<0
        if path.isEmpty || b[path.lowerBound] != 47 { head.append(47) }
        for i in path { appendEscaped(b[i], unless: pathByte[Int(b[i])], to: &head) }
        if let query = known.queryString, !query.isEmpty {
            head.append(63)
            for i in query { appendEscaped(b[i], unless: ByteClass.target[Int(b[i])] && b[i] != 35, to: &head) }
        }
    }

    /// Bytes a path segment keeps as they are (RFC 3986 pchar and "/"): unreserved, sub-delims, ":" and "@".
    static let pathByte: [Bool] = {
        var t = [Bool](repeating: false, count: 256)
        for c in UInt8(ascii: "0")...UInt8(ascii: "9") { t[Int(c)] = true }
        for c in UInt8(ascii: "a")...UInt8(ascii: "z") { t[Int(c)] = true }
        for c in UInt8(ascii: "A")...UInt8(ascii: "Z") { t[Int(c)] = true }
        for c in "-._~!$&'()*+,;=:@/".utf8 { t[Int(c)] = true }
        return t
    }()

    /// Appends `c`, or "%XX" for it unless `keep`.
    @inline(__always)
    static func appendEscaped(_ c: UInt8, unless keep: Bool, to head: inout [UInt8]) {
        if keep {
            head.append(c)
        } else {
            let hex: StaticString = "0123456789ABCDEF"
            head.append(37)
            head.append(hex.utf8Start[Int(c >> 4)])
            head.append(hex.utf8Start[Int(c & 15)])
        }
    }

    /// Appends a field value and its CRLF; a byte a field value cannot carry (a control other than HTAB) is a 400
    /// naming the var, `name` (CONTENT_TYPE when empty).
    static func appendFieldValue(
        _ b: UnsafeRawBufferPointer, _ value: Range<Int>, of name: Range<Int>, to head: inout [UInt8]
    ) throws(HTTPError) {
        for i in value {
            guard ByteClass.fieldValue[Int(b[i])] else {
                throw .bad("invalid character in uwsgi var \(name.isEmpty ? "CONTENT_TYPE" : latin1(b, name))")
            }
        }
        head.append(contentsOf: UnsafeRawBufferPointer(rebasing: b[value]))
        head.append(contentsOf: "\r\n".utf8)
    }

    /// Reads a 16-bit little-endian size at `p` and returns the range of that many bytes after it, moving `p` past
    /// them; nil when the size or the bytes run past `end`.
    static func sizedRange(_ b: UnsafeRawBufferPointer, at p: inout Int, end: Int) -> Range<Int>? {
        guard end - p >= 2 else { return nil }
        let size = Int(b[p]) | Int(b[p + 1]) << 8
        let start = p + 2
        guard end - start >= size else { return nil }
        p = start + size
        return start..<p
    }

    /// CR, LF and NUL could end a line of the head (or a C string in the environ) early.
    static func containsLineBreakOrNUL(_ b: UnsafeRawBufferPointer, _ r: Range<Int>) -> Bool {
        r.contains { b[$0] == 13 || b[$0] == 10 || b[$0] == 0 }
    }

    /// Case-sensitive comparison of `r` with an ASCII literal (CGI var names are upper-case).
    static func equals(_ b: UnsafeRawBufferPointer, _ r: Range<Int>, _ literal: StaticString) -> Bool {
        guard r.count == literal.utf8CodeUnitCount else { return false }
        let lit = literal.utf8Start
        return (0..<r.count).allSatisfy { b[r.lowerBound + $0] == lit[$0] }
    }

    /// Whether an HTTP_* key's rest names `field` (a lower-case field name), in any case and with "_" read as "-",
    /// as the head would spell it: "TRANSFER_ENCODING", "Transfer_Encoding" and "TRANSFER-ENCODING" all match.
    static func fieldName(_ b: UnsafeRawBufferPointer, _ r: Range<Int>, is field: StaticString) -> Bool {
        guard r.count == field.utf8CodeUnitCount else { return false }
        let lit = field.utf8Start
        var k = 0
        for i in r {
            let c = b[i] == 95 ? 45 : ByteClass.lower(b[i])
            if c != lit[k] { return false }
            k += 1
        }
        return true
    }

    /// The bytes as latin-1 text: each byte is the Unicode scalar of the same value (PEP 3333's environ strings).
    static func latin1(_ b: UnsafeRawBufferPointer, _ r: Range<Int>) -> String {
        // Each byte is one UTF-8 code unit below 0x80, two from 0x80 (110000xx 10xxxxxx).
        String(unsafeUninitializedCapacity: r.count * 2) { out in
            var n = 0
            for i in r {
                let c = b[i]
                if c < 0x80 {
                    out[n] = c
                    n += 1
                } else {
                    out[n] = 0xC0 | c >> 6
                    out[n + 1] = 0x80 | c & 0x3F
                    n += 2
                }
            }
            return n
        }
    }
}
