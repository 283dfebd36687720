/// One `--static-map PREFIX=DIR`: the files of a directory served under a URL prefix.
public struct StaticMap: Codable, Equatable, Sendable {
    /// Starts with '/', and has no trailing '/' (unless it is "/").
    public var prefix: String
    /// Absolute once the configuration is built (static directories are relative to where
    /// the server was started, not to --chdir).
    public var directory: String
    /// Cache-Control max-age in seconds (--static-expires), if any.
    public var expires: Int?

    public init(prefix: String, directory: String, expires: Int? = nil) {
        self.prefix = prefix
        self.directory = directory
        self.expires = expires
    }

    /// `PREFIX=DIR`.
    public static func parse(_ text: String) throws(ConfigError) -> StaticMap {
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, parts[0].hasPrefix("/"), !parts[1].isEmpty else {
            throw ConfigError(.staticMap, .invalid(text, reason: "is not PREFIX=DIR with PREFIX starting with '/'"))
        }
        return StaticMap(prefix: normalized(parts[0]), directory: parts[1])
    }

    /// One `--static-expires [PREFIX=]SECONDS`: for one map, or for every map without its own.
    public struct Expiry: Equatable, Sendable {
        public var prefix: String?
        public var seconds: Int

        public init(prefix: String?, seconds: Int) {
            self.prefix = prefix
            self.seconds = seconds
        }

        public static func parse(_ text: String) throws(ConfigError) -> Expiry {
            let parts = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard let seconds = Int(parts[parts.count - 1]), seconds >= 0, parts.count == 1 || parts[0].hasPrefix("/")
            else {
                throw ConfigError(.staticExpires, .invalid(text, reason: "is not SECONDS or PREFIX=SECONDS"))
            }
            return Expiry(prefix: parts.count == 2 ? normalized(parts[0]) : nil, seconds: seconds)
        }
    }

    /// A prefix without trailing slashes, so that `/assets/` and `/assets` are one map.
    static func normalized(_ prefix: String) -> String {
        var p = prefix
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        return p
    }
}
