internal import DHTTP1
internal import DPosix

/// Access log lines in the combined log format plus the request time in seconds, buffered and
/// written to stdout in large writes.
final class AccessLog {
    var buffer: [UInt8] = []
    static let flushSize = 32 * 1024

    init() { buffer.reserveCapacity(Self.flushSize + 1024) }

    /// Appends one line. `head` indexes `request`.
    func record(
        remote: String, date: [UInt8], head: RequestHead, request: UnsafeRawBufferPointer,
        status: Int, bytes: Int, seconds: Double
    ) {
        buffer.append(contentsOf: remote.utf8)
        buffer.append(contentsOf: Self.dashes)
        buffer.append(contentsOf: date)
        buffer.append(contentsOf: Self.dateEnd)
        appendEscaped(UnsafeRawBufferPointer(rebasing: request[head.method]))
        buffer.append(32)
        appendEscaped(UnsafeRawBufferPointer(rebasing: request[head.target]))
        buffer.append(contentsOf: head.versionMinor >= 1 ? Self.http11 : Self.http10)
        ResponseHeadWriter.appendDecimal(&buffer, status)
        buffer.append(32)
        if bytes > 0 { ResponseHeadWriter.appendDecimal(&buffer, bytes) } else { buffer.append(45) }
        buffer.append(contentsOf: Self.quoteOpen)
        appendField(head, request, "referer")
        buffer.append(contentsOf: Self.quoteBetween)
        appendField(head, request, "user-agent")
        buffer.append(contentsOf: Self.quoteClose)
        let micros = Int(seconds * 1_000_000)
        ResponseHeadWriter.appendDecimal(&buffer, micros / 1_000_000)
        buffer.append(46)
        let frac = micros % 1_000_000
        var digits = 100_000
        while digits > 0 {
            buffer.append(UInt8(48 + (frac / digits) % 10))
            digits /= 10
        }
        buffer.append(10)
        if buffer.count >= Self.flushSize { flush() }
    }

    func appendField(_ head: RequestHead, _ request: UnsafeRawBufferPointer, _ name: StaticString) {
        for f in head.fields where f.name.count == name.utf8CodeUnitCount {
            let n = name.utf8Start
            var match = true
            for (i, j) in f.name.enumerated() where (request[j] | 0x20) != n[i] {
                match = false
                break
            }
            if match {
                appendEscaped(UnsafeRawBufferPointer(rebasing: request[f.value]))
                return
            }
        }
        buffer.append(45)
    }

    /// Bytes that could forge a log line (quotes, backslashes, controls, non-ASCII) as \xHH.
    func appendEscaped(_ raw: UnsafeRawBufferPointer) {
        let hex = Self.hex
        for b in raw {
            if b >= 0x20 && b < 0x7F && b != 34 && b != 92 {
                buffer.append(b)
            } else {
                buffer.append(92)
                buffer.append(120)
                buffer.append(hex[Int(b >> 4)])
                buffer.append(hex[Int(b & 15)])
            }
        }
    }

    func flush() {
        guard !buffer.isEmpty else { return }
        buffer.withUnsafeBytes { Posix.writeAll(1, $0) }
        buffer.removeAll(keepingCapacity: true)
    }

    static let hex = Array("0123456789abcdef".utf8)
    static let dashes = Array(" - - [".utf8)
    static let dateEnd = Array("] \"".utf8)
    static let http11 = Array(" HTTP/1.1\" ".utf8)
    static let http10 = Array(" HTTP/1.0\" ".utf8)
    static let quoteOpen = Array(" \"".utf8)
    static let quoteBetween = Array("\" \"".utf8)
    static let quoteClose = Array("\" ".utf8)
}
