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

    public init(serverName: String, serverPort: String, remoteAddr: String, remotePort: String) {
        self.serverName = serverName
        self.serverPort = serverPort
        self.remoteAddr = remoteAddr
        self.remotePort = remotePort
    }
}

/// What happened to one request, for the access log and the connection.
public struct WSGIOutcome: Sendable {
    public var status: Int
    public var bodyBytes: Int
    /// The connection may carry another request.
    public var keepAlive: Bool
}

/// A loaded WSGI callable and everything needed to call it for a request.
public final class WSGIApplication {
    let runtime: PythonRuntime
    let app: PyObj
    let keys = EnvironKeys()
    let baseEnviron: PyObj
    var scratch: [UInt8] = []

    init(runtime: PythonRuntime, app: PyObj) {
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
        set("wsgi.errors", PySys_GetObject("stderr").map { Py_INCREF($0); return $0 } ?? CDPy_NewNone())
        set("wsgi.multithread", CDPy_NewBool(0))
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
    func log(_ message: String) { ServerLog.write(.worker, message) }

    /// Runs the application for one request. `buffer` holds the request head (the ranges of
    /// `head` index it); the body comes from `transport`; the response is appended to `output`.
    public func handle(
        head: RequestHead,
        buffer: UnsafeRawBufferPointer,
        info: WSGIConnectionInfo,
        transport: WSGITransport,
        output: OutputBuffer,
        keepAlive: Bool,
        date: [UInt8]
    ) -> WSGIOutcome {
        runtime.acquireGIL()
        defer { runtime.releaseGIL() }

        let ctx = RequestContext(app: self, transport: transport, output: output, isHead: head.methodKind == .head,
                                 versionMinor: head.versionMinor, keepAlive: keepAlive, date: date)
        let env = buildEnviron(head: head, buffer: buffer, info: info)
        let input = InputStream.make(ctx, type: runtime.inputType)
        PyDict_SetItem(env, keys.wsgiInput, input)
        let startResponse = PyCFunction_NewEx(runtime.startResponseDef, input, nil)!
        let result = withUnsafeTemporaryAllocation(of: PyObj?.self, capacity: 2) { args in
            args[0] = env
            args[1] = startResponse
            return PyObject_Vectorcall(app, args.baseAddress, 2, nil)
        }

        var clientGone = false
        if let result {
            do throws(WSGIError) {
                if try !sendResult(result, ctx) { fail(ctx, head, buffer) }
            } catch {
                clientGone = true
            }
            callClose(result)
            Py_DECREF(result)
        } else {
            fail(ctx, head, buffer)
        }
        if !clientGone && !ctx.failed { ctx.finish() }
        ctx.transport = nil
        Py_DECREF(startResponse)
        Py_DECREF(input)
        Py_DECREF(env)
        let aborted = clientGone || ctx.failed
        return WSGIOutcome(status: ctx.statusCode, bodyBytes: ctx.bodyBytes, keepAlive: ctx.keepAlive && !aborted)
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
            log("error in close() of the response iterable")
            PyErr_PrintEx(0)
        }
    }

    /// Sends the response iterable. False when Python raised (the exception is set).
    func sendResult(_ result: PyObj, _ ctx: RequestContext) throws(WSGIError) -> Bool {
        if UnsafeMutableRawPointer(CDPy_Type(result)) == UnsafeMutableRawPointer(runtime.fileWrapperType) {
            if let done = try sendFileWrapper(result, ctx) { return done }
        }
        let isList = CDPy_ListCheckExact(result) != 0
        if isList || CDPy_TupleCheckExact(result) != 0 {
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
                try ctx.writeBody(UnsafeRawBufferPointer(start: CDPy_BytesData(item), count: CDPy_BytesSize(item)))
            }
            return true
        }
        guard let iterator = PyObject_GetIter(result) else { return false }
        defer { Py_DECREF(iterator) }
        while let item = PyIter_Next(iterator) {
            defer { Py_DECREF(item) }
            guard CDPy_BytesCheck(item) != 0 else { return notBytes(item) }
            guard ctx.started else { return notStarted() }
            try ctx.writeBody(UnsafeRawBufferPointer(start: CDPy_BytesData(item), count: CDPy_BytesSize(item)))
        }
        if PyErr_Occurred() != nil { return false }
        guard ctx.started else { return notStarted() }
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

