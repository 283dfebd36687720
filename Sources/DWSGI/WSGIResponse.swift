internal import CDPython
public import DHTTP1

/// Where a response stands after a step.
public enum WSGIProgress {
    /// The response is complete in the output buffer (or the request was aborted).
    case done(WSGIOutcome)
    /// Output reached its high-water mark: send it, then call `resume` for more.
    case more(WSGIResponse)
    /// Send the output, then `count` bytes of the file `fd` from `offset` (sendfile), then
    /// report them with `fileSent` and call `resume`.
    case sendFile(WSGIResponse, fd: CInt, offset: Int, count: Int)
}

/// A response being produced: the application's iterable, driven by the worker's event loop
/// one step at a time, so that a large response to a slow reader never holds the worker. Keeps
/// the request's Python objects alive until the end, when the iterable's close() is called.
public final class WSGIResponse {
    let app: WSGIApplication
    let request: WSGIRequest
    var ctx: RequestContext { request.ctx }
    var result: PyObj?
    var iterator: PyObj? = nil
    var finished = false

    /// Output a step leaves unsent before it returns `.more`.
    static let highWater = RequestContext.highWater
    /// Most bytes one step produces, so one fast client does not starve the others.
    static let stepBudget = 1 << 20

    init(app: WSGIApplication, request: WSGIRequest, result: PyObj?) {
        self.app = app
        self.request = request
        self.result = result
    }

    /// First step, with the GIL held, right after the application returned `result`.
    func start(_ head: RequestHead, _ buffer: UnsafeRawBufferPointer) -> WSGIProgress {
        let result = result!
        if UnsafeMutableRawPointer(CDPy_Type(result)) == UnsafeMutableRawPointer(app.runtime.fileWrapperType) {
            switch app.fileBody(result, ctx) {
            case .notAFile: break
            case .failed:
                app.fail(ctx, head, buffer)
                return finish()
            case .empty: return finish()
            case .send(let fd, let offset, let count): return .sendFile(self, fd: fd, offset: offset, count: count)
            }
        }
        let isList = CDPy_ListCheckExact(result) != 0
        if isList || CDPy_TupleCheckExact(result) != 0 {
            if !app.appendSequence(result, isList: isList, ctx) { app.fail(ctx, head, buffer) }
            return finish()
        }
        guard let it = PyObject_GetIter(result) else {
            app.fail(ctx, head, buffer)
            return finish()
        }
        iterator = it
        return step(head, buffer)
    }

    /// Produces more of the response. The head and buffer are the request's (for error logs).
    /// `holdingGIL`: on the request's thread (--threads).
    public func resume(_ head: RequestHead, _ buffer: UnsafeRawBufferPointer, holdingGIL: Bool = false) -> WSGIProgress
    {
        if !holdingGIL { app.runtime.acquireGIL() }
        defer { if !holdingGIL { app.runtime.releaseGIL() } }
        return iterator == nil ? finish() : step(head, buffer)
    }

    /// Records the bytes of a `.sendFile` that reached the client.
    public func fileSent(_ count: Int) {
        ctx.remaining -= count
        ctx.bodyBytes += count
    }

    /// The client went away (or timed out) mid-response: calls close() and releases everything.
    public func abort(holdingGIL: Bool = false) -> WSGIOutcome {
        if !holdingGIL { app.runtime.acquireGIL() }
        defer { if !holdingGIL { app.runtime.releaseGIL() } }
        guard case .done(let outcome) = finish(clientGone: true) else { preconditionFailure("abort did not finish") }
        return outcome
    }

    /// Pulls items until the output reaches the high-water mark or the step budget, or the
    /// iterable ends. Each item is offered to the socket before the next is asked for, so a
    /// generator that streams (server-sent events, progress) reaches the client as it goes.
    func step(_ head: RequestHead, _ buffer: UnsafeRawBufferPointer) -> WSGIProgress {
        let it = iterator!
        var produced = 0
        var first = true
        while true {
            if !first {
                do throws(WSGIError) {
                    try ctx.transport?.sendBuffered(wait: false)
                } catch {
                    return finish(clientGone: true)
                }
                if (ctx.transport?.unsentCount ?? 0) >= Self.highWater || produced >= Self.stepBudget {
                    return .more(self)
                }
            }
            first = false
            guard let item = PyIter_Next(it) else { break }
            defer { Py_DECREF(item) }
            guard CDPy_BytesCheck(item) != 0 else {
                _ = app.notBytes(item)
                app.fail(ctx, head, buffer)
                return finish()
            }
            guard ctx.started else {
                _ = app.notStarted()
                app.fail(ctx, head, buffer)
                return finish()
            }
            let n = CDPy_BytesSize(item)
            ctx.writeBody(UnsafeRawBufferPointer(start: CDPy_BytesData(item), count: n))
            produced += n
        }
        if PyErr_Occurred() != nil {
            app.fail(ctx, head, buffer)
        } else if !ctx.started {
            _ = app.notStarted()
            app.fail(ctx, head, buffer)
        }
        return finish()
    }

    /// Ends the request (GIL held): close(), the response's end, the Python objects released.
    func finish(clientGone: Bool = false) -> WSGIProgress {
        precondition(!finished, "Internal inconsistency: a response finished twice")
        finished = true
        if let iterator { Py_DECREF(iterator) }
        iterator = nil
        if let result {
            app.callClose(result)
            Py_DECREF(result)
        }
        result = nil
        if !clientGone && !ctx.failed { ctx.finish() }
        request.release()
        let aborted = clientGone || ctx.failed
        var outcome = WSGIOutcome(
            status: ctx.statusCode, bodyBytes: ctx.bodyBytes, keepAlive: ctx.keepAlive && !aborted)
        if !app.loggedResponseHeaders.isEmpty || !app.loggedEnviron.isEmpty {
            outcome.logged =
                (ctx.loggedHeaders ?? Array(repeating: nil, count: app.loggedResponseHeaders.count))
                + (ctx.loggedEnviron ?? Array(repeating: nil, count: app.loggedEnviron.count))
        }
        return .done(outcome)
    }
}
