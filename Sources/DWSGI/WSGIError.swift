/// Failures of the Python bridge and of the transport under it.
public struct WSGIError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// The interpreter could not start, or runs another version than it was built for.
        case interpreter
        /// The application could not be imported or is not callable (the traceback is printed).
        case appLoad
        /// The client's body ended before its declared length or last chunk.
        case bodyTruncated
        /// The client stopped sending or reading for longer than the timeout.
        case timeout
        /// The client closed the connection or reset it.
        case clientGone
        /// The request body is larger than the configured limit.
        case bodyTooLarge
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// What the worker must provide to a request: the decoded body and a way to send output now.
/// Calls may block (the bridge releases the GIL around them) up to the worker's timeouts.
public protocol WSGITransport: AnyObject {
    /// Reads decoded request body bytes into `buffer`; 0 means the body has ended.
    func readBody(into buffer: UnsafeMutableRawBufferPointer) throws(WSGIError) -> Int
    /// Sends every byte of `output` to the client now.
    func flush(_ output: inout [UInt8]) throws(WSGIError)
    /// Sends `count` bytes of the open file `fd` from `offset`, after flushing `output`.
    func sendFile(_ fd: CInt, offset: Int, count: Int, after output: inout [UInt8]) throws(WSGIError) -> Int
    /// Asked when the response head is written: false when the connection must close after
    /// this response (the worker is draining, or a body the client was not asked to send yet
    /// is still unread).
    func keepAliveAllowed() -> Bool
}
