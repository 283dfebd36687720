import DHTTP1
import DWSGI

#if canImport(Glibc)
    import Glibc
#endif

/// The worker's side of one request without a socket: the request body, already received, and
/// a client that takes the output. `wire` is what reached the client, in order.
final class FakeTransport: WSGITransport {
    let output = OutputBuffer()
    private(set) var wire: [UInt8] = []
    /// Times the bridge waited for the client to take everything (`sendBuffered(wait: true)`).
    private(set) var waits = 0
    private let body: [UInt8]
    private var bodyOffset = 0
    /// Most body bytes one read returns, so that lines and reads cross the bridge's refills.
    private let readPiece: Int
    /// Most bytes the client takes without waiting (nil: all of them), as a slow reader would.
    private let sendWindow: Int?
    /// Every send fails, as when the client has closed the connection.
    private let clientGone: Bool

    init(body: [UInt8], readPiece: Int, sendWindow: Int?, clientGone: Bool) {
        self.body = body
        self.readPiece = readPiece
        self.sendWindow = sendWindow
        self.clientGone = clientGone
    }

    func readBody(into buffer: UnsafeMutableRawBufferPointer) throws(WSGIError) -> Int {
        let n = min(buffer.count, readPiece, body.count - bodyOffset)
        body.withUnsafeBytes { raw in
            buffer.baseAddress!.copyMemory(from: raw.baseAddress! + bodyOffset, byteCount: n)
        }
        bodyOffset += n
        return n
    }

    func sendBuffered(wait: Bool) throws(WSGIError) {
        if clientGone { throw WSGIError(.clientGone, "the test client is gone") }
        if wait { waits += 1 }
        take(wait ? output.bytes.count : min(output.bytes.count, sendWindow ?? Int.max))
    }

    var unsentCount: Int { output.bytes.count }

    func keepAliveAllowed() -> Bool { true }

    /// The worker's write watcher found the socket writable until the output drained.
    func drain() {
        if clientGone {
            output.bytes.removeAll()
        } else {
            take(output.bytes.count)
        }
    }

    /// What the worker's sendfile does for a `.sendFile` step.
    func sendFile(fd: CInt, offset: Int, count: Int) {
        var chunk = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = chunk.withUnsafeMutableBytes {
                pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done))
            }
            guard n > 0 else { break }
            done += n
        }
        wire += chunk[0..<done]
    }

    private func take(_ n: Int) {
        wire += output.bytes[0..<n]
        output.bytes.removeFirst(n)
    }
}
