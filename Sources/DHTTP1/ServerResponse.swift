/// Responses the server makes itself (refusals, static files, redirects, the 500 for an
/// application that raised), all written one way: the status line in the request's version,
/// the given fields, Date and Server, the framing and Connection fields, and a body that is in
/// memory or follows (a file).
public enum ServerResponse {
    /// Appends a head. `length`: the body's length (nil: a response that has no body). A HEAD
    /// response's head is the GET's, byte for byte (the length announced, no body follows); a
    /// 304 or 204 announces none.
    public static func appendHead(
        _ out: inout [UInt8], status: Int, fields: String = "", length: Int?,
        keepAlive: Bool, versionMinor: Int, date: [UInt8]?
    ) {
        Array("\(status) \(ResponseHeadWriter.reasonPhrase(status))".utf8).withUnsafeBytes {
            ResponseHeadWriter.appendStatusLine(&out, versionMinor: versionMinor, status: $0)
        }
        out.append(contentsOf: fields.utf8)
        let announced: ResponseFraming =
            status == 304 || status == 204 ? .noBody : length.map { .contentLength($0) } ?? .noBody
        ResponseHeadWriter.appendEnd(
            &out, framing: announced, keepAlive: keepAlive, versionMinor: versionMinor, date: date, addServer: true)
    }

    /// Appends a complete response whose body is a short text (nil: none at all). Returns the
    /// body bytes sent.
    @discardableResult
    public static func appendText(
        _ out: inout [UInt8], status: Int, fields: String = "", text: String?, isHead: Bool,
        keepAlive: Bool, versionMinor: Int, date: [UInt8]?
    ) -> Int {
        let body = text.map { Array($0.utf8) }
        let type = body?.isEmpty == false ? "Content-Type: text/plain; charset=utf-8\r\n" : ""
        appendHead(
            &out, status: status, fields: type + fields, length: body?.count,
            keepAlive: keepAlive, versionMinor: versionMinor, date: date)
        guard let body, !isHead else { return 0 }
        out.append(contentsOf: body)
        return body.count
    }

    /// Appends the answer to a request refused before any application ran: its status with
    /// the usual text ("413 Content Too Large"), and the connection closes after it.
    public static func appendRefusal(
        _ out: inout [UInt8], _ error: HTTPError, fields: String = "", versionMinor: Int = 1, date: [UInt8]?
    ) {
        appendText(
            &out, status: error.status, fields: fields,
            text: "\(error.status) \(ResponseHeadWriter.reasonPhrase(error.status))\n",
            isHead: false, keepAlive: false, versionMinor: versionMinor, date: date)
    }
}
