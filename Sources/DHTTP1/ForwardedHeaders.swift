/// What a trusted proxy says about the client (`--forwarded-allow-ips`): `X-Forwarded-For`,
/// `-Proto`, `-Host`, `-Port`, or RFC 7239 `Forwarded` (which wins when both are there). Pure:
/// the values come as the request carried them, trust as a predicate. A malformed value is
/// ignored (the connection's own address, scheme and host stay), never an error.
public struct ForwardedHeaders: Equatable, Sendable {
    /// The client: the rightmost address in the chain that is not itself a trusted proxy (the
    /// ones to its left could be anything the client made up); all trusted: the leftmost.
    public var remoteAddr: String? = nil
    /// `http` or `https`.
    public var scheme: String? = nil
    public var host: String? = nil
    public var port: String? = nil

    public init(remoteAddr: String? = nil, scheme: String? = nil, host: String? = nil, port: String? = nil) {
        self.remoteAddr = remoteAddr
        self.scheme = scheme
        self.host = host
        self.port = port
    }

    /// The fields of one request: each list holds the values of every field of that name, in
    /// order.
    public struct Fields: Sendable {
        public var forwardedFor: [String] = []
        public var proto: [String] = []
        public var host: [String] = []
        public var port: [String] = []
        public var forwarded: [String] = []
        public init() {}
    }

    /// Which of the fields a header name is (lowercase ASCII compare), if any.
    public enum Name: Sendable { case forwardedFor, proto, host, port, forwarded }

    public static func name(_ bytes: UnsafeRawBufferPointer) -> Name? {
        func equals(_ s: StaticString) -> Bool {
            guard bytes.count == s.utf8CodeUnitCount else { return false }
            let p = s.utf8Start
            for i in 0..<bytes.count where bytes[i] | 0x20 != p[i] | 0x20 { return false }
            return true
        }
        switch bytes.count {
        case 9: return equals("forwarded") ? .forwarded : nil
        case 15: return equals("x-forwarded-for") ? .forwardedFor : nil
        case 16: return equals("x-forwarded-host") ? .host : equals("x-forwarded-port") ? .port : nil
        case 17: return equals("x-forwarded-proto") ? .proto : nil
        default: return nil
        }
    }

    public static func resolve(_ fields: Fields, isTrusted: (String) -> Bool) -> ForwardedHeaders {
        var result = ForwardedHeaders()
        var chain: [String]
        var proto: String?
        var host: String?
        var port: String? = nil
        if !fields.forwarded.isEmpty {
            let elements = fields.forwarded.flatMap { splitList($0) }.map(parameters)
            chain = elements.compactMap { $0["for"] }
            // The element the nearest untrusted hop is described by carries its proto and host;
            // simplest and what proxies send: the first element's.
            proto = elements.first?["proto"]
            host = elements.first?["host"]
        } else {
            chain = fields.forwardedFor.flatMap { splitList($0) }
            proto = fields.proto.first.flatMap { splitList($0).first }
            host = fields.host.first.flatMap { splitList($0).first }
            port = fields.port.first.flatMap { splitList($0).first }
        }
        chain = chain.map(nodeAddress)
        if !chain.isEmpty {
            var pick = chain[0]
            for address in chain.reversed() where !isTrusted(address) {
                pick = address
                break
            }
            if isAddress(pick) { result.remoteAddr = pick }
        }
        if let p = proto?.lowercased(), p == "http" || p == "https" { result.scheme = p }
        if let h = host, isHost(h) {
            result.host = h
            if port == nil, let colon = h.lastIndex(of: ":"), !h.hasSuffix("]") {
                port = String(h[h.index(after: colon)...])
            }
        }
        if let p = port, let n = Int(p), (1...65535).contains(n), p.allSatisfy(\.isASCII) { result.port = String(n) }
        return result
    }

    /// `a, b ,c` → [a, b, c] (empty items dropped).
    static func splitList(_ value: String) -> [String] {
        value.split(separator: ",").map { $0.trimmingSpaces }.filter { !$0.isEmpty }
    }

    /// `for=192.0.2.60;proto=http;by=203.0.113.43` → its parameters, names lowercased, quotes
    /// removed.
    static func parameters(_ element: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in element.split(separator: ";") {
            guard let eq = pair.firstIndex(of: "=") else { continue }
            let name = pair[..<eq].trimmingSpaces.lowercased()
            var value = pair[pair.index(after: eq)...].trimmingSpaces
            if value.count >= 2 && value.hasPrefix("\"") && value.hasSuffix("\"") {
                value = String(value.dropFirst().dropLast())
            }
            out[name] = value
        }
        return out
    }

    /// A node as Forwarded writes it (`"[2001:db8::1]:4711"`, `192.0.2.43:47011`) → its address.
    static func nodeAddress(_ node: String) -> String {
        if node.hasPrefix("["), let close = node.firstIndex(of: "]") {
            return String(node[node.index(after: node.startIndex)..<close])
        }
        if node.filter({ $0 == ":" }).count == 1, let colon = node.firstIndex(of: ":") {
            return String(node[..<colon])
        }
        return node
    }

    /// Digits, dots, hex digits and colons only, with a dot or a colon: an IPv4 or IPv6 address
    /// in form (the server compares it, never resolves it).
    static func isAddress(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 45 && (s.contains(".") || s.contains(":"))
            && s.allSatisfy { $0.isHexDigit || $0 == "." || $0 == ":" }
    }

    /// A host name or address with an optional port: no spaces, slashes or controls.
    static func isHost(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 255
            && s.unicodeScalars.allSatisfy {
                ($0.value > 0x20 && $0.value < 0x7F) && $0 != "/" && $0 != "\\" && $0 != "@" && $0 != "\""
            }
    }
}

extension StringProtocol {
    fileprivate var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
