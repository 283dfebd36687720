internal import CDPython
internal import DHTTP1
internal import DPosix

/// The state of one WSGI request: what start_response recorded, how the response is framed,
/// and the unread part of the body. The wsgi.input object holds a reference to it.
final class RequestContext {
    // One thread at a time runs a request (the loop's, or a request thread), and this state is
    // read and changed several times a request: unchecked (see Watcher).
    /// The application lives as long as the process: no reference counting (see Connection).
    unowned(unsafe) let app: WSGIApplication
    /// Cleared when the request ends: a wsgi.input kept by the application then reads nothing.
    @exclusivity(unchecked) var transport: WSGITransport?
    let output: OutputBuffer
    let isHead: Bool
    let versionMinor: Int
    @exclusivity(unchecked) var keepAlive: Bool
    let date: [UInt8]?

    // start_response
    @exclusivity(unchecked) var started = false
    @exclusivity(unchecked) var status: PyObj? = nil
    @exclusivity(unchecked) var statusCode = 0
    @exclusivity(unchecked) var headers: PyObj? = nil
    @exclusivity(unchecked) var declaredLength: Int? = nil
    @exclusivity(unchecked) var appSetDate = false
    @exclusivity(unchecked) var appSetServer = false
    @exclusivity(unchecked) var appForcesClose = false

    // response progress
    @exclusivity(unchecked) var headersSent = false
    @exclusivity(unchecked) var framing: ResponseFraming = .noBody
    @exclusivity(unchecked) var remaining = 0
    @exclusivity(unchecked) var bodyBytes = 0
    @exclusivity(unchecked) var overflowed = false
    @exclusivity(unchecked) var failed = false
    /// --access-log-format's response headers and environ variables (`WSGIApplication.logged…`).
    @exclusivity(unchecked) var loggedHeaders: [String?]? = nil
    @exclusivity(unchecked) var loggedEnviron: [String?]? = nil

    // request body
    @exclusivity(unchecked) var pending: [UInt8] = []
    @exclusivity(unchecked) var pendingStart = 0
    @exclusivity(unchecked) var bodyEnded = false

    static let highWater = 256 * 1024

    init(
        app: WSGIApplication, transport: WSGITransport, output: OutputBuffer, isHead: Bool, versionMinor: Int,
        keepAlive: Bool, date: [UInt8]?
    ) {
        self.app = app
        self.transport = transport
        self.output = output
        self.isHead = isHead
        self.versionMinor = versionMinor
        self.keepAlive = keepAlive
        self.date = date
    }

    /// Drops the references start_response kept (GIL held). The context may outlive the GIL
    /// (a response object ends on the event loop), so this is not left to deinit.
    func releaseResponseHeaders() {
        if let status { Py_DECREF(status) }
        if let headers { Py_DECREF(headers) }
        status = nil
        headers = nil
    }

    deinit {
        // Only a start_response() called after the response ended (the app kept it) leaves
        // these set, and then the last reference is Python's wsgi.input: the GIL is held.
        releaseResponseHeaders()
    }

    // MARK: - start_response

