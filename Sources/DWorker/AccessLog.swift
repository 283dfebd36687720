internal import DConfig
internal import DHTTP1
internal import DPosix
internal import DWebSocket

/// Access log lines in the --access-log-format (gunicorn's atoms, by default the combined log
/// format plus the request's seconds, or JSON), buffered and written to stdout in large writes.
final class AccessLog {
    var buffer: [UInt8] = []
    static let flushSize = 32 * 1024
    let atoms: [AccessLogFormat.Atom]?
    let pid: Int
    /// Where each `{name}o` and `{name}e` atom's value is in `Entry.logged`.
    let loggedIndex: [Int]

    init(format: AccessLogFormat) {
        buffer.reserveCapacity(Self.flushSize + 1024)
        pid = Int(Posix.getpid())
        if case .template(let atoms) = format {
            self.atoms = atoms
            // Response headers first, then environ variables, each in the format's order.
            let outputs = atoms.filter { if case .responseHeader = $0 { true } else { false } }.count
            var o = 0
            var e = outputs
            loggedIndex = atoms.map { atom in
                switch atom {
                case .responseHeader:
                    o += 1
                    return o - 1
                case .environ:
                    e += 1
                    return e - 1
                default: return -1
                }
            }
        } else {
            atoms = nil
            loggedIndex = []
        }
    }

    /// One request, as the log sees it. `head` indexes `request`.
    struct Entry {
        var remote: String
        var head: RequestHead
        var request: UnsafeRawBufferPointer
        var status: Int
        var bytes: Int
        var nanoseconds: UInt64
        /// The ID the server made; nil: the client's (`head.clientRequestID`), if any.
        var madeRequestID: RequestID?
        /// The outcome's response headers and environ values (`WSGIOutcome.logged`).
        var logged: [String?]
    }

    func record(_ entry: Entry, date: HTTPDate) {
        if let atoms {
            for (i, atom) in atoms.enumerated() { append(atom, entry, date, loggedIndex[i]) }
        } else {
            appendJSON(entry, date)
        }
        buffer.append(10)
        if buffer.count >= Self.flushSize { flush() }
    }

    func append(_ atom: AccessLogFormat.Atom, _ e: Entry, _ date: HTTPDate, _ logged: Int) {
        let head = e.head
        let request = e.request
        switch atom {
        case .literal(let text): buffer.append(contentsOf: text.utf8)
        case .remoteAddress: buffer.append(contentsOf: e.remote.utf8)
        case .ident: buffer.append(45)
        case .user: appendOrDash(Self.basicUser(head, request))
        case .time:
            buffer.append(91)
            buffer.append(contentsOf: date.commonLog)
            buffer.append(93)
        case .requestLine:
            appendEscaped(request[head.method])
            buffer.append(32)
            appendEscaped(request[head.target])
            buffer.append(contentsOf: head.versionMinor >= 1 ? Self.http11 : Self.http10)
        case .method: appendEscaped(request[head.method])
        case .path:
            let target = request[head.target]
            appendEscaped(target.prefix { $0 != 63 })
        case .query:
            let target = request[head.target]
            if let q = target.firstIndex(of: 63) { appendEscaped(target[(q + 1)...]) }
        case .proto: buffer.append(contentsOf: head.versionMinor >= 1 ? Self.proto11 : Self.proto10)
        case .status: ResponseHeadWriter.appendDecimal(&buffer, e.status)
        case .bytes: ResponseHeadWriter.appendDecimal(&buffer, e.bytes)
        case .bytesOrDash:
            if e.bytes > 0 { ResponseHeadWriter.appendDecimal(&buffer, e.bytes) } else { buffer.append(45) }
        case .referer: appendField(head, request, "referer")
        case .userAgent: appendField(head, request, "user-agent")
        case .seconds: ResponseHeadWriter.appendDecimal(&buffer, Int(e.nanoseconds / 1_000_000_000))
        case .milliseconds: ResponseHeadWriter.appendDecimal(&buffer, Int(e.nanoseconds / 1_000_000))
        case .microseconds: ResponseHeadWriter.appendDecimal(&buffer, Int(e.nanoseconds / 1000))
        case .decimalSeconds: appendDecimalSeconds(e.nanoseconds)
        case .pid:
            buffer.append(60)
            ResponseHeadWriter.appendDecimal(&buffer, pid)
            buffer.append(62)
        case .requestHeader(let name):
            if name == "x-request-id" {
                appendRequestID(e)
            } else {
                appendField(head, request, name)
            }
        case .responseHeader, .environ:
            let value = logged < e.logged.count ? e.logged[logged] : nil
            appendOrDash(value.map { Array($0.utf8) })
        }
    }

    // MARK: - JSON

