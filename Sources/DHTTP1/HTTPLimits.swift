/// Size limits on a request head; each has the status a client gets when it is crossed. The
/// server's values (and defaults) come from its configuration.
public struct HTTPLimits: Sendable, Equatable {
    /// Longest request line (414).
    public var requestLine: Int
    /// Longest single header field line (431).
    public var fieldLine: Int
    /// Largest head in all (431).
    public var headSize: Int
    /// Most header fields (431).
    public var fieldCount: Int

    public init(requestLine: Int, fieldLine: Int, headSize: Int, fieldCount: Int) {
        self.requestLine = requestLine
        self.fieldLine = fieldLine
        self.headSize = headSize
        self.fieldCount = fieldCount
    }
}
