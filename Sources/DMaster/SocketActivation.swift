/// systemd's socket activation (sd_listen_fds): listening sockets passed at descriptors 3, 4, ...
/// with `LISTEN_FDS` (how many), `LISTEN_PID` (for which process) and `LISTEN_FDNAMES`. Used
/// instead of binding, so a restart of the service refuses no connection: systemd keeps the
/// sockets open across it. Pure: the variables are given.
public enum SocketActivation {
    public static let firstDescriptor: CInt = 3

    /// The descriptors passed to the process `pid`, or nil when none were (no variables, or
    /// ones meant for another process, such as a parent that did not unset them).
    public static func descriptors(listenPID: String?, listenFDs: String?, ownPID: Int32) -> [CInt]? {
        guard let listenPID, let listenFDs, let target = Int32(listenPID), target == ownPID,
            let count = Int32(listenFDs), count > 0, count < 1024
        else { return nil }
        return (0..<count).map { firstDescriptor + $0 }
    }
}
