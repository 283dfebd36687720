internal import DPosix

/// sd_notify: the state messages systemd's `Type=notify` waits for, sent as datagrams to
/// `NOTIFY_SOCKET`. Made only when systemd set that variable (which is then removed, so that
/// workers and the app do not send their own).
final class SystemdNotifier {
    let socket: String
    /// `WATCHDOG_USEC` for this process: the master pings at half of it.
    let watchdogSeconds: Double?

    init?(environment: (String) -> String?, ownPID: Int32) {
        guard let socket = environment("NOTIFY_SOCKET"), !socket.isEmpty else { return nil }
        self.socket = socket
        let forUs = environment("WATCHDOG_PID").map { Int32($0) == ownPID } ?? true
        if forUs, let usec = environment("WATCHDOG_USEC").flatMap(Double.init), usec > 0 {
            watchdogSeconds = usec / 1e6
        } else {
            watchdogSeconds = nil
        }
    }

    func send(_ message: String) {
        _ = Posix.sendDatagram(message, toUnixSocket: socket)
    }
}
