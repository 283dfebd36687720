/// `--access-log-format`: what each access log line holds. gunicorn's template, in Python's
/// `%(name)s` syntax with gunicorn's atoms, or `json`: one object per line with fixed keys.
public enum AccessLogFormat: Codable, Equatable, Sendable, CustomStringConvertible {
    case template([Atom])
    case json

    /// Coded as its text (what --print-config shows, and what the worker parses again).
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            self = try Self.parse(text)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "\(error)"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// One piece of a template line.
    public enum Atom: Hashable, Sendable {
        case literal(String)
        /// `h`: the client's address.
        case remoteAddress
        /// `l`: always `-` (identd).
        case ident
        /// `u`: the user of HTTP Basic authorization, or `-`.
        case user
        /// `t`: `[01/Dec/2026:17:31:52 +0000]`.
        case time
        /// `r`: `GET /path?query HTTP/1.1`.
        case requestLine
        /// `m`, `U` (path without the query), `q` (the query), `H` (the protocol).
        case method, path, query, proto
        /// `s`: the response's status code.
        case status
        /// `B`: body bytes sent; `b`: the same, `-` for none.
        case bytes, bytesOrDash
        /// `f`: Referer; `a`: User-Agent (`-` when absent).
        case referer, userAgent
        /// `T` (whole seconds), `M` (milliseconds), `D` (microseconds), `L` (decimal seconds).
        case seconds, milliseconds, microseconds, decimalSeconds
        /// `p`: `<pid>` of the worker.
        case pid
        /// `{name}i`: a request header (lowercased name), `X-Request-ID` the one the server kept
        /// or made; `{name}o`: a response header; `{name}e`: an environ variable.
        case requestHeader(String)
        case responseHeader(String)
        case environ(String)
    }

    /// gunicorn's default (`%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"`, the
    /// combined log format) with the request's time in decimal seconds after it.
    public static let defaultText = #"%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(L)s"#
    // swift-format-ignore: NeverUseForceTry
    public static let `default` = try! parse(defaultText)

    static let letters: [Character: Atom] = [
        "h": .remoteAddress, "l": .ident, "u": .user, "t": .time, "r": .requestLine, "m": .method,
        "U": .path, "q": .query, "H": .proto, "s": .status, "B": .bytes, "b": .bytesOrDash,
        "f": .referer, "a": .userAgent, "T": .seconds, "M": .milliseconds, "D": .microseconds,
        "L": .decimalSeconds, "p": .pid,
    ]

    /// `json`, or a template: `%(atom)s` (or `d`), `%%` for a percent sign, anything else as is.
    public static func parse(_ text: String) throws(ConfigError) -> AccessLogFormat {
        if text == "json" { return .json }
        func fail(_ reason: String) -> ConfigError { ConfigError(.accessLogFormat, .invalid(text, reason: reason)) }
        var atoms: [Atom] = []
        var literal = ""
        var rest = Substring(text)
        while let c = rest.first {
            rest = rest.dropFirst()
            guard c == "%" else {
                literal.append(c)
                continue
            }
            if rest.first == "%" {
                literal.append("%")
                rest = rest.dropFirst()
                continue
            }
            guard rest.first == "(", let close = rest.firstIndex(of: ")") else {
                throw fail("has a '%' that starts no %(name)s atom (write %% for a percent sign)")
            }
            let name = String(rest[rest.index(after: rest.startIndex)..<close])
            rest = rest[rest.index(after: close)...]
            guard let conversion = rest.first, conversion == "s" || conversion == "d" else {
                throw fail("has %(\(name)) without the 's' after it")
            }
            rest = rest.dropFirst()
            let atom: Atom
            if name.count == 1, let known = letters[name.first!] {
                atom = known
            } else if name.hasPrefix("{"), name.count > 3, let brace = name.lastIndex(of: "}"),
                name.index(after: brace) == name.index(before: name.endIndex)
            {
                let key = String(name[name.index(after: name.startIndex)..<brace])
                switch name.last! {
                case "i": atom = .requestHeader(key.lowercased())
                case "o": atom = .responseHeader(key.lowercased())
                case "e": atom = .environ(key)
                default:
                    throw fail(
                        "has %(\(name))s: a {name} atom ends in i (request header), o (response header) or e (environ)")
                }
                guard !key.isEmpty else { throw fail("has %(\(name))s with an empty name") }
            } else {
                throw fail(
                    "has %(\(name))s, which is no atom: h l u t r m U q H s B b f a T M D L p, {header}i, {header}o, {variable}e"
                )
            }
            if !literal.isEmpty {
                atoms.append(.literal(literal))
                literal = ""
            }
            atoms.append(atom)
        }
        if !literal.isEmpty { atoms.append(.literal(literal)) }
        return .template(atoms)
    }

    /// Response headers the application's responses must keep for the log (lowercased).
    public var responseHeaders: [String] {
        guard case .template(let atoms) = self else { return [] }
        return atoms.compactMap { if case .responseHeader(let name) = $0 { name } else { nil } }
    }

    /// Environ variables the log reads after the application has run.
    public var environVariables: [String] {
        guard case .template(let atoms) = self else { return [] }
        return atoms.compactMap { if case .environ(let name) = $0 { name } else { nil } }
    }

    public var description: String {
        guard case .template(let atoms) = self else { return "json" }
        let names = Dictionary(uniqueKeysWithValues: Self.letters.map { ($0.value, $0.key) })
        return atoms.map { atom -> String in
            switch atom {
            case .literal(let text): String(text.flatMap { $0 == "%" ? ["%", "%"] : [$0] })
            case .requestHeader(let name): "%({\(name)}i)s"
            case .responseHeader(let name): "%({\(name)}o)s"
            case .environ(let name): "%({\(name)}e)s"
            default: "%(\(names[atom]!))s"
            }
        }.joined()
    }
}
