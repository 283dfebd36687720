/// A uWSGI-style ini file (`--ini FILE[:SECTION]`): the `key = value` lines of one section, in
/// order, with their line numbers; a key may repeat (a repeated option). Lines starting with `#`
/// or `;` are comments. Values are expanded as uWSGI expands them: `%d` the file's directory
/// (with a trailing slash), `%p` its absolute path, `%s` its name, `%n` its name without the
/// extension, `%x` the extension, `%%` a percent sign, and `$(NAME)` the environment variable
/// NAME (empty when unset). Pure: the text, the file's absolute path and the environment are
/// passed in.
public struct IniFile: Sendable {
    public struct Entry: Equatable, Sendable {
        public var key: String
        public var value: String
        public var line: Int
    }

    /// Where it failed, and why.
    public struct Failure: Error, Equatable, Sendable, CustomStringConvertible {
        public var line: Int
        public var reason: String
        public var description: String { "line \(line): \(reason)" }
        public init(line: Int, reason: String) {
            self.line = line
            self.reason = reason
        }
    }

    public let entries: [Entry]

    /// The entries of `sections`, merged in file order (uWSGI's `[uwsgi]` and this server's
    /// `[dispatchd]` by default); throws on a line that is neither a section, a comment nor
    /// `key = value`, or a `%` sequence it does not know.
    public init(
        text: String, path: String, sections: [String] = ["uwsgi", "dispatchd"],
        environment: (String) -> String?
    ) throws(Failure) {
        var entries: [Entry] = []
        var current: String? = nil
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            let line = raw.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]"), line.count > 2 else {
                    throw Failure(line: number, reason: "'\(line)' is not a section header like [uwsgi]")
                }
                current = String(line.dropFirst().dropLast()).trimmingWhitespace()
                continue
            }
            guard let equals = line.firstIndex(of: "=") else {
                throw Failure(line: number, reason: "'\(line)' is not 'key = value'")
            }
            let key = line[..<equals].trimmingWhitespace()
            guard !key.isEmpty else { throw Failure(line: number, reason: "'\(line)' has no key before '='") }
            guard let section = current else {
                throw Failure(line: number, reason: "'\(key)' comes before any section (such as [uwsgi])")
            }
            guard sections.contains(section) else { continue }
            let value = try Self.expand(
                line[line.index(after: equals)...].trimmingWhitespace(), path: path, line: number,
                environment: environment)
            entries.append(Entry(key: key, value: value, line: number))
        }
        self.entries = entries
    }

    /// Expands the magic variables and `$(NAME)` in `value` (also YAMLFile's).
    public static func expand(
        _ value: String, path: String, line: Int, environment: (String) -> String?
    ) throws(Failure)
        -> String
    {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[...$0]) } ?? "./"
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let dot = name.lastIndex(of: ".")
        let stem = dot.map { String(name[..<$0]) } ?? name
        let ext = dot.map { String(name[name.index(after: $0)...]) } ?? ""
        var out = ""
        var i = value.startIndex
        while i < value.endIndex {
            let c = value[i]
            if c == "%" {
                let next = value.index(after: i)
                guard next < value.endIndex else { throw Failure(line: line, reason: "'%' at the end of the value") }
                switch value[next] {
                case "d": out += directory
                case "p": out += path
                case "s": out += name
                case "n": out += stem
                case "x": out += ext
                case "%": out += "%"
                default:
                    throw Failure(
                        line: line,
                        reason: "unknown magic variable '%\(value[next])' (known: %d %p %s %n %x %%)")
                }
                i = value.index(after: next)
            } else if c == "$", value[value.index(after: i)...].hasPrefix("("),
                let close = value[i...].firstIndex(of: ")")
            {
                let nameStart = value.index(i, offsetBy: 2)
                out += environment(String(value[nameStart..<close])) ?? ""
                i = value.index(after: close)
            } else {
                out.append(c)
                i = value.index(after: i)
            }
        }
        return out
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let first = firstIndex(where: { !blank($0) }) else { return "" }
        let last = lastIndex(where: { !blank($0) })!
        return String(self[first...last])
    }
}
