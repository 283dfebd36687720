/// Serialises a response head. The application's own fields come first; then the server adds
/// Date and Server (unless the application set them), the framing field and Connection.
public enum ResponseHeadWriter {
    static let serverField = Array("Server: dispatchd\r\n".utf8)

    /// Appends "HTTP/1.x " + `status` (e.g. "200 OK") + CRLF.
    @inline(__always)
    public static func appendStatusLine(_ out: inout [UInt8], versionMinor: Int, status: UnsafeRawBufferPointer) {
        out.append(contentsOf: versionMinor >= 1 ? Self.http11 : Self.http10)
        out.append(contentsOf: status)
        out.append(13)
        out.append(10)
    }

    static let http11: [UInt8] = Array("HTTP/1.1 ".utf8)
    static let http10: [UInt8] = Array("HTTP/1.0 ".utf8)

    @inline(__always)
    public static func appendField(_ out: inout [UInt8], name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        out.append(contentsOf: name)
        out.append(58)
        out.append(32)
        out.append(contentsOf: value)
        out.append(13)
        out.append(10)
    }

    /// Appends the server's fields and the empty line that ends the head.
    public static func appendEnd(
        _ out: inout [UInt8],
        framing: ResponseFraming,
        keepAlive: Bool,
        versionMinor: Int,
        date: [UInt8]?,
        addServer: Bool
    ) {
        if let date {
            out.append(contentsOf: Self.dateName)
            out.append(contentsOf: date)
            out.append(13)
            out.append(10)
        }
        if addServer { out.append(contentsOf: Self.serverField) }
        switch framing {
        case .contentLength(let n):
            out.append(contentsOf: Self.contentLengthName)
            appendDecimal(&out, n)
            out.append(13)
            out.append(10)
        case .chunked:
            out.append(contentsOf: Self.chunkedField)
        case .noBody, .untilClose:
            break
        }
        if !keepAlive {
            out.append(contentsOf: Self.connectionClose)
        } else if versionMinor == 0 {
            out.append(contentsOf: Self.connectionKeepAlive)
        }
        out.append(13)
        out.append(10)
    }

    static let dateName = Array("Date: ".utf8)
    static let contentLengthName = Array("Content-Length: ".utf8)
    static let chunkedField = Array("Transfer-Encoding: chunked\r\n".utf8)
    static let connectionClose = Array("Connection: close\r\n".utf8)
    static let connectionKeepAlive = Array("Connection: keep-alive\r\n".utf8)

    public static func appendDecimal(_ out: inout [UInt8], _ value: Int) {
        if value < 10 {
            out.append(UInt8(48 + value))
            return
        }
        var digits:
            (
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8
            ) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = value
        var count = 0
        withUnsafeMutableBytes(of: &digits) { d in
            while n > 0 {
                d[count] = UInt8(48 + n % 10)
                n /= 10
                count += 1
            }
            for i in stride(from: count - 1, through: 0, by: -1) { out.append(d[i]) }
        }
    }

    /// Appends a chunk's size line ("1a\r\n").
    public static func appendChunkSize(_ out: inout [UInt8], _ size: Int) {
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var shift = (Int.bitWidth - size.leadingZeroBitCount + 3) / 4 * 4 - 4
        if shift < 0 { shift = 0 }
        while shift >= 0 {
            out.append(hex[(size >> shift) & 0xF])
            shift -= 4
        }
        out.append(13)
        out.append(10)
    }

    public static let lastChunk: [UInt8] = Array("0\r\n\r\n".utf8)
    public static let crlf: [UInt8] = [13, 10]

    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 206: "Partial Content"
        case 301: "Moved Permanently"
        case 304: "Not Modified"
        case 400: "Bad Request"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 416: "Range Not Satisfiable"
        case 417: "Expectation Failed"
        case 426: "Upgrade Required"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        default: "Error"
        }
    }
}
