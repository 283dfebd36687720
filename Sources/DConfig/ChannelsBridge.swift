/// Where dispatchd.channels go beyond this machine (`--channels redis://HOST[:PORT][/DB]`):
/// a Redis server whose pub/sub carries every channel between the instances that name it.
public struct ChannelsBridge: Codable, Equatable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// Redis's pub/sub ignores the database, so instances that name different ones would hear
    /// each other: the number is part of the Redis channels' names instead (`dispatchd:DB:`).
    public var database: Int

    public init(host: String, port: Int = 6379, database: Int = 0) {
        self.host = host
        self.port = port
        self.database = database
    }

    public static func parse(_ text: String) throws(ConfigError) -> ChannelsBridge {
        func invalid(_ reason: String) -> ConfigError { ConfigError(.channels, .invalid(text, reason: reason)) }
        guard text.hasPrefix("redis://") else { throw invalid("is not a redis://HOST[:PORT][/DB] URL") }
        var rest = Substring(text.dropFirst("redis://".count))
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let db = rest[rest.index(after: slash)...]
            if !db.isEmpty {
                guard let n = Int(db), n >= 0 else { throw invalid("has a database that is not a number (\(db))") }
                database = n
            }
            rest = rest[..<slash]
        }
        if rest.contains("@") { throw invalid("has a password: give Redis's address only (AUTH is not supported)") }
        var host = String(rest)
        var port = 6379
        if rest.hasPrefix("[") {
            // [IPv6]:PORT
            guard let close = rest.firstIndex(of: "]") else { throw invalid("has an unclosed [") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = Int(after.dropFirst()) else { throw invalid("has a bad port") }
                port = p
            }
        } else if let colon = rest.lastIndex(of: ":") {
            guard let p = Int(rest[rest.index(after: colon)...]) else { throw invalid("has a bad port") }
            port = p
            host = String(rest[..<colon])
        }
        guard !host.isEmpty else { throw invalid("has no host") }
        guard (1...65535).contains(port) else { throw invalid("has a port out of range (\(port))") }
        return ChannelsBridge(host: host, port: port, database: database)
    }

    public var description: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return "redis://\(h):\(port)/\(database)"
    }
}
