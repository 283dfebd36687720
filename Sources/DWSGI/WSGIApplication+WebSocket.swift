internal import CDPython
public import DHTTP1
internal import DPosix

/// What came of a request that asked for a WebSocket.
public enum UpgradeResult {
    /// The application answered with an ordinary response (it did not take the WebSocket).
    case http(WSGIProgress)
    /// The application answered the handshake; its handler task is in this state.
    case webSocket(TaskState)
}

extension WSGIApplication {
    /// Calls the application for a request with a valid WebSocket handshake. The environ has
    /// `dispatchd.websocket`; blocking-style handlers run as greenlets, async ones as coroutines.
    public func handleUpgrade(
        head: RequestHead,
        buffer: UnsafeRawBufferPointer,
        info: WSGIConnectionInfo,
        transport: WSGITransport,
        output: OutputBuffer,
        date: [UInt8],
        endpoint: WebSocketEndpoint
    ) -> UpgradeResult {
        runtime.acquireGIL()
        defer { runtime.releaseGIL() }

        let request = makeRequest(
            head: head, buffer: buffer, info: info, transport: transport, output: output,
            keepAlive: false, date: date)
        let sock = SocketObject.make(endpoint, type: runtime.socketType)
        PyDict_SetItemString(request.environ, "dispatchd.websocket", sock)
        let outcome = withUnsafeTemporaryAllocation(of: PyObj?.self, capacity: 4) { args in
            args[0] = app
            args[1] = request.environ
            args[2] = request.startResponse
            args[3] = sock
            return PyObject_Vectorcall(runtime.startUpgrade, args.baseAddress, 4, nil)
        }
        Py_DECREF(sock)
        if endpoint.isUpgraded {
            // The handler owns the connection now; an HTTP response it returns is ignored.
            request.release()
            return .webSocket(taskState(outcome, what: "the WebSocket handler for"))
        }
        guard let outcome else {
            let response = WSGIResponse(app: self, request: request, result: nil)
            fail(request.ctx, head, buffer)
            return .http(response.finish())
        }
        let done = CDPy_TupleGet(outcome, 0)! == CDPy_True()
        let result = CDPy_TupleGet(outcome, 1)!
        Py_INCREF(result)
        Py_DECREF(outcome)
        let response = WSGIResponse(app: self, request: request, result: result)
        guard done else {
            // dispatchd's waits need an upgraded socket; only code that switches greenlets by
            // itself gets here. Its request fails; the greenlet is left to the collector.
            Py_DECREF(result)
            response.result = nil
            raise(CDPy_ExcRuntimeError(), "the application suspended before answering the WebSocket handshake")
            fail(request.ctx, head, buffer)
            return .http(response.finish())
        }
        return .http(response.start(head, buffer))
    }

    /// Continues suspended handler tasks (the GIL is taken once for all): `true` when what
    /// they waited for happened, `false` on a timeout. Returns each task's connection (if it
    /// still exists) and its state. `beforeEach`, if given, is told each task's connection (if
    /// it still exists) before its step: --timeout times and names each step on its own.
    public func resume(
        _ tasks: [(PythonTask, Bool)], beforeEach: ((WebSocketEndpoint?) -> Void)? = nil
    ) -> [(WebSocketEndpoint?, TaskState)] {
        runtime.acquireGIL()
        defer { runtime.releaseGIL() }
        var results: [(WebSocketEndpoint?, TaskState)] = []
        results.reserveCapacity(tasks.count)
        for (task, value) in tasks {
            if let beforeEach { beforeEach(SocketObject.endpoint(ofTask: task.object, runtime: runtime)) }
            let outcome = call(runtime.resumeTask, task.object, value ? CDPy_True() : CDPy_False())
            let state = taskState(outcome, what: "a WebSocket handler of")
            results.append(
                (state == .suspended ? nil : SocketObject.endpoint(ofTask: task.object, runtime: runtime), state))
        }
        return results
    }

    /// Reads `(done, result)` from the scheduler's Python half (consumes the reference); a
    /// NULL means the handler raised: the traceback is printed.
    func taskState(_ outcome: PyObj?, what: String) -> TaskState {
        guard let outcome else {
            if PyErr_ExceptionMatches(runtime.webSocketClosed) != 0 {
                // uWSGI-style code ends this way when its client leaves: not an error.
                PyErr_Clear()
                return .finished
            }
            if PyErr_ExceptionMatches(runtime.requestTimeout) != 0 {
                // Its stacks were logged when it was interrupted.
                PyErr_Clear()
                log(
                    "a WebSocket handler was interrupted by the request timeout: its WebSocket closes with 1011",
                    level: .error)
                return .failed
            }
            logPythonError("error in \(what) a WebSocket:")
            return .failed
        }
        defer { Py_DECREF(outcome) }
        guard CDPy_TupleGet(outcome, 0)! == CDPy_True() else { return .suspended }
        let result = CDPy_TupleGet(outcome, 1)!
        if result != CDPy_None() { callClose(result) }
        return .finished
    }
}

/// Calls `fn(a, b)` (vectorcall: no argument tuple).
func call(_ fn: PyObj, _ a: PyObj, _ b: PyObj) -> PyObj? {
    withUnsafeTemporaryAllocation(of: PyObj?.self, capacity: 2) { args in
        args[0] = a
        args[1] = b
        return PyObject_Vectorcall(fn, args.baseAddress, 2, nil)
    }
}
