#if canImport(Glibc)
    internal import Glibc
#endif

/// Parses a request head (request line and header fields) strictly, per RFC 9112: CRLF line
/// ends only, no obs-fold, no whitespace before a colon, no control characters, one Host, and
/// unambiguous body framing. Scanning resumes where the last call stopped, so a client that
/// sends one byte at a time costs linear time.
public struct RequestHeadParser: Sendable {
    public enum Result: Equatable {
        case incomplete
        case complete
        case invalid(HTTPError)
    }

    public var limits: HTTPLimits
    var scanned = 0
    var lineStart = 0
    var lines = 0
    var requestStart = 0

    public init(limits: HTTPLimits) {
        self.limits = limits
    }

    /// Forgets the progress of the last head; call before parsing the next request.
    public mutating func reset() {
        scanned = 0
        lineStart = 0
        lines = 0
        requestStart = 0
    }

    /// True while no byte of a request has been seen (only leading empty lines, if any).
    public var isIdle: Bool { lines == 0 && scanned == lineStart }

    /// Parses the head at the start of `buffer`, which holds every byte received so far for
    /// this request (and possibly more after it).
    public mutating func parse(_ buffer: UnsafeRawBufferPointer, into head: inout RequestHead) -> Result {
        let n = buffer.count
        guard let base = buffer.baseAddress else { return .incomplete }
        var i = scanned
        while i < n {
            guard let found = memchr(base + i, 10, n - i) else { break }
            let lf = UnsafeRawPointer(found) - base
            if lf == 0 || buffer[lf - 1] != 13 { return .invalid(.bad("bare LF line terminator")) }
            let lineLength = lf - 1 - lineStart
            if lines == 0 {
                if lineLength == 0 {
                    // RFC 9112 §2.2: ignore empty lines before the request line.
                    lineStart = lf + 1
                    requestStart = lineStart
                    i = lf + 1
                    continue
                }
                if lineLength > limits.requestLine { return .invalid(HTTPError(414, "request line too long")) }
            } else {
                if lineLength == 0 {
                    scanned = lf + 1
                    if lf + 1 - requestStart > limits.headSize {
                        return .invalid(HTTPError(431, "request head too large"))
                    }
                    return parseLines(buffer, end: lf + 1, into: &head)
                }
                if lineLength > limits.fieldLine { return .invalid(HTTPError(431, "header field too large")) }
                if lines > limits.fieldCount { return .invalid(HTTPError(431, "too many header fields")) }
            }
            lines += 1
            lineStart = lf + 1
            i = lf + 1
        }
        scanned = n
        let partial = n - lineStart
        if lines == 0 && partial > limits.requestLine + 1 { return .invalid(HTTPError(414, "request line too long")) }
        if lines > 0 && partial > limits.fieldLine + 1 { return .invalid(HTTPError(431, "header field too large")) }
        if lines > limits.fieldCount + 1 { return .invalid(HTTPError(431, "too many header fields")) }
        if n - requestStart > limits.headSize { return .invalid(HTTPError(431, "request head too large")) }
        return .incomplete
    }

