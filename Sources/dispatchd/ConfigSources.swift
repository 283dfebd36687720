import ArgumentParser
import DConfig
import DPosix

/// The configuration's sources besides the command line: `--ini` files and the environment.
/// Each entry becomes a command-line argument (`workers = 8` is `--workers=8`), checked alone
/// first, so that a file names an option exactly as the command line does and an error names the
/// file and line (or the variable), with ArgumentParser's own "did you mean"; then each source
/// is parsed whole into a DispatchdCommand. Precedence comes from the order the sources are
/// applied to the builder: files, then the environment, then the command line (a later value
/// replaces an earlier one).
enum ConfigSources {
    /// Where an option's value came from, for --print-config.
    struct Origin {
        var option: String
        var value: String
        var source: String
    }

    enum FileKind { case ini, yaml }

    /// `--ini` files, then `--yaml` files, each in order: a command per file.
    static func files(ini: [String], yaml: [String]) throws -> [(DispatchdCommand, [Origin])] {
        try (ini.map { ($0, FileKind.ini) } + yaml.map { ($0, FileKind.yaml) }).map { spec, kind in
            let (path, section) = split(spec)
            let text: String
            do {
                let fd = try Posix.openReadOnly(path)
                text = String(decoding: try MemoryFile.contents(of: fd.raw), as: UTF8.self)
            } catch {
                throw ValidationError("--\(kind == .ini ? "ini" : "yaml") \(spec): cannot read \(path): \(error)")
            }
            let absolute = path.hasPrefix("/") ? path : (Posix.realpath(path) ?? path)
            let entries: [IniFile.Entry]
            let sections = section.map { [$0] } ?? ["uwsgi", "dispatchd"]
            do {
                switch kind {
                case .ini:
                    entries = try IniFile(text: text, path: absolute, sections: sections, environment: Posix.getenv)
                        .entries
                case .yaml:
                    entries = try YAMLFile(text: text, path: absolute, sections: sections, environment: Posix.getenv)
                        .entries
                }
            } catch {
                throw ValidationError("\(path): \(error)")
            }
            var arguments: [String] = []
            var origins: [Origin] = []
            for entry in entries {
                let place = "\(path):\(entry.line)"
                guard entry.key != "ini" && entry.key != "yaml" else {
                    throw ValidationError(
                        "\(place): \(entry.key): a file does not include others here; give each with --ini or --yaml")
                }
                arguments += try argument(entry.key, entry.value, at: place)
                origins.append(Origin(option: entry.key, value: entry.value, source: place))
            }
            return (try parse(arguments, from: path), origins)
        }
    }

    /// `DISPATCHD_<OPTION>` for every option (`DISPATCHD_MAX_REQUESTS=1000`), and the platforms'
    /// `WEB_CONCURRENCY` (workers) and `PORT` (0.0.0.0:$PORT when no source gives an address).
    /// A `DISPATCHD_` variable that names no option is an error, like an unknown flag, except
    /// the ones the test harness sets for itself (`DISPATCHD_BINARY`, `DISPATCHD_TEST_*`).
    static func environment(bindGiven: Bool) throws -> (DispatchdCommand, [Origin]) {
        var arguments: [String] = []
        var origins: [Origin] = []
        let variables = Posix.environmentVariables()
        if let workers = variables.first(where: { $0.name == "WEB_CONCURRENCY" })?.value {
            arguments += try argument("workers", workers, at: "WEB_CONCURRENCY")
            origins.append(Origin(option: "workers", value: workers, source: "WEB_CONCURRENCY"))
        }
        if let trusted = variables.first(where: { $0.name == "FORWARDED_ALLOW_IPS" })?.value {
            arguments += try argument("forwarded-allow-ips", trusted, at: "FORWARDED_ALLOW_IPS")
            origins.append(Origin(option: "forwarded-allow-ips", value: trusted, source: "FORWARDED_ALLOW_IPS"))
        }
        var bindFromEnvironment = false
        for (name, value) in variables.sorted(by: { $0.name < $1.name }) where name.hasPrefix("DISPATCHD_") {
            guard name != "DISPATCHD_BINARY", !name.hasPrefix("DISPATCHD_TEST_") else { continue }
            guard !isServiceLink(name, value) else { continue }
            let option = name.dropFirst("DISPATCHD_".count).lowercased().replacingUnderscores()
            if ["bind", "http", "http-socket", "https", "https-socket", "socket", "uwsgi-socket"].contains(option) {
                bindFromEnvironment = true
            }
            arguments += try argument(option, value, at: "environment variable \(name)")
            origins.append(Origin(option: option, value: value, source: name))
        }
        if !bindGiven && !bindFromEnvironment, let port = variables.first(where: { $0.name == "PORT" })?.value {
            arguments += try argument("bind", "0.0.0.0:\(port)", at: "PORT")
            origins.append(Origin(option: "bind", value: "0.0.0.0:\(port)", source: "PORT"))
        }
        return (try parse(arguments, from: "the environment"), origins)
    }

