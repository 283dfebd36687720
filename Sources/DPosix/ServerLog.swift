/// The server's own log lines on stderr: "[dispatchd] master 123: message". One write per line,
/// retried until complete, so lines from several processes do not interleave mid-line.
public enum ServerLog {
    public enum Role: String, Sendable {
        case master, worker
    }

    public static func write(_ role: Role, _ message: String) {
        Posix.writeAll(2, "[dispatchd] \(role.rawValue) \(Posix.getpid()): \(message)\n")
    }
}
