/// The YAML form of a configuration file (`--yaml FILE[:SECTION]`), as uWSGI reads it: a
/// top-level mapping whose `uwsgi:` and `dispatchd:` keys (or SECTION) hold the options, each a
/// scalar or a list of scalars (a repeated option):
///
///     uwsgi:
///       http: :8080
///       module: app:application
///       static-map:
///         - /assets=static
///
/// Only that subset: block mappings and sequences of plain, single- or double-quoted scalars,
/// with `#` comments. Values are expanded as in ini files (`%d`, `$(NAME)`: IniFile). The
/// entries are IniFile's: key, value, line.
public struct YAMLFile: Sendable {
    public let entries: [IniFile.Entry]

    public init(
        text: String, path: String, sections: [String] = ["uwsgi", "dispatchd"],
        environment: (String) -> String?
    ) throws(IniFile.Failure) {
        var entries: [IniFile.Entry] = []
        var section: String? = nil
        var keyIndent: Int? = nil
        var listKey: (key: String, indent: Int)? = nil
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            let line = Self.stripComment(String(raw))
            let content = line.trimmingWhitespace()
            if content.isEmpty || content == "---" { continue }
            let indent = line.prefix { $0 == " " }.count
            if line.hasPrefix("\t") {
                throw IniFile.Failure(line: number, reason: "tabs are not allowed for indentation")
            }
            if indent == 0 {
                guard content.hasSuffix(":"), !content.dropLast().contains(":") else {
                    throw IniFile.Failure(line: number, reason: "'\(content)' is not a section such as 'uwsgi:'")
                }
                section = String(content.dropLast()).trimmingWhitespace()
                keyIndent = nil
                listKey = nil
                continue
            }
            guard let current = section else {
                throw IniFile.Failure(line: number, reason: "'\(content)' comes before any section (such as uwsgi:)")
            }
            if content.hasPrefix("- ") || content == "-" {
                guard let list = listKey, indent > list.indent || indent == list.indent else {
                    throw IniFile.Failure(line: number, reason: "a list item with no key above it")
                }
                let value = try Self.scalar(String(content.dropFirst()).trimmingWhitespace(), line: number)
                if sections.contains(current) {
                    entries.append(
                        IniFile.Entry(
                            key: list.key,
                            value: try IniFile.expand(value, path: path, line: number, environment: environment),
                            line: number))
                }
                continue
            }
            if keyIndent == nil { keyIndent = indent }
            guard indent == keyIndent else {
                throw IniFile.Failure(line: number, reason: "'\(content)' is not indented as the keys above it")
            }
            guard let colon = content.firstIndex(of: ":") else {
                throw IniFile.Failure(line: number, reason: "'\(content)' is not 'key: value'")
            }
            let key = content[..<colon].trimmingWhitespace()
            let rest = content[content.index(after: colon)...].trimmingWhitespace()
            guard !key.isEmpty else {
                throw IniFile.Failure(line: number, reason: "'\(content)' has no key before ':'")
            }
            if rest.isEmpty {
                listKey = (key, indent)
                continue
            }
            listKey = nil
            let value = try Self.scalar(rest, line: number)
            if sections.contains(current) {
                entries.append(
                    IniFile.Entry(
                        key: key, value: try IniFile.expand(value, path: path, line: number, environment: environment),
                        line: number))
            }
        }
        self.entries = entries
    }

    /// A plain or quoted scalar's text.
    static func scalar(_ text: String, line: Int) throws(IniFile.Failure) -> String {
        for quote in ["\"", "'"] where text.hasPrefix(quote) {
            guard text.count >= 2, text.hasSuffix(quote) else {
                throw IniFile.Failure(line: line, reason: "an unterminated quoted value: \(text)")
            }
            return String(text.dropFirst().dropLast())
        }
        if text.hasPrefix("[") || text.hasPrefix("{") || text.hasPrefix("&") || text.hasPrefix("*")
            || text.hasPrefix("|") || text.hasPrefix(">")
        {
            throw IniFile.Failure(
                line: line, reason: "'\(text)': only plain and quoted values and '- item' lists are read here")
        }
        return text
    }

    /// The line without a comment (`#` at its start or after a space, outside quotes).
    static func stripComment(_ line: String) -> String {
        var quote: Character? = nil
        var previous: Character = " "
        for (offset, c) in line.enumerated() {
            if let q = quote {
                if c == q { quote = nil }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if c == "#" && (previous == " " || previous == "\t") {
                return String(line.prefix(offset))
            }
            previous = c
        }
        return line
    }
}
