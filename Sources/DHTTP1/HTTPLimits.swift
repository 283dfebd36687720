/// Size limits on a request head; each has the status a client gets when it is crossed.
public struct HTTPLimits: Sendable, Equatable {
    /// Longest request line (414).
    public var requestLine: Int = 8192
    /// Longest single header field line (431).
    public var fieldLine: Int = 8192
    /// Largest head in all (431).
    public var headSize: Int = 65536
    /// Most header fields (431).
    public var fieldCount: Int = 100

    public init() {}
}
