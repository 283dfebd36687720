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
