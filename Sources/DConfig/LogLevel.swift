/// `--log-level`: gunicorn's names for how severe a server log line must be to be written.
public enum LogLevel: String, Codable, CaseIterable, Sendable, CustomStringConvertible {
    case debug, info, warning, error, critical

    public static func parse(_ text: String) throws(ConfigError) -> LogLevel {
        let name = text.lowercased()
        guard let level = name == "warn" ? .warning : LogLevel(rawValue: name) else {
            throw ConfigError(.logLevel, .invalid(text, reason: "is not debug, info, warning, error or critical"))
        }
        return level
    }

    public var description: String { rawValue }
}
