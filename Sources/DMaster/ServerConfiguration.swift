/// The master's settings, validated once from the command line.
public struct ServerConfiguration: Sendable {
    public var binds: [BindAddress]
    public var workers: Int
    public var backlog: Int
    public var gracefulTimeout: Double
    /// Arguments for each worker process (the application and its options).
    public var workerArguments: [String]

    public init(binds: [BindAddress], workers: Int, backlog: Int, gracefulTimeout: Double, workerArguments: [String]) {
        self.binds = binds
        self.workers = workers
        self.backlog = backlog
        self.gracefulTimeout = gracefulTimeout
        self.workerArguments = workerArguments
    }
}

/// A configuration value that cannot be used, naming the option it came from.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public let option: String
    public let message: String

    public init(option: String, _ message: String) {
        self.option = option
        self.message = message
    }

    public var description: String { "\(option): \(message)" }
}

/// Where the server listens: `:8080`, `0.0.0.0:8080`, `127.0.0.1:8080`, `[::1]:8080`,
/// `localhost:8080`, or `unix:/path/to.sock`.
public enum BindAddress: Sendable, Equatable {
    case tcp(host: String?, port: Int)
    case unix(path: String)

    public static func parse(_ text: String) throws(ConfigError) -> BindAddress {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty else { throw ConfigError(option: "--bind", "'\(text)' has no socket path") }
            return .unix(path: path)
        }
        var host: Substring
        var portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw ConfigError(option: "--bind", "'\(text)': missing ']'") }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw ConfigError(option: "--bind", "'\(text)': expected [address]:port") }
            portText = rest.dropFirst()
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        } else {
            throw ConfigError(option: "--bind", "'\(text)': expected HOST:PORT, :PORT or unix:PATH")
        }
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw ConfigError(option: "--bind", "'\(text)': invalid port '\(portText)'")
        }
        return .tcp(host: host.isEmpty ? nil : String(host), port: port)
    }
}
