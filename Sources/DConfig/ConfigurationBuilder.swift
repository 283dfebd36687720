/// Builds the ServerConfiguration from settings given one by one (the command line today; a
/// configuration file and the environment can feed the same builder). Values written as text
/// are parsed here, and every problem is collected rather than thrown, so the user sees all of
/// them at once.
public struct ConfigurationBuilder {
    /// The defaults, with what has been set so far.
    public private(set) var configuration: ServerConfiguration
    /// Every problem found so far.
    public private(set) var errors: [ConfigError] = []
    let host: any ConfigHost
    /// Applied in `build`, once every map is known.
    var expiries: [StaticMap.Expiry] = []

    public init(host: some ConfigHost) {
        self.host = host
        configuration = ServerConfiguration(host: host)
    }

    /// Sets a value that needs no parsing; nil (not given) keeps the default.
    public mutating func set<Value>(_ field: WritableKeyPath<ServerConfiguration, Value>, _ value: Value?) {
        if let value { configuration[keyPath: field] = value }
    }

    /// The same for an optional field: nil keeps the default, it does not clear it.
    public mutating func set<Value>(_ field: WritableKeyPath<ServerConfiguration, Value?>, _ value: Value?) {
        if let value { configuration[keyPath: field] = value }
    }

    /// The application as MODULE:CALLABLE or MODULE (the callable keeps its default).
    public mutating func setApplication(_ spec: String) {
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let reason =
            parts[0].isEmpty
            ? "has no module name"
            : parts[0].contains("/")
                ? "is a path, not a module name"
                : parts.count == 2 && parts[1].isEmpty ? "has an empty callable after ':'" : nil
        if let reason {
            errors.append(ConfigError(.app, .invalid(spec, reason: reason)))
            return
        }
        configuration.application.module = parts[0]
        if parts.count == 2 { configuration.application.callable = parts[1] }
    }

    /// Every address to listen on; none keeps the default.
    public mutating func setBinds(_ texts: [String]) {
        if texts.isEmpty { return }
        configuration.listeners.binds = texts.compactMap { parse($0, BindAddress.parse) }
    }

    /// uWSGI's --chmod-socket: an octal mode (660); empty is 666, as in uWSGI.
    public mutating func setSocketMode(_ text: String?) {
        guard let text else { return }
        guard let mode = text.isEmpty ? 0o666 : Int(text, radix: 8), mode >= 0, mode <= 0o777 else {
            errors.append(ConfigError(.chmodSocket, .invalid(text, reason: "is not an octal mode such as 660")))
            return
        }
        configuration.listeners.socketMode = mode
    }

    /// `PREFIX=DIR` for each map; none keeps what an earlier source gave.
    public mutating func setStaticMaps(_ texts: [String]) {
        if texts.isEmpty { return }
        configuration.statics.maps = texts.compactMap { parse($0, StaticMap.parse) }
    }

    /// `SECONDS` or `PREFIX=SECONDS` each, applied in order; none keeps an earlier source's.
    public mutating func setStaticExpires(_ texts: [String]) {
        if texts.isEmpty { return }
        expiries = texts.compactMap { parse($0, StaticMap.Expiry.parse) }
    }

    /// The largest request body, where 0 means unlimited (as gunicorn's and uWSGI's 0 does);
    /// nil keeps the default.
    public mutating func setRequestBodyLimit(_ bytes: Int?) {
        guard let bytes else { return }
        configuration.bodies.limit = bytes == 0 ? nil : bytes
    }

    /// The request timeout in seconds, where 0 means none (as uWSGI's harakiri 0 does); nil
    /// keeps the default.
    public mutating func setRequestTimeout(_ seconds: Double?) {
        guard let seconds else { return }
        configuration.timeouts.request = seconds == 0 ? nil : seconds
    }

    /// `BYTES` or `PERCENT%`; nil keeps the default.
    public mutating func setSpoolMinFree(_ text: String?) {
        guard let text, let floor = parse(text, FreeSpace.parse) else { return }
        configuration.bodies.spoolMinFree = floor
    }

    /// The checked configuration, its paths resolved; nil when anything is wrong, with every
    /// problem in `errors`.
    public mutating func build() -> ServerConfiguration? {
        for expiry in expiries {
            if let prefix = expiry.prefix {
                guard let i = configuration.statics.maps.firstIndex(where: { $0.prefix == prefix }) else {
                    errors.append(ConfigError(.staticExpires, .unknownPrefix(prefix, of: .staticMap)))
                    continue
                }
                configuration.statics.maps[i].expires = expiry.seconds
            } else {
                for i in configuration.statics.maps.indices where configuration.statics.maps[i].expires == nil {
                    configuration.statics.maps[i].expires = expiry.seconds
                }
            }
        }
        expiries = []
        // A value that did not parse is not reported a second time (as missing, say).
        let unparsed = Set(errors.map(\.setting))
        errors += configuration.validate().filter { !unparsed.contains($0.setting) }
        errors += configuration.resolvePaths(on: host)
        return errors.isEmpty ? configuration : nil
    }

    mutating func parse<Value>(_ text: String, _ parser: (String) throws(ConfigError) -> Value) -> Value? {
        do {
            return try parser(text)
        } catch {
            errors.append(error)
            return nil
        }
    }
}
