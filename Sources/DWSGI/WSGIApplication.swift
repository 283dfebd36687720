internal import CDPython
public import DHTTP1
internal import DPosix

#if canImport(Glibc)
    internal import Glibc
#endif

/// Where a request came in, as the environ reports it.
public struct WSGIConnectionInfo: Sendable {
    public var serverName: String
    public var serverPort: String
    public var remoteAddr: String
    public var remotePort: String
    /// It came over TLS: `wsgi.url_scheme` is https, and `HTTPS` is on.
    public var secure: Bool
    /// The peer is a trusted proxy (--forwarded-allow-ips): its X-Forwarded-* and Forwarded
    /// fields are believed (`WSGIApplication.forwardedTrust` tells which addresses in their
    /// chain are proxies too).
    public var forwardedTrusted: Bool

    public init(
        serverName: String, serverPort: String, remoteAddr: String, remotePort: String, secure: Bool = false,
        forwardedTrusted: Bool = false
    ) {
        self.serverName = serverName
        self.serverPort = serverPort
        self.remoteAddr = remoteAddr
        self.remotePort = remotePort
        self.secure = secure
        self.forwardedTrusted = forwardedTrusted
    }
}

/// What happened to one request, for the access log and the connection.
public struct WSGIOutcome: Sendable {
    public var status: Int
    public var bodyBytes: Int
    /// The connection may carry another request.
    public var keepAlive: Bool
    /// For the access log: the values of `WSGIApplication.loggedResponseHeaders` in the
    /// response, then of `loggedEnviron` in the environ once the application returned (nil:
    /// absent); empty when the log asks for none.
    public var logged: [String?] = []
}

/// A loaded WSGI callable and everything needed to call it for a request.
public final class WSGIApplication {
    let runtime: PythonRuntime
    let app: PyObj
    let keys = EnvironKeys()
    /// --forwarded-allow-ips: which addresses of a forwarded chain are trusted proxies.
    @exclusivity(unchecked) public var forwardedTrust: (@Sendable (String) -> Bool)? = nil
    /// --access-log-format's `{name}o` (lowercased) and `{name}e` atoms: what each outcome keeps.
    /// Set once, before the first request, and read for every request: unchecked.
    @exclusivity(unchecked) public var loggedResponseHeaders: [String] = []
    @exclusivity(unchecked) public var loggedEnviron: [String] = []
    let baseEnviron: PyObj
    @exclusivity(unchecked) var scratch: [UInt8] = []

    init(runtime: PythonRuntime, app: PyObj, multithread: Bool) {
        self.runtime = runtime
        self.app = app
        let env = PyDict_New()!
        func set(_ k: String, _ v: PyObj) {
            PyDict_SetItemString(env, k, v)
            Py_DECREF(v)
        }
        let version = PyTuple_New(2)!
        PyTuple_SetItem(version, 0, PyLong_FromLong(1))
        PyTuple_SetItem(version, 1, PyLong_FromLong(0))
        set("wsgi.version", version)
        set("wsgi.url_scheme", PyUnicode_FromString("http"))
        set(
            "wsgi.errors",
            PySys_GetObject("stderr").map {
                Py_INCREF($0)
                return $0
            } ?? CDPy_NewNone())
        set("wsgi.multithread", CDPy_NewBool(multithread ? 1 : 0))
        set("wsgi.multiprocess", CDPy_NewBool(1))
        set("wsgi.run_once", CDPy_NewBool(0))
        set("wsgi.input_terminated", CDPy_NewBool(1))
        Py_INCREF(runtime.fileWrapperType)
        set("wsgi.file_wrapper", runtime.fileWrapperType)
        set("SCRIPT_NAME", PyUnicode_FromString(""))
        set("SERVER_SOFTWARE", PyUnicode_FromString("dispatchd"))
        baseEnviron = env
        scratch.reserveCapacity(1024)
    }

    /// Writes a line to stderr, prefixed like the rest of the server's log.
    func log(_ message: String, level: ServerLog.Level = .info) { ServerLog.write(.worker, message, level: level) }

    /// A Python error's line and its traceback, at error level (cleared unwritten below it).
    func logPythonError(_ message: String) {
        guard ServerLog.writes(.error) else {
            PyErr_Clear()
            return
        }
        log(message, level: .error)
        PyErr_PrintEx(0)
    }