    /// Records status and headers after checking them; returns an error message, or nil.
    func record(status newStatus: PyObj, headers newHeaders: PyObj) -> String? {
        guard
            let code = withLatin1(
                newStatus,
                { raw -> Int? in
                    guard raw.count >= 3 else { return nil }
                    var code = 0
                    for i in 0..<3 {
                        guard raw[i] >= 48 && raw[i] <= 57 else { return nil }
                        code = code * 10 + Int(raw[i] - 48)
                    }
                    if raw.count > 3 && raw[3] != 32 { return nil }
                    for b in raw where !(b == 9 || (b >= 32 && b != 127)) { return nil }
                    return code
                }) ?? nil, code >= 100
        else {
            return "invalid status line: expected a str like '200 OK'"
        }
        guard CDPy_ListCheck(newHeaders) != 0 else { return "response headers must be a list of (name, value) tuples" }
        var declared: Int? = nil
        var setDate = false
        var setServer = false
        var forcesClose = false
        let n = CDPy_ListSize(newHeaders)
        for i in 0..<n {
            let item = CDPy_ListGet(newHeaders, i)!
            guard CDPy_TupleCheck(item) != 0, CDPy_TupleSize(item) == 2 else {
                return "response header #\(i) is not a (name, value) tuple"
            }
            let name = CDPy_TupleGet(item, 0)!
            let value = CDPy_TupleGet(item, 1)!
            let nameKind =
                withLatin1(name) { raw -> HeaderName? in
                    guard !raw.isEmpty else { return nil }
                    for b in raw where !RequestContext.isTokenByte(b) { return nil }
                    return HeaderName.classify(raw)
                } ?? nil
            guard let kind = nameKind else { return "invalid response header name in header #\(i)" }
            let valueOK =
                withLatin1(value) { raw -> Bool in
                    for b in raw where !(b == 9 || (b >= 32 && b != 127)) { return false }
                    return true
                } ?? false
            guard valueOK else {
                return "invalid response header value (control character or not latin-1) in header #\(i)"
            }
            switch kind {
            case .contentLength:
                guard
                    let v = withLatin1(
                        value,
                        { raw -> Int? in
                            guard !raw.isEmpty, raw.count <= 18 else { return nil }
                            var v = 0
                            for b in raw {
                                guard b >= 48 && b <= 57 else { return nil }
                                v = v * 10 + Int(b - 48)
                            }
                            return v
                        }) ?? nil
                else { return "invalid Content-Length response header" }
                declared = v
            case .date: setDate = true
            case .server: setServer = true
            case .connection:
                _ = withLatin1(value) { raw in
                    if String(decoding: raw, as: UTF8.self).lowercased().contains("close") { forcesClose = true }
                }
            case .other, .transferEncoding, .keepAlive: break
            }
        }
        Py_INCREF(newStatus)
        Py_INCREF(newHeaders)
        if let status { Py_DECREF(status) }
        if let headers { Py_DECREF(headers) }
        status = newStatus
        headers = newHeaders
        statusCode = code
        declaredLength = declared
        appSetDate = setDate
        appSetServer = setServer
        appForcesClose = forcesClose
        started = true
        return nil
    }

    enum HeaderName {
        case contentLength, date, server, connection, transferEncoding, keepAlive, other

