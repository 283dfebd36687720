/// A setting that cannot be used, and why. The message is written by whoever reports it, with
/// the setting spelled as its source has it (`--workers` on the command line).
public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Problem: Equatable, Sendable {
        /// A number under its minimum.
        case tooSmall(minimum: String, got: String)
        /// A duration that is not a positive, finite number of seconds.
        case notPositiveSeconds(got: String)
        case notADirectory(String)
        /// A value that does not have the setting's form.
        case invalid(String, reason: String)
        /// Neither this setting nor its alternative was given (the application).
        case missing(alternative: Setting)
        /// This setting and another exclude each other.
        case conflicts(with: Setting)
        /// A `PREFIX=...` value whose prefix no value of `setting` has.
        case unknownPrefix(String, of: Setting)
    }

    public let setting: Setting
    public let problem: Problem

    public init(_ setting: Setting, _ problem: Problem) {
        self.setting = setting
        self.problem = problem
    }

    /// The message, with each setting spelled by `spell`.
    public func message(spelling spell: (Setting) -> String) -> String {
        let name = spell(setting)
        switch problem {
        case .tooSmall(let minimum, let got): return "\(name) must be at least \(minimum) (got \(got))"
        case .notPositiveSeconds(let got): return "\(name) must be a positive number of seconds (got \(got))"
        case .notADirectory(let path): return "\(name): '\(path)' is not a directory"
        case .invalid(let value, let reason): return "\(name): '\(value)' \(reason)"
        case .missing(let other): return "missing the application: give \(name) or \(spell(other))"
        case .conflicts(let other): return "give either \(name) or \(spell(other)), not both"
        case .unknownPrefix(let prefix, let other): return "\(name): no \(spell(other)) has the prefix '\(prefix)'"
        }
    }

    public var description: String { message { $0.rawValue } }
}
