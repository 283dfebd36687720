/// `--accept-mode`: who accepts connections from the listening sockets.
public enum AcceptMode: String, Codable, CaseIterable, Sendable, CustomStringConvertible {
    /// The master accepts and hands each connection to a worker with room (the default).
    case single
    /// The workers accept from the listening sockets they inherit, one woken per connection
    /// (EPOLLEXCLUSIVE); the master only supervises.
    case shared

    public static func parse(_ text: String) throws(ConfigError) -> AcceptMode {
        guard let mode = AcceptMode(rawValue: text.lowercased()) else {
            throw ConfigError(.acceptMode, .invalid(text, reason: "is not single or shared"))
        }
        return mode
    }

    public var description: String { rawValue }
}
