internal import CDPython

/// One request's Python objects: its context, environ, `wsgi.input` and `start_response`.
/// Released once, with the GIL held, when the request ends (or hands its connection to a
/// WebSocket handler).
struct WSGIRequest {
    let ctx: RequestContext
    let environ: PyObj
    let input: PyObj
    let startResponse: PyObj

    func release() {
        ctx.transport = nil
        ctx.releaseResponseHeaders()
        Py_DECREF(startResponse)
        Py_DECREF(input)
        Py_DECREF(environ)
    }
}