    /// Calls the application for one request. `buffer` holds the request head (the ranges of
    /// `head` index it); the body comes from `transport`; the response goes to `output`. A
    /// response that is done at once (a list, an error) comes back `.done`; a larger one is
    /// produced step by step as the client takes it (see `WSGIResponse`). `holdingGIL`: called
    /// on a request thread (--threads), which holds the GIL already; else the event loop's
    /// thread takes it for the call.
    public func handle(
        head: RequestHead,
        buffer: UnsafeRawBufferPointer,
        info: WSGIConnectionInfo,
        transport: WSGITransport,
        output: OutputBuffer,
        keepAlive: Bool,
        date: [UInt8],
        holdingGIL: Bool = false
    ) -> WSGIProgress {
        if !holdingGIL { runtime.acquireGIL() }
        defer { if !holdingGIL { runtime.releaseGIL() } }

        let request = makeRequest(
            head: head, buffer: buffer, info: info, transport: transport, output: output,
            keepAlive: keepAlive, date: date)
        let result = call(app, request.environ, request.startResponse)
        if !loggedEnviron.isEmpty { keepLoggedEnviron(request) }
        let response = WSGIResponse(app: self, request: request, result: result)
        guard result != nil else {
            fail(request.ctx, head, buffer)
            return response.finish()
        }
        return response.start(head, buffer)
    }

    /// The Python objects of a request: its context, environ, `wsgi.input` and `start_response`.
    func makeRequest(
        head: RequestHead, buffer: UnsafeRawBufferPointer, info: WSGIConnectionInfo, transport: WSGITransport,
        output: OutputBuffer, keepAlive: Bool, date: [UInt8]
    ) -> WSGIRequest {
        let ctx = RequestContext(
            app: self, transport: transport, output: output, isHead: head.methodKind == .head,
            versionMinor: head.versionMinor, keepAlive: keepAlive, date: date)
        let env = buildEnviron(head: head, buffer: buffer, info: info)
        if let vars = transport.gatewayVars { setGatewayVars(vars, in: env) }
        // A uwsgi front server's own HTTP_X_REQUEST_ID is kept.
        if let made = transport.madeRequestID,
            transport.gatewayVars == nil || PyDict_Contains(env, keys.httpXRequestID) == 0
        {
            let id = CDPy_UnicodeNewASCII(RequestID.length)!
            made.write(to: CDPy_UnicodeASCIIData(id))
            PyDict_SetItem(env, keys.httpXRequestID, id)
            Py_DECREF(id)
        }
        let input = InputStream.make(ctx, type: runtime.inputType)
        PyDict_SetItem(env, keys.wsgiInput, input)
        let startResponse = PyCFunction_NewEx(runtime.startResponseDef, input, nil)!
        return WSGIRequest(ctx: ctx, environ: env, input: input, startResponse: startResponse)
    }

    /// --access-log-format's `{name}e` atoms: the environ's values once the application returned.
    func keepLoggedEnviron(_ request: WSGIRequest) {
        request.ctx.loggedEnviron = loggedEnviron.map { name in
            guard let value = PyDict_GetItemString(request.environ, name), let text = PyObject_Str(value) else {
                PyErr_Clear()
                return nil
            }
            defer { Py_DECREF(text) }
            guard let utf8 = PyUnicode_AsUTF8(text) else {
                PyErr_Clear()
                return nil
            }
            return String(cString: utf8)
        }
    }

    /// PEP 3333: calls the iterable's close(), if it has one (a list or tuple has none).
    func callClose(_ result: PyObj) {
        if CDPy_ListCheckExact(result) != 0 || CDPy_TupleCheckExact(result) != 0 { return }
        var close: PyObj? = nil
        let found = CDPy_LookupAttr(result, keys.close, &close)
        if found < 0 { PyErr_Clear() }
        guard found > 0, let close else { return }
        defer { Py_DECREF(close) }
        if let r = PyObject_CallNoArgs(close) {
            Py_DECREF(r)
        } else {
            logPythonError("error in close() of the response iterable")
        }
    }

