internal import DCrypto

/// RFC 6455 section 4.2: checks a client's opening handshake. The caller supplies the request's
/// method, version and header values; the result is the key to answer, or the status to
/// refuse with.
public struct WebSocketHandshake: Sendable, Equatable {
    public var key: String
    /// The subprotocols the client offered, in its order.
    public var protocols: [String]
    /// The client offered permessage-deflate (RFC 7692) parameters, raw.
    public var extensions: [String]

    public enum Refusal: Error, Sendable, Equatable {
        /// 400 with this reason.
        case badRequest(String)
        /// 426: an unsupported Sec-WebSocket-Version (answer with `Sec-WebSocket-Version: 13`).
        case unsupportedVersion
    }

    /// `header(name)` returns every value of a header field (lowercase name).
    public static func check(
        isGet: Bool, versionMinor: Int, header: (String) -> [String]
    ) -> Result<WebSocketHandshake, Refusal> {
        guard isGet else { return .failure(.badRequest("a WebSocket handshake must be a GET")) }
        guard versionMinor >= 1 else { return .failure(.badRequest("a WebSocket handshake needs HTTP/1.1")) }
        guard tokens(header("upgrade")).contains("websocket") else {
            return .failure(.badRequest("no 'Upgrade: websocket'"))
        }
        guard tokens(header("connection")).contains("upgrade") else {
            return .failure(.badRequest("no 'Connection: Upgrade'"))
        }
        let versions = header("sec-websocket-version")
        guard versions.count == 1, versions[0].trimmed == "13" else { return .failure(.unsupportedVersion) }
        let keys = header("sec-websocket-key")
        guard keys.count == 1, let decoded = Base64.decode(keys[0].trimmed), decoded.count == 16 else {
            return .failure(.badRequest("Sec-WebSocket-Key is not 16 bytes in base64"))
        }
        let protocols = header("sec-websocket-protocol").flatMap { $0.split(separator: ",").map { String($0).trimmed } }
            .filter { !$0.isEmpty }
        let extensions = header("sec-websocket-extensions").flatMap {
            $0.split(separator: ",").map { String($0).trimmed }
        }.filter { !$0.isEmpty }
        return .success(WebSocketHandshake(key: keys[0].trimmed, protocols: protocols, extensions: extensions))
    }

    /// Whether the header values list `token` (case-insensitive).
    public static func tokensContain(_ values: [String], _ token: String) -> Bool {
        tokens(values).contains(token)
    }

    /// The lowercase comma-separated tokens of some header values.
    static func tokens(_ values: [String]) -> Set<String> {
        Set(values.flatMap { $0.split(separator: ",").map { String($0).trimmed.lowercased() } })
    }

    /// The GUID that RFC 6455 appends to the key before hashing.
    public static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// Sec-WebSocket-Accept: the key with the protocol's GUID, hashed (SHA-1), in base64.
    public var acceptValue: String { Base64.encode(SHA1.digest(Array((key + Self.guid).utf8))) }

    /// The 101 response that completes the handshake, with the subprotocol the application
    /// chose and the extension answer (permessage-deflate), if any.
    public func response(subprotocol: String?, extensions: String?) -> [UInt8] {
        var head =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: \(acceptValue)\r\n"
        if let subprotocol { head += "Sec-WebSocket-Protocol: \(subprotocol)\r\n" }
        if let extensions { head += "Sec-WebSocket-Extensions: \(extensions)\r\n" }
        return Array((head + "\r\n").utf8)
    }
}

extension String {
    var trimmed: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
