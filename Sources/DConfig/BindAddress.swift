/// Where the server listens: `:8080`, `0.0.0.0:8080`, `127.0.0.1:8080`, `[::1]:8080`,
/// `localhost:8080`, or `unix:/path/to.sock`.
public enum BindAddress: Codable, Equatable, Sendable, CustomStringConvertible {
    case tcp(host: String?, port: Int)
    case unix(path: String)

    public static func parse(_ text: String) throws(ConfigError) -> BindAddress {
        func invalid(_ reason: String) -> ConfigError { ConfigError(.bind, .invalid(text, reason: reason)) }
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty else { throw invalid("has no socket path") }
            return .unix(path: path)
        }
        var host: Substring
        var portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw invalid("is missing ']'") }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw invalid("is not [ADDRESS]:PORT") }
            portText = rest.dropFirst()
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        } else {
            throw invalid("is not HOST:PORT, :PORT or unix:PATH")
        }
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw invalid("has an invalid port '\(portText)'")
        }
        return .tcp(host: host.isEmpty ? nil : String(host), port: port)
    }

    /// The address as `parse` reads it.
    public var description: String {
        switch self {
        case .unix(let path): "unix:\(path)"
        case .tcp(let host?, let port) where host.contains(":"): "[\(host)]:\(port)"
        case .tcp(let host, let port): "\(host ?? ""):\(port)"
        }
    }
}
