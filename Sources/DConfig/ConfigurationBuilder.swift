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
    /// --certfile, --keyfile, --ciphers: applied in `build`, once every listener is known.
    var tls: (certificate: String?, key: String?, ciphers: String?) = (nil, nil, nil)

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
        setListeners(http: texts, https: [], uwsgi: [])
    }

    /// Every listener one source gives: HTTP addresses, uWSGI-style `ADDRESS,CERT,KEY[,CIPHERS]`
    /// HTTPS ones, and uwsgi-protocol ones; none at all keeps what an earlier source gave (a
    /// source's listeners replace another's as a whole).
    public mutating func setListeners(http: [String], https: [String], uwsgi: [String]) {
        if http.isEmpty && https.isEmpty && uwsgi.isEmpty { return }
        let plain = http.compactMap { parse($0, BindAddress.parse) }.map { Bind($0) }
        let secure = https.compactMap { parse($0, Bind.parseHTTPS) }
        let binary = uwsgi.compactMap { parse($0, Bind.parseUWSGI) }
        configuration.listeners.binds = plain + secure + binary
    }

    /// --stats ADDRESS; nil keeps the default (none).
    public mutating func setStats(_ text: String?) {
        guard let text else { return }
        do {
            configuration.listeners.stats = try BindAddress.parse(text)
        } catch {
            errors.append(ConfigError(.stats, error.problem))
        }
    }

    /// --access-log-format: gunicorn's atoms or `json`; nil keeps the default.
    public mutating func setAccessLogFormat(_ text: String?) {
        guard let text, let format = parse(text, AccessLogFormat.parse) else { return }
        configuration.logging.accessLogFormat = format
    }

    /// --log-level; nil keeps the default.
    public mutating func setLogLevel(_ text: String?) {
        guard let text, let level = parse(text, LogLevel.parse) else { return }
        configuration.logging.level = level
    }

    /// --accept-mode single|shared; nil keeps the default.
    public mutating func setAcceptMode(_ text: String?) {
        guard let text, let mode = parse(text, AcceptMode.parse) else { return }
        configuration.workers.acceptMode = mode
    }

    /// gunicorn's --forwarded-allow-ips: addresses, networks or `*`; nil keeps the default.
    public mutating func setForwardedAllowIPs(_ text: String?) {
        guard let text, let trusted = parse(text, TrustedProxies.parse) else { return }
        configuration.listeners.forwardedAllowIPs = trusted
    }

    /// gunicorn's --certfile, --keyfile and --ciphers: every HTTP listener speaks HTTPS with
    /// them (applied in `build`); nil keeps what an earlier source gave.
    public mutating func setTLS(certificate: String?, key: String?, ciphers: String?) {
        if let certificate { tls.certificate = certificate }
        if let key { tls.key = key }
        if let ciphers { tls.ciphers = ciphers }
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
    public mutating func setChannels(_ text: String?) {
        guard let text, let bridge = parse(text, ChannelsBridge.parse) else { return }
        configuration.webSocket.channels = bridge
    }

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
        if let certificate = tls.certificate {
            let files = TLSFiles(certificate: certificate, key: tls.key, ciphers: tls.ciphers)
            for i in configuration.listeners.binds.indices where configuration.listeners.binds[i].scheme == .http {
                configuration.listeners.binds[i].scheme = .https(files)
            }
        } else if let key = tls.key {
            errors.append(
                ConfigError(.keyfile, .invalid(key, reason: "needs --certfile, the certificate it goes with")))
        } else if let ciphers = tls.ciphers {
            errors.append(
                ConfigError(.ciphers, .invalid(ciphers, reason: "needs --certfile (or --https with its own ciphers)")))
        }
        tls = (nil, nil, nil)
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