        static func classify(_ raw: UnsafeRawBufferPointer) -> HeaderName {
            func eq(_ lit: StaticString) -> Bool { raw.equalsLowercase(lit) }
            switch raw.count {
            case 4: return eq("date") ? .date : .other
            case 6: return eq("server") ? .server : .other
            case 10: return eq("connection") ? .connection : (eq("keep-alive") ? .keepAlive : .other)
            case 14: return eq("content-length") ? .contentLength : .other
            case 17: return eq("transfer-encoding") ? .transferEncoding : .other
            default: return .other
            }
        }
    }

    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case 48...57, 65...90, 97...122: true
        case 33, 35, 36, 37, 38, 39, 42, 43, 45, 46, 94, 95, 96, 124, 126: true
        default: false
        }
    }

    // MARK: - Response output

    /// Appends the head. `knownLength` is the body size when the server knows it in advance
    /// (a list response, a file), used when the application declared none.
    func sendHead(knownLength: Int?) {
        headersSent = true
        framing = ResponseFraming.decide(
            status: statusCode, isHead: isHead, versionMinor: versionMinor,
            declaredLength: declaredLength ?? knownLength)
        if case .contentLength(let n) = framing { remaining = n }
        keepAlive = keepAlive && !appForcesClose && framing.allowsKeepAlive && (transport?.keepAliveAllowed() ?? false)
        var out = output.bytes
        output.bytes = []
        _ = withLatin1(status!) { ResponseHeadWriter.appendStatusLine(&out, versionMinor: versionMinor, status: $0) }
        let list = headers!
        if !app.loggedResponseHeaders.isEmpty { keepLoggedHeaders(list) }
        for i in 0..<CDPy_ListSize(list) {
            let item = CDPy_ListGet(list, i)!
            let name = CDPy_TupleGet(item, 0)!
            let value = CDPy_TupleGet(item, 1)!
            _ = withLatin1(name) { n in
                switch HeaderName.classify(n) {
                case .contentLength, .connection, .transferEncoding, .keepAlive: return
                default: _ = withLatin1(value) { v in ResponseHeadWriter.appendField(&out, name: n, value: v) }
                }
            }
        }
        if framing == .noBody, let declared = declaredLength, statusCode >= 200, statusCode != 204 {
            out.append(contentsOf: ResponseContext.contentLengthName)
            ResponseHeadWriter.appendDecimal(&out, declared)
            out.append(contentsOf: ResponseHeadWriter.crlf)
        }
        ResponseHeadWriter.appendEnd(
            &out, framing: framing, keepAlive: keepAlive, versionMinor: versionMinor, date: appSetDate ? nil : date,
            addServer: !appSetServer)
        output.bytes = out
    }

    /// --access-log-format's `{name}o` atoms: the first value of each in the response's headers.
    func keepLoggedHeaders(_ list: PyObj) {
        var values = [String?](repeating: nil, count: app.loggedResponseHeaders.count)
        for i in 0..<CDPy_ListSize(list) {
            let item = CDPy_ListGet(list, i)!
            guard
                let name = withLatin1(CDPy_TupleGet(item, 0)!, { String(decoding: $0, as: UTF8.self).lowercased() })
            else { continue }
            for (j, wanted) in app.loggedResponseHeaders.enumerated() where values[j] == nil && wanted == name {
                values[j] = withLatin1(CDPy_TupleGet(item, 1)!) { String(decoding: $0, as: UTF8.self) }
            }
        }
        loggedHeaders = values
    }

    /// Appends body bytes with the response's framing (the caller decides when they are sent).
    func writeBody(_ data: UnsafeRawBufferPointer) {
        if !headersSent { sendHead(knownLength: nil) }
        guard !data.isEmpty else { return }
        switch framing {
        case .noBody:
            return
        case .contentLength:
            let n = min(data.count, remaining)
            if n < data.count && !overflowed {
                overflowed = true
                app.log(
                    "response body longer than its Content-Length; truncated and the connection closed", level: .warning
                )
            }
            output.bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: data[0..<n]))
            remaining -= n
            bodyBytes += n
        case .chunked:
            ResponseHeadWriter.appendChunkSize(&output.bytes, data.count)
            output.bytes.append(contentsOf: data)
            output.bytes.append(contentsOf: ResponseHeadWriter.crlf)
            bodyBytes += data.count
        case .untilClose:
            output.bytes.append(contentsOf: data)
            bodyBytes += data.count
        }
    }

    /// The legacy write() callable's output: sent as far as the socket takes it now; the
    /// application waits (GIL released, up to the write timeout) only while more than
    /// `highWater` bytes are unsent, as PEP 3333 allows ("sent or buffered for transmission").
    func pushWritten() throws(WSGIError) {
        guard let transport else { throw WSGIError(.clientGone, "request finished") }
        try transport.sendBuffered(wait: false)
        guard transport.unsentCount >= Self.highWater else { return }
        let ts = PyEval_SaveThread()
        defer { PyEval_RestoreThread(ts) }
        try transport.sendBuffered(wait: true)
    }

    /// Ends the response: the empty head if nothing was sent, the last chunk, and the
    /// keep-alive decision when the body did not match its Content-Length.
    func finish() {
        if !headersSent { sendHead(knownLength: 0) }
        switch framing {
        case .chunked: output.bytes.append(contentsOf: ResponseHeadWriter.lastChunk)
        case .contentLength:
            if remaining > 0 {
                app.log(
                    "response body shorter than its Content-Length (\(remaining) bytes missing); connection closed",
                    level: .warning)
                keepAlive = false
            }
        case .untilClose: keepAlive = false
        case .noBody: break
        }
        if overflowed { keepAlive = false }
    }

    // MARK: - Request body

    /// Reads up to `max` bytes of body into `pending` from the transport; false at the end.
    func fill(max: Int) throws(WSGIError) -> Bool {
        guard !bodyEnded, let transport else { return false }
        if pendingStart > 0 && pendingStart == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingStart = 0
        }
        let old = pending.count
        let want = Swift.max(max, 1)
        pending.append(contentsOf: repeatElement(0, count: want))
        let ts = PyEval_SaveThread()
        var n = 0
        var failure: WSGIError? = nil
        pending.withUnsafeMutableBytes { raw in
            do throws(WSGIError) {
                n = try transport.readBody(into: UnsafeMutableRawBufferPointer(rebasing: raw[old..<(old + want)]))
            } catch { failure = error }
        }
        PyEval_RestoreThread(ts)
        pending.removeLast(want - n)
        if let failure { throw failure }
        if n == 0 { bodyEnded = true }
        return n > 0
    }

    var pendingCount: Int { pending.count - pendingStart }
}

enum ResponseContext {
    static let contentLengthName = Array("Content-Length: ".utf8)
}