    /// Sends a wsgi.file_wrapper over a real file with sendfile. nil: not a real file, iterate.
    func sendFileWrapper(_ result: PyObj, _ ctx: RequestContext) throws(WSGIError) -> Bool? {
        guard let filelike = PyObject_GetAttrString(result, "filelike") else {
            PyErr_Clear()
            return nil
        }
        defer { Py_DECREF(filelike) }
        guard let filenoObj = PyObject_CallMethod0(filelike, "fileno") else {
            PyErr_Clear()
            return nil
        }
        let fd = CInt(truncatingIfNeeded: PyLong_AsLong(filenoObj))
        Py_DECREF(filenoObj)
        if PyErr_Occurred() != nil {
            PyErr_Clear()
            return nil
        }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        var offset = 0
        if let tell = PyObject_CallMethod0(filelike, "tell") {
            offset = PyLong_AsLong(tell)
            Py_DECREF(tell)
        }
        if PyErr_Occurred() != nil {
            PyErr_Clear()
            return nil
        }
        guard ctx.started else { return notStarted() }
        var count = max(0, Int(st.st_size) - offset)
        if let declared = ctx.declaredLength { count = min(count, declared) }
        if !ctx.headersSent { ctx.sendHead(knownLength: count) }
        guard case .contentLength(let remaining) = ctx.framing else {
            return ctx.framing == .noBody ? true : nil
        }
        count = min(count, remaining)
        guard let transport = ctx.transport else { throw WSGIError(.clientGone, "request finished") }
        let ts = PyEval_SaveThread()
        var sent = 0
        var failure: WSGIError? = nil
        do throws(WSGIError) { sent = try transport.sendFile(fd, offset: offset, count: count, after: &ctx.output.bytes) } catch { failure = error }
        PyEval_RestoreThread(ts)
        ctx.remaining -= sent
        ctx.bodyBytes += sent
        if let failure { throw failure }
        return true
    }

    /// The application raised: log the traceback; answer 500 if nothing was sent yet,
    /// otherwise the connection is cut so the client sees an incomplete response.
    func fail(_ ctx: RequestContext, _ head: RequestHead, _ buffer: UnsafeRawBufferPointer) {
        let method = String(decoding: buffer[head.method], as: UTF8.self)
        let target = String(decoding: buffer[head.target], as: UTF8.self)
        if ctx.bodyTooLarge {
            PyErr_Clear()  // our own refusal, logged by the worker: no traceback
        } else {
            log("error handling \(method) \(target):")
            PyErr_PrintEx(0)
        }
        if ctx.headersSent {
            ctx.failed = true
            ctx.keepAlive = false
            return
        }
        let status = ctx.bodyTooLarge ? 413 : 500
        let reason = ctx.bodyTooLarge ? "Content Too Large" : "Internal Server Error"
        let body = Array("\(reason)\n".utf8)
        if ctx.bodyTooLarge { ctx.keepAlive = false }
        var out = ctx.output.bytes
        ctx.output.bytes = []
        Array("\(status) \(reason)".utf8).withUnsafeBytes {
            ResponseHeadWriter.appendStatusLine(&out, versionMinor: ctx.versionMinor, status: $0)
        }
        out.append(contentsOf: Array("Content-Type: text/plain; charset=utf-8\r\n".utf8))
        let framing: ResponseFraming = ctx.isHead ? .noBody : .contentLength(body.count)
        ResponseHeadWriter.appendEnd(&out, framing: framing, keepAlive: ctx.keepAlive, versionMinor: ctx.versionMinor, date: ctx.date, addServer: true)
        if !ctx.isHead { out.append(contentsOf: body) }
        ctx.output.bytes = out
        ctx.headersSent = true
        ctx.framing = .noBody
        ctx.statusCode = status
        ctx.bodyBytes = ctx.isHead ? 0 : body.count
        ctx.started = true
        ctx.failed = false
    }
}