    /// Appends a list or tuple response whole (its bytes are in memory already). False when
    /// Python raised (the exception is set).
    func appendSequence(_ result: PyObj, isList: Bool, _ ctx: RequestContext) -> Bool {
        let n = isList ? CDPy_ListSize(result) : CDPy_TupleSize(result)
        guard ctx.started else { return notStarted() }
        if !ctx.headersSent {
            var total = 0
            for i in 0..<n {
                let item = isList ? CDPy_ListGet(result, i)! : CDPy_TupleGet(result, i)!
                guard CDPy_BytesCheck(item) != 0 else { return notBytes(item) }
                total += CDPy_BytesSize(item)
            }
            ctx.sendHead(knownLength: total)
        }
        for i in 0..<n {
            let item = isList ? CDPy_ListGet(result, i)! : CDPy_TupleGet(result, i)!
            guard CDPy_BytesCheck(item) != 0 else { return notBytes(item) }
            ctx.writeBody(UnsafeRawBufferPointer(start: CDPy_BytesData(item), count: CDPy_BytesSize(item)))
        }
        return true
    }

    func notBytes(_ item: PyObj) -> Bool {
        let typeName = String(cString: CDPy_Type(item).pointee.tp_name)
        raise(CDPy_ExcTypeError(), "the response iterable must yield bytes, not \(typeName)")
        return false
    }

    func notStarted() -> Bool {
        raise(CDPy_ExcAssertionError(), "the application returned a body without calling start_response()")
        return false
    }

    enum FileBody {
        /// Not a regular file with a descriptor: iterate the wrapper instead.
        case notAFile
        /// Python raised (the exception is set).
        case failed
        /// Nothing to send (HEAD, 304, an empty range).
        case empty
        case send(fd: CInt, offset: Int, count: Int)
    }

    /// A wsgi.file_wrapper over a real file: the head is appended and the worker sends the
    /// file's bytes with sendfile.
    func fileBody(_ result: PyObj, _ ctx: RequestContext) -> FileBody {
        guard let filelike = PyObject_GetAttrString(result, "filelike") else {
            PyErr_Clear()
            return .notAFile
        }
        defer { Py_DECREF(filelike) }
        guard let filenoObj = PyObject_CallMethod0(filelike, "fileno") else {
            PyErr_Clear()
            return .notAFile
        }
        let fd = CInt(truncatingIfNeeded: PyLong_AsLong(filenoObj))
        Py_DECREF(filenoObj)
        if PyErr_Occurred() != nil {
            PyErr_Clear()
            return .notAFile
        }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return .notAFile }
        var offset = 0
        if let tell = PyObject_CallMethod0(filelike, "tell") {
            offset = PyLong_AsLong(tell)
            Py_DECREF(tell)
        }
        if PyErr_Occurred() != nil {
            PyErr_Clear()
            return .notAFile
        }
        guard ctx.started else {
            _ = notStarted()
            return .failed
        }
        var count = max(0, Int(st.st_size) - offset)
        if let declared = ctx.declaredLength { count = min(count, declared) }
        if !ctx.headersSent { ctx.sendHead(knownLength: count) }
        switch ctx.framing {
        case .contentLength(let remaining):
            count = min(count, remaining)
            return count > 0 ? .send(fd: fd, offset: offset, count: count) : .empty
        case .noBody: return .empty
        case .chunked, .untilClose: return .notAFile
        }
    }

    /// The application raised: log the traceback; answer 500 if nothing was sent yet,
    /// otherwise the connection is cut so the client sees an incomplete response. A request
    /// interrupted by the timeout (`RequestTimeout`) answers 504 instead, and is logged in one
    /// line: its stacks were logged when it was interrupted.
    func fail(_ ctx: RequestContext, _ head: RequestHead, _ buffer: UnsafeRawBufferPointer) {
        let method = String(decoding: buffer[head.method], as: UTF8.self)
        let target = String(decoding: buffer[head.target], as: UTF8.self)
        let timedOut = PyErr_ExceptionMatches(runtime.requestTimeout) != 0
        if timedOut {
            PyErr_Clear()
            log(
                "\(method) \(target) interrupted by the request timeout: "
                    + (ctx.headersSent ? "its response is cut" : "answered 504"), level: .error)
        } else {
            logPythonError("error handling \(method) \(target):")
        }
        if ctx.headersSent {
            ctx.failed = true
            ctx.keepAlive = false
            return
        }
        let status = timedOut ? 504 : 500
        let bytes = ServerResponse.appendText(
            &ctx.output.bytes, status: status, text: timedOut ? "Gateway Timeout\n" : "Internal Server Error\n",
            isHead: ctx.isHead, keepAlive: ctx.keepAlive, versionMinor: ctx.versionMinor, date: ctx.date)
        ctx.headersSent = true
        ctx.framing = .noBody
        ctx.statusCode = status
        ctx.bodyBytes = bytes
        ctx.started = true
        ctx.failed = false
    }
}
