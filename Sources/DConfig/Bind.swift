/// A listener: where (`BindAddress`) and what is spoken there.
public struct Bind: Codable, Equatable, Sendable, CustomStringConvertible {
    public var address: BindAddress
    public var scheme: Scheme

    /// What the listener speaks.
    public enum Scheme: Codable, Equatable, Sendable {
        case http
        /// HTTP/1.1 over TLS, with these files.
        case https(TLSFiles)
        /// uWSGI's binary protocol, as nginx's `uwsgi_pass` sends it: the peer sets the environ,
        /// so it belongs on a unix socket or loopback.
        case uwsgi
    }

    public init(_ address: BindAddress, _ scheme: Scheme = .http) {
        self.address = address
        self.scheme = scheme
    }

    /// `--https ADDRESS,CERT,KEY[,CIPHERS]`, uWSGI's form.
    public static func parseHTTPS(_ text: String) throws(ConfigError) -> Bind {
        let parts = text.split(separator: ",", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 3, !parts[1].isEmpty, !parts[2].isEmpty else {
            throw ConfigError(.https, .invalid(text, reason: "is not ADDRESS,CERTIFICATE,KEY[,CIPHERS]"))
        }
        let address: BindAddress
        let spelled = parts[0].hasPrefix("/") || parts[0].hasPrefix(".") ? "unix:\(parts[0])" : parts[0]
        do {
            address = try BindAddress.parse(spelled)
        } catch {
            throw ConfigError(.https, error.problem)
        }
        let ciphers = parts.count == 4 && !parts[3].isEmpty ? parts[3] : nil
        return Bind(address, .https(TLSFiles(certificate: parts[1], key: parts[2], ciphers: ciphers)))
    }

    /// `--socket ADDRESS` (uWSGI's; a path is a unix socket, as in uWSGI).
    public static func parseUWSGI(_ text: String) throws(ConfigError) -> Bind {
        let spelled = text.hasPrefix("/") || text.hasPrefix(".") ? "unix:\(text)" : text
        do {
            return Bind(try BindAddress.parse(spelled), .uwsgi)
        } catch {
            throw ConfigError(.socket, error.problem)
        }
    }

    /// `scheme://address`, as the listening line and --print-config show it.
    public var description: String {
        switch (scheme, address) {
        case (.http, _): address.description
        case (.https, .unix(let path)): "https+unix:\(path)"
        case (.https, _): "https://\(address)"
        case (.uwsgi, .unix(let path)): "uwsgi+unix:\(path)"
        case (.uwsgi, _): "uwsgi://\(address)"
        }
    }
}

/// A certificate chain and its private key (PEM files), read by each worker as it starts (so a
/// SIGHUP's new workers read replaced files), and checked by the master at start-up.
public struct TLSFiles: Codable, Equatable, Sendable {
    public var certificate: String
    /// nil: the key is in the certificate's file.
    public var key: String?
    /// An OpenSSL cipher list for TLS 1.2; nil: OpenSSL's defaults.
    public var ciphers: String?

    public init(certificate: String, key: String?, ciphers: String?) {
        self.certificate = certificate
        self.key = key
        self.ciphers = ciphers
    }
}