    /// Parses a complete head: every line in `requestStart..<end` ends with CRLF.
    func parseLines(_ b: UnsafeRawBufferPointer, end: Int, into head: inout RequestHead) -> Result {
        head.reset()
        head.length = end
        var p = requestStart
        // Request line: method SP request-target SP HTTP-version CRLF
        let methodStart = p
        while ByteClass.token[Int(b[p])] { p += 1 }
        if p == methodStart { return .invalid(.bad("invalid method")) }
        if b[p] != 32 { return .invalid(.bad("invalid character in method")) }
        head.method = methodStart..<p
        head.methodKind = Self.classify(b, head.method)
        p += 1
        let targetStart = p
        while ByteClass.target[Int(b[p])] { p += 1 }
        if p == targetStart { return .invalid(.bad("empty request target")) }
        if b[p] != 32 { return .invalid(.bad("invalid character in request target")) }
        head.target = targetStart..<p
        if let error = Self.checkTargetForm(b, head.target, method: head.method) { return .invalid(error) }
        p += 1
        // "HTTP/" DIGIT "." DIGIT CR LF
        guard p + 10 <= end,
            b[p] == 72, b[p + 1] == 84, b[p + 2] == 84, b[p + 3] == 80, b[p + 4] == 47,
            Self.isDigit(b[p + 5]), b[p + 6] == 46, Self.isDigit(b[p + 7]), b[p + 8] == 13
        else { return .invalid(.bad("invalid HTTP version")) }
        let major = Int(b[p + 5] - 48)
        if major != 1 { return .invalid(HTTPError(505, "HTTP version not supported")) }
        head.versionMinor = min(Int(b[p + 7] - 48), 1)
        p += 10

        // Header fields: field-name ":" OWS field-value OWS CRLF
        var hosts = 0
        var contentTypes = 0
        var connectionClose = false
        var connectionKeepAlive = false
        var connectionUpgrade = false
        var hasUpgradeField = false
        var transferCodings: [Range<Int>] = []
        var sawTransferEncoding = false
        while p < end - 2 {
            let nameStart = p
            if b[p] == 32 || b[p] == 9 { return .invalid(.bad("obsolete line folding")) }
            while ByteClass.token[Int(b[p])] { p += 1 }
            if b[p] != 58 {
                return .invalid(
                    .bad(p == nameStart ? "empty or invalid header name" : "invalid character in header name"))
            }
            if p == nameStart { return .invalid(.bad("empty header name")) }
            let name = nameStart..<p
            p += 1
            while b[p] == 32 || b[p] == 9 { p += 1 }
            let valueStart = p
            while ByteClass.fieldValue[Int(b[p])] { p += 1 }
            if b[p] != 13 || b[p + 1] != 10 { return .invalid(.bad("invalid character in header value")) }
            var valueEnd = p
            while valueEnd > valueStart && (b[valueEnd - 1] == 32 || b[valueEnd - 1] == 9) { valueEnd -= 1 }
            let value = valueStart..<valueEnd
            p += 2
            head.fields.append(RequestHead.Field(name: name, value: value))

            switch name.count {
            case 4 where b.equalsLowercase(name, "host"):
                hosts += 1
                for j in value where !ByteClass.host[Int(b[j])] { return .invalid(.bad("invalid Host")) }
            case 14 where b.equalsLowercase(name, "content-length"):
                if let error = Self.mergeContentLength(b, value, into: &head.contentLength) { return .invalid(error) }
            case 17 where b.equalsLowercase(name, "transfer-encoding"):
                sawTransferEncoding = true
                Self.forEachListElement(b, value) { transferCodings.append($0) }
            case 10 where b.equalsLowercase(name, "connection"):
                Self.forEachListElement(b, value) { t in
                    if b.equalsLowercase(t, "close") {
                        connectionClose = true
                    } else if b.equalsLowercase(t, "keep-alive") {
                        connectionKeepAlive = true
                    } else if b.equalsLowercase(t, "upgrade") {
                        connectionUpgrade = true
                    }
                }
            case 6 where b.equalsLowercase(name, "expect"):
                if b.equalsLowercase(value, "100-continue") {
                    head.expectContinue = head.versionMinor >= 1
                } else {
                    return .invalid(HTTPError(417, "unsupported expectation"))
                }
            case 12 where b.equalsLowercase(name, "content-type"):
                contentTypes += 1
                if contentTypes > 1 { return .invalid(.bad("repeated Content-Type")) }
            case 12 where b.equalsLowercase(name, "x-request-id"):
                // Kept when it is one field of 1 to 200 visible ASCII bytes; else one is made.
                head.clientRequestID =
                    head.sawRequestID || value.isEmpty || value.count > 200
                        || value.contains(where: { b[$0] < 0x21 || b[$0] > 0x7E }) ? nil : value
                head.sawRequestID = true
            case 7 where b.equalsLowercase(name, "upgrade"):
                hasUpgradeField = true
            default:
                break
            }
        }

        if head.versionMinor >= 1 {
            if hosts == 0 { return .invalid(.bad("missing Host")) }
        }
        if hosts > 1 { return .invalid(.bad("repeated Host")) }

        if sawTransferEncoding {
            if head.versionMinor == 0 { return .invalid(.bad("Transfer-Encoding in an HTTP/1.0 request")) }
            if head.contentLength != nil { return .invalid(.bad("both Content-Length and Transfer-Encoding")) }
            guard let last = transferCodings.last else { return .invalid(.bad("empty Transfer-Encoding")) }
            if !Self.isChunked(b, last) { return .invalid(.bad("final transfer coding is not chunked")) }
            for coding in transferCodings.dropLast() {
                if Self.isChunked(b, coding) { return .invalid(.bad("chunked applied more than once")) }
                return .invalid(HTTPError(501, "unsupported transfer coding"))
            }
            head.chunked = true
        }

        head.keepAlive = head.versionMinor >= 1 ? !connectionClose : (connectionKeepAlive && !connectionClose)
        head.upgrade = connectionUpgrade && hasUpgradeField
        return .complete
    }

