public import DHTTP1

/// What the worker provides to a request: the request body, already received in full, and the
/// connection's output buffer. Only `sendBuffered(wait: true)` waits on the client; the bridge
/// releases the GIL around it.
public protocol WSGITransport: AnyObject {
    /// Reads decoded request body bytes into `buffer`; 0 means the body has ended. The body
    /// was received before the application was called: this never waits on the client.
    func readBody(into buffer: UnsafeMutableRawBufferPointer) throws(WSGIError) -> Int
    /// Sends the connection's buffered output: what the socket takes now (`wait: false`), or
    /// all of it, waiting up to the write timeout (`wait: true`).
    func sendBuffered(wait: Bool) throws(WSGIError)
    /// Output bytes appended but not sent yet.
    var unsentCount: Int { get }
    /// Asked when the response head is written: false when the connection must close after
    /// this response (the worker is draining).
    func keepAliveAllowed() -> Bool
    /// A request that came over the uwsgi protocol: the vars its front server sent, which go
    /// into the environ as they are (uWSGI's behaviour); nil for HTTP.
    var gatewayVars: [UWSGIPacket.Request.Var]? { get }
    /// The `X-Request-ID` the server made for this request (the client sent none it could
    /// keep): it goes into the environ as `HTTP_X_REQUEST_ID`. nil: the client's is kept.
    var madeRequestID: RequestID? { get }
}

extension WSGITransport {
    public var gatewayVars: [UWSGIPacket.Request.Var]? { nil }
    public var madeRequestID: RequestID? { nil }
}
