/// The server's own log lines on stderr: "[dispatchd] master 123: message". One write per line,
/// retried until complete, so lines from several processes do not interleave mid-line.
public enum ServerLog {
    public enum Role: String, Sendable {
        case master, worker
    }

    /// How severe a line is (`--log-level`, gunicorn's levels): lines under the process's
    /// threshold are not written.
    public enum Level: Int, Comparable, Sendable {
        case debug = 10
        case info = 20
        case warning = 30
        case error = 40
        case critical = 50

        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }

        /// By name (`--log-level`'s); info for a name that is none.
        public init(name: String) {
            self =
                switch name {
                case "debug": .debug
                case "warning": .warning
                case "error": .error
                case "critical": .critical
                default: .info
                }
        }
    }

    /// Set once at start-up, before any other thread exists.
    nonisolated(unsafe) public static var threshold = Level.info

    /// Whether a line of `level` is written (for output that is not a line of this log, such as
    /// a traceback that goes with one).
    public static func writes(_ level: Level) -> Bool { level >= threshold }

    public static func write(_ role: Role, _ message: String, level: Level = .info) {
        guard level >= threshold else { return }
        Posix.writeAll(2, "[dispatchd] \(role.rawValue) \(Posix.getpid()): \(message)\n")
    }
}
