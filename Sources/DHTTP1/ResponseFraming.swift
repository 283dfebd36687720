/// How a response's body is delimited on the wire, decided from the request and what the
/// application declared (RFC 9112 §6.3).
public enum ResponseFraming: Equatable, Sendable {
    /// No body may be sent (HEAD, 1xx, 204, 304); declared headers are kept.
    case noBody
    case contentLength(Int)
    case chunked
    /// HTTP/1.0 without a length: the body ends when the connection closes.
    case untilClose

    /// - Parameters:
    ///   - status: the response status code.
    ///   - isHead: the request method was HEAD.
    ///   - versionMinor: the request's HTTP minor version.
    ///   - declaredLength: the Content-Length the application set, if any.
    public static func decide(status: Int, isHead: Bool, versionMinor: Int, declaredLength: Int?) -> ResponseFraming {
        if isHead || status < 200 || status == 204 || status == 304 { return .noBody }
        if let declaredLength { return .contentLength(declaredLength) }
        return versionMinor >= 1 ? .chunked : .untilClose
    }

    /// Whether the connection can carry another request after this response.
    public var allowsKeepAlive: Bool { self != .untilClose }
}
