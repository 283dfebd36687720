/// A parsed request head. Byte ranges are offsets into the buffer that was parsed; the
/// buffer must stay unchanged while they are used.
public struct RequestHead: Sendable {
    public struct Field: Sendable, Equatable {
        public var name: Range<Int>
        public var value: Range<Int>
    }

    public enum Method: Sendable, Equatable {
        case get, head, post, put, delete, options, patch, other
    }

    public var method: Range<Int> = 0..<0
    public var methodKind: Method = .other
    public var target: Range<Int> = 0..<0
    public var versionMinor: Int = 1
    public var fields: [Field] = []
    /// Bytes of the head, including the empty line that ends it.
    public var length: Int = 0

    /// Body framing.
    public var contentLength: Int? = nil
    public var chunked: Bool = false
    /// The client allows the connection to stay open after this request.
    public var keepAlive: Bool = true
    public var expectContinue: Bool = false
    /// `Connection: upgrade` with an `Upgrade` field.
    public var upgrade: Bool = false
    /// The client's `X-Request-ID`, when it is one field of 1 to 200 visible ASCII bytes (kept
    /// for the environ and the access log; otherwise the server makes one).
    public var clientRequestID: Range<Int>? = nil
    var sawRequestID = false

    public init() {
        fields.reserveCapacity(8)
    }

    public var hasBody: Bool { chunked || (contentLength ?? 0) > 0 }

    mutating func reset() {
        fields.removeAll(keepingCapacity: true)
        contentLength = nil
        chunked = false
        keepAlive = true
        expectContinue = false
        upgrade = false
        clientRequestID = nil
        sawRequestID = false
        methodKind = .other
    }
}