    /// RFC 9112 §3.2: origin-form ("/path"), absolute-form ("http://host/path"), asterisk-form
    /// only for OPTIONS, authority-form only for CONNECT.
    static func checkTargetForm(_ b: UnsafeRawBufferPointer, _ t: Range<Int>, method: Range<Int>) -> HTTPError? {
        let first = b[t.lowerBound]
        if first == 47 { return nil }
        let isConnect = b.equalsLowercase(method, "connect") && b[method.lowerBound] == 67
        if t.count == 1 && first == 42 {
            return b.equalsLowercase(method, "options") && b[method.lowerBound] == 79
                ? nil : .bad("asterisk-form target outside OPTIONS")
        }
        if isConnect { return nil }
        // absolute-form: scheme "://"
        var i = t.lowerBound
        while i < t.upperBound {
            let c = b[i]
            let isSchemeChar =
                (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c == 43 || c == 45 || c == 46
            if !isSchemeChar { break }
            i += 1
        }
        if i > t.lowerBound, i + 2 < t.upperBound, b[i] == 58, b[i + 1] == 47, b[i + 2] == 47 {
            // RFC 9110 §4.2.4: userinfo in an http(s) URI is treated as an error.
            var j = i + 3
            while j < t.upperBound && b[j] != 47 && b[j] != 63 && b[j] != 35 {
                if b[j] == 64 { return .bad("userinfo in request target") }
                j += 1
            }
            return nil
        }
        return .bad("request target is not in origin or absolute form")
    }

    static func isChunked(_ b: UnsafeRawBufferPointer, _ r: Range<Int>) -> Bool {
        b.equalsLowercase(r, "chunked")
    }

    @inline(__always)
    static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }

    /// A non-negative decimal number of at most 18 digits.
    static func parseDecimal(_ b: UnsafeRawBufferPointer, _ r: Range<Int>) -> Int? {
        guard !r.isEmpty, r.count <= 18 else { return nil }
        var n = 0
        for j in r {
            guard isDigit(b[j]) else { return nil }
            n = n * 10 + Int(b[j] - 48)
        }
        return n
    }

    /// Adds one Content-Length field line to the length seen so far. RFC 9112 §6.3 lets a
    /// recipient process a list of identical values ("5, 5", or the field repeated) as that one
    /// value, and we do: the body is framed with it and the application sees only it. Empty
    /// members are ignored as in any list (RFC 9110 §5.6.1), so "5," is 5; a line with no value,
    /// a member that is not a decimal (parameters included), or differing values are refused.
    static func mergeContentLength(
        _ b: UnsafeRawBufferPointer, _ value: Range<Int>, into length: inout Int?
    ) -> HTTPError? {
        var error: HTTPError? = nil
        var members = 0
        forEachListElement(b, value, parameters: false) { element in
            guard error == nil else { return }
            members += 1
            guard let n = parseDecimal(b, element) else {
                error = .bad("invalid Content-Length")
                return
            }
            if let previous = length, previous != n {
                error = .bad("conflicting Content-Length values")
                return
            }
            length = n
        }
        if error == nil && members == 0 { return .bad("empty Content-Length") }
        return error
    }

    /// Calls `body` with each element of a comma-separated list, without surrounding
    /// whitespace; empty elements are skipped (RFC 9110 §5.6.1). With `parameters`, a
    /// coding's ";name=value" parameters are cut off; without, they stay in the element.
    static func forEachListElement(
        _ b: UnsafeRawBufferPointer, _ r: Range<Int>, parameters: Bool = true, _ body: (Range<Int>) -> Void
    ) {
        var start = r.lowerBound
        var j = r.lowerBound
        while j <= r.upperBound {
            if j == r.upperBound || b[j] == 44 {
                var s = start
                var e = j
                while s < e && (b[s] == 32 || b[s] == 9) { s += 1 }
                while e > s && (b[e - 1] == 32 || b[e - 1] == 9) { e -= 1 }
                // Parameters (";q=...") are not part of the coding name.
                var k = s
                while parameters && k < e && b[k] != 59 { k += 1 }
                if parameters && k < e {
                    e = k
                    while e > s && (b[e - 1] == 32 || b[e - 1] == 9) { e -= 1 }
                }
                if e > s { body(s..<e) }
                start = j + 1
            }
            j += 1
        }
    }

    static func classify(_ b: UnsafeRawBufferPointer, _ r: Range<Int>) -> RequestHead.Method {
        let s = r.lowerBound
        switch r.count {
        case 3:
            if b[s] == 71 && b[s + 1] == 69 && b[s + 2] == 84 { return .get }
            if b[s] == 80 && b[s + 1] == 85 && b[s + 2] == 84 { return .put }
        case 4:
            if b[s] == 72 && b[s + 1] == 69 && b[s + 2] == 65 && b[s + 3] == 68 { return .head }
            if b[s] == 80 && b[s + 1] == 79 && b[s + 2] == 83 && b[s + 3] == 84 { return .post }
        case 5:
            if b[s] == 80 && b[s + 1] == 65 && b[s + 2] == 84 && b[s + 3] == 67 && b[s + 4] == 72 { return .patch }
        case 6:
            if b[s] == 68 && b[s + 1] == 69 && b[s + 2] == 76 { return .delete }
        case 7:
            if b[s] == 79 && b[s + 1] == 80 && b[s + 2] == 84 { return .options }
        default: break
        }
        return .other
    }
}
