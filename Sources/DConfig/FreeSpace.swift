/// A floor of free space on a file system, in bytes or as a percentage of its size
/// (`--body-spool-min-free 5%` or `--body-spool-min-free 1073741824`).
public enum FreeSpace: Codable, Equatable, Sendable, CustomStringConvertible {
    case bytes(Int)
    case percent(Double)

    public static func parse(_ text: String) throws(ConfigError) -> FreeSpace {
        if text.hasSuffix("%") {
            guard let p = Double(text.dropLast()), p.isFinite, p >= 0, p <= 100 else {
                throw ConfigError(.bodySpoolMinFree, .invalid(text, reason: "is not a percentage from 0% to 100%"))
            }
            return .percent(p)
        }
        guard let n = Int(text), n >= 0 else {
            throw ConfigError(
                .bodySpoolMinFree, .invalid(text, reason: "is not a number of bytes or a percentage like 5%"))
        }
        return .bytes(n)
    }

    /// The floor in bytes on a file system of `size` bytes.
    public func bytes(ofFileSystemSize size: Int) -> Int {
        switch self {
        case .bytes(let n): n
        case .percent(let p): Int(Double(size) * p / 100)
        }
    }

    public var description: String {
        switch self {
        case .bytes(let n): String(n)
        case .percent(let p): p == p.rounded() ? "\(Int(p))%" : "\(p)%"
        }
    }
}