    /// One object a line, always these keys in this order; strings escaped as JSON (bytes over
    /// 0x7F as the Latin-1 characters HTTP says they are).
    func appendJSON(_ e: Entry, _ date: HTTPDate) {
        let head = e.head
        let request = e.request
        buffer.append(contentsOf: Self.jsonStart)
        appendJSONString(date.iso8601)
        key("remote_addr")
        appendJSONString(e.remote.utf8)
        key("request_id")
        if let made = e.madeRequestID {
            appendJSONString(made.bytes)
        } else if let id = head.clientRequestID {
            appendJSONString(request[id])
        } else {
            buffer.append(contentsOf: Self.null)
        }
        key("method")
        appendJSONString(request[head.method])
        key("target")
        appendJSONString(request[head.target])
        key("protocol")
        appendJSONString(head.versionMinor >= 1 ? Self.proto11 : Self.proto10)
        key("host")
        appendJSONField(head, request, "host")
        key("status")
        ResponseHeadWriter.appendDecimal(&buffer, e.status)
        key("bytes")
        ResponseHeadWriter.appendDecimal(&buffer, e.bytes)
        key("duration_us")
        ResponseHeadWriter.appendDecimal(&buffer, Int(e.nanoseconds / 1000))
        key("referer")
        appendJSONField(head, request, "referer")
        key("user_agent")
        appendJSONField(head, request, "user-agent")
        key("pid")
        ResponseHeadWriter.appendDecimal(&buffer, pid)
        buffer.append(125)
    }

    /// `, "name": ` after a value.
    func key(_ name: StaticString) {
        buffer.append(contentsOf: Self.comma)
        buffer.append(34)
        buffer.append(contentsOf: UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        buffer.append(contentsOf: Self.keyEnd)
    }

    func appendJSONField(_ head: RequestHead, _ request: UnsafeRawBufferPointer, _ name: String) {
        if let value = Self.field(head, request, name) {
            appendJSONString(request[value])
        } else {
            buffer.append(contentsOf: Self.null)
        }
    }

    /// A quoted JSON string.
    func appendJSONString<C: Collection>(_ raw: C) where C.Element == UInt8 {
        buffer.append(34)
        for b in raw {
            switch b {
            case 34: buffer.append(contentsOf: [92, 34])
            case 92: buffer.append(contentsOf: [92, 92])
            case 0x20..<0x7F: buffer.append(b)
            default:
                buffer.append(contentsOf: Self.unicodeEscape)
                buffer.append(Self.hex[Int(b >> 4)])
                buffer.append(Self.hex[Int(b & 15)])
            }
        }
        buffer.append(34)
    }

    // MARK: - Pieces

    func appendRequestID(_ e: Entry) {
        if let made = e.madeRequestID {
            buffer.append(contentsOf: made.bytes)
        } else if let id = e.head.clientRequestID {
            appendEscaped(e.request[id])
        } else {
            buffer.append(45)
        }
    }

    func appendDecimalSeconds(_ nanoseconds: UInt64) {
        let micros = Int(nanoseconds / 1000)
        ResponseHeadWriter.appendDecimal(&buffer, micros / 1_000_000)
        buffer.append(46)
        let frac = micros % 1_000_000
        var digits = 100_000
        while digits > 0 {
            buffer.append(UInt8(48 + (frac / digits) % 10))
            digits /= 10
        }
    }

    func appendOrDash(_ value: [UInt8]?) {
        if let value { appendEscaped(value) } else { buffer.append(45) }
    }

    func appendField(_ head: RequestHead, _ request: UnsafeRawBufferPointer, _ name: String) {
        if let value = Self.field(head, request, name) { appendEscaped(request[value]) } else { buffer.append(45) }
    }

    /// The first field named `name` (lower case).
    static func field(_ head: RequestHead, _ request: UnsafeRawBufferPointer, _ name: String) -> Range<Int>? {
        let n = name.utf8.count
        for f in head.fields where f.name.count == n {
            var match = true
            for (j, c) in zip(f.name, name.utf8) where (request[j] | 0x20) != c {
                match = false
                break
            }
            if match { return f.value }
        }
        return nil
    }

    /// gunicorn's `u`: the user name of `Authorization: Basic`.
    static func basicUser(_ head: RequestHead, _ request: UnsafeRawBufferPointer) -> [UInt8]? {
        guard let value = field(head, request, "authorization") else { return nil }
        let text = String(decoding: request[value], as: UTF8.self)
        guard text.count > 6, text.prefix(6).lowercased() == "basic ",
            let decoded = Base64.decode(String(text.dropFirst(6).drop { $0 == " " })),
            let colon = decoded.firstIndex(of: 58)
        else { return nil }
        return Array(decoded[..<colon])
    }

    /// Bytes that could forge a log line (quotes, backslashes, controls, non-ASCII) as \xHH.
    func appendEscaped<C: Collection>(_ raw: C) where C.Element == UInt8 {
        let hex = Self.hex
        for b in raw {
            if b >= 0x20 && b < 0x7F && b != 34 && b != 92 {
                buffer.append(b)
            } else {
                buffer.append(92)
                buffer.append(120)
                buffer.append(hex[Int(b >> 4)])
                buffer.append(hex[Int(b & 15)])
            }
        }
    }

    func flush() {
        guard !buffer.isEmpty else { return }
        buffer.withUnsafeBytes { Posix.writeAll(1, $0) }
        buffer.removeAll(keepingCapacity: true)
    }

    static let hex = Array("0123456789abcdef".utf8)
    static let http11 = Array(" HTTP/1.1".utf8)
    static let http10 = Array(" HTTP/1.0".utf8)
    static let proto11 = Array("HTTP/1.1".utf8)
    static let proto10 = Array("HTTP/1.0".utf8)
    static let null = Array("null".utf8)
    static let jsonStart = Array(#"{"time": "#.utf8)
    static let unicodeEscape = Array(#"\u00"#.utf8)
    static let comma = Array(", ".utf8)
    static let keyEnd = Array("\": ".utf8)
}