    /// The variables Kubernetes puts into every pod for a Service named `dispatchd` or
    /// `dispatchd-*` (`DISPATCHD_PORT=tcp://10.0.0.7:80`, `DISPATCHD_SERVICE_HOST`,
    /// `DISPATCHD_WEB_PORT_80_TCP_ADDR`, ...): they name no option and are not the user's.
    static func isServiceLink(_ name: String, _ value: String) -> Bool {
        let words = name.split(separator: "_").map(String.init)
        guard let last = words.last else { return false }
        if words.count >= 3 && words[words.count - 2] == "SERVICE" && last == "HOST" { return true }
        if let service = words.firstIndex(of: "SERVICE"), service > 0, service + 1 < words.count,
            words[service + 1] == "PORT"
        {
            return true
        }
        if last == "PORT", ["tcp://", "udp://", "sctp://"].contains(where: value.hasPrefix) { return true }
        // PORT_<number>_<protocol>[_PROTO|_PORT|_ADDR]
        guard
            let port = words.indices.first(where: {
                words[$0] == "PORT" && $0 + 2 < words.count && Int(words[$0 + 1]) != nil
            }), ["TCP", "UDP", "SCTP"].contains(words[port + 2])
        else { return false }
        return port + 3 == words.count || (port + 4 == words.count && ["PROTO", "PORT", "ADDR"].contains(last))
    }

    /// The argument for `key = value`: `--key=value`; for a switch, `--key` when the value is
    /// true (true, yes, on, 1) and nothing when false.
    static func argument(_ key: String, _ value: String, at place: String) throws -> [String] {
        let option = "--\(key)"
        if let message = UnsupportedOptions.message(for: option) { throw ValidationError("\(place): \(message)") }
        do {
            _ = try DispatchdCommand.parse(["\(option)=\(value)"])
            return ["\(option)=\(value)"]
        } catch {
            let message = DispatchdCommand.message(for: error)
            guard message.contains("does not take any value") else {
                throw ValidationError("\(place): \(key): \(message)")
            }
        }
        switch value.lowercased() {
        case "true", "yes", "on", "1": return [option]
        case "false", "no", "off", "0": return []
        default: throw ValidationError("\(place): \(key) is a switch: true or false (got '\(value)')")
        }
    }

    static func parse(_ arguments: [String], from source: String) throws -> DispatchdCommand {
        do {
            return try DispatchdCommand.parse(arguments)
        } catch {
            throw ValidationError("\(source): \(DispatchdCommand.message(for: error))")
        }
    }

    /// `FILE:SECTION` or `FILE`.
    static func split(_ spec: String) -> (String, String?) {
        guard let colon = spec.lastIndex(of: ":"), !Posix.isFile(spec) else { return (spec, nil) }
        let section = String(spec[spec.index(after: colon)...])
        guard !section.isEmpty, !section.contains("/") else { return (spec, nil) }
        return (String(spec[..<colon]), section)
    }
}

extension StringProtocol {
    func replacingUnderscores() -> String { String(map { $0 == "_" ? "-" : $0 }) }
}
