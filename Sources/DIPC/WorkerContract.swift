/// What the master and a worker process agree on outside the channel's messages: a worker's
/// command line, the descriptors it starts with, and the exit statuses the master understands.
/// Both sides use these, so they cannot drift apart.
public enum WorkerContract {
    /// The hidden long option (`--worker SLOT`) that makes the binary a worker.
    public static let option = "worker"

    /// A worker's arguments after the executable: everything else comes encoded in the
    /// configuration descriptor.
    public static func arguments(slot: Int) -> [String] { ["--\(option)", String(slot)] }

    /// The hidden long option (`--zygote`) that makes the binary the --preload zygote: it
    /// imports the application once and forks the workers (`ZygoteMessage`). It starts with the
    /// same descriptors as a worker, its channel to the master in place of a worker's.
    public static let zygoteOption = "zygote"

    public static var zygoteArguments: [String] { ["--\(zygoteOption)"] }

    /// Descriptor numbers in a freshly spawned worker.
    public enum Descriptor {
        /// The SEQPACKET control channel (ControlMessage).
        public static let channel: CInt = 3
        /// The shared Scoreboard.
        public static let scoreboard: CInt = 4
        /// The encoded ServerConfiguration (a MemoryFile), read at start-up and closed.
        public static let configuration: CInt = 5
        /// With --accept-mode shared: the listening sockets, in the configuration's order of
        /// listeners, from here on (none otherwise: a worker then holds no listener).
        public static let firstListener: CInt = 6
        /// The listener of index `index`.
        public static func listener(_ index: Int) -> CInt { firstListener + CInt(index) }
    }

    /// How a worker process ends.
    public enum ExitStatus: Int32, Sendable, Error {
        case ok = 0
        /// The interpreter could not start (or is not the one the binary was built for).
        case interpreterFailed = 3
        /// The application failed to import or is not callable.
        case appLoadFailed = 4
        /// The control channel or scoreboard could not be used.
        case setupFailed = 5
        /// An HTTPS listener's certificate or key could not be used.
        case tlsFailed = 6
        /// A start hook of the application (`dispatchd.on_worker_start`) raised.
        case startHookFailed = 7
        /// --preload: the application started threads while it was imported; a fork would copy
        /// the process without them (and with whatever locks they held).
        case preloadUnsafe = 8

        /// Why the server cannot run, for a status that means the application itself cannot
        /// load in a worker that never became ready: respawning would fail the same way.
        public var fatalReason: String? {
            switch self {
            case .interpreterFailed: "the Python interpreter could not start"
            case .appLoadFailed: "the application failed to load"
            case .tlsFailed: "the TLS certificate or key could not be used"
            case .startHookFailed: "a worker start hook of the application failed"
            case .preloadUnsafe: "the application started threads while it was imported, so --preload cannot fork it"
            case .ok, .setupFailed: nil
            }
        }
    }
}
