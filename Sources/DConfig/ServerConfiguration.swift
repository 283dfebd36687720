/// Everything the server runs with, as one value: built and checked once in the master
/// (ConfigurationBuilder), then handed to every worker encoded. Every default is written here
/// and nowhere else; `--help` shows them from here.
public struct ServerConfiguration: Codable, Equatable, Sendable {
    public var application = Application()
    public var listeners = Listeners()
    public var workers: Workers
    public var limits = HeadLimits()
    public var timeouts = Timeouts()
    public var bodies: Bodies
    public var webSocket = WebSocket()
    public var statics = Statics()
    public var logging = Logging()
    public var compatibility = Compatibility()
    public var development = Development()

    /// The defaults. Three depend on the machine: a worker per CPU (or per CPU the container's
    /// cgroup limit allows, rounded up, when that is fewer), temporary files in $TMPDIR (else
    /// /tmp), and the virtualenv that is active ($VIRTUAL_ENV).
    public init(host: some ConfigHost) {
        workers = Workers(count: max(1, min(host.processorCount, host.cpuLimit ?? .max)))
        bodies = Bodies(spoolDirectory: host.environment("TMPDIR").flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp")
        application.virtualenv = host.environment("VIRTUAL_ENV").flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The WSGI application and where Python finds it.
    public struct Application: Codable, Equatable, Sendable {
        /// The module to import; exactly one of `module` and `wsgiFile` is set.
        public var module: String? = nil
        /// A Python file to load instead of a module.
        public var wsgiFile: String? = nil
        public var callable = "application"
        /// The master changes to this directory before starting workers.
        public var chdir: String? = nil
        /// Added to sys.path.
        public var pythonPath: [String] = []
        public var virtualenv: String? = nil
        public init() {}
    }

    public struct Listeners: Codable, Equatable, Sendable {
        public var binds: [Bind] = [Bind(.tcp(host: "127.0.0.1", port: 8000))]
        /// The kernel's queue of connections not yet accepted.
        public var backlog = 1024
        /// Unix sockets' files: their mode (nil: as the umask leaves it) and owner (USER or
        /// USER:GROUP, names or numbers; nil: the server's).
        public var socketMode: Int? = nil
        public var socketOwner: String? = nil
        /// The user and group (names or numbers) the master switches to once the listeners
        /// are bound, so its workers never run as root; nil: stay as started.
        public var user: String? = nil
        public var group: String? = nil
        /// The peers whose X-Forwarded-* and Forwarded fields set REMOTE_ADDR, the scheme, the
        /// host and the port (unix-socket peers always are).
        public var forwardedAllowIPs = TrustedProxies.loopback
        /// Every connection starts with a PROXY protocol header (v1 text or v2 binary), as
        /// HAProxy and network load balancers send it: its addresses are the client's.
        public var proxyProtocol = false
        /// Where the master serves /metrics (Prometheus), /healthz, /readyz and /workers; nil:
        /// nowhere. Served by the master, so it answers while every worker is busy or stuck.
        public var stats: BindAddress? = nil
        /// Not a setting: random TLS session-ticket keys the master makes when it starts (with
        /// HTTPS listeners), so that every worker, including those a reload starts, resumes the
        /// sessions of the others.
        public var ticketKeys: [UInt8]? = nil
        public init() {}
    }

    public struct Workers: Codable, Equatable, Sendable {
        /// Worker processes.
        public var count: Int
        /// WSGI calls a worker runs at once, each on its own Python thread (1: on the worker's
        /// event-loop thread, as a single-threaded worker does).
        public var threads = 1
        /// Seconds that SIGTERM waits for in-flight requests before workers are killed.
        public var gracefulTimeout: Double = 30
        /// Seconds a leaving worker gives its stop hooks and background threads
        /// (`dispatchd.on_worker_stop`, `spawn_thread`) once its connections are done.
        public var stopTimeout: Double = 10
        /// Seconds SIGTERM keeps accepting before the drain (for load balancers that take that
        /// long to stop sending).
        public var shutdownDelay: Double = 0
        /// Workers a rolling reload (SIGHUP) replaces at once.
        public var reloadBatch = 1
        /// A worker is replaced after this many HTTP requests (0: never), plus up to `jitter`
        /// more, drawn per worker, so that workers do not recycle together.
        public var maxRequests = 0
        public var maxRequestsJitter = 0
        /// A worker is replaced after this many seconds (0: never), plus up to `jitter`.
        public var maxLifetime: Double = 0
        public var maxLifetimeJitter: Double = 0
        /// A worker whose resident memory passes this many MiB is replaced (0: never); checked
        /// once a second, between requests.
        public var reloadOnRSS = 0
        /// One process (the zygote) imports the application and the workers are forked from it,
        /// sharing its memory; otherwise each worker is spawned and imports the application itself.
        public var preload = false
        /// Who accepts connections: the master, handing them to workers (`single`), or the
        /// workers themselves from the listening sockets they inherit (`shared`).
        public var acceptMode = AcceptMode.single
        public init(count: Int) { self.count = count }
    }

    /// Limits on a request head (414 for the line, 431 for the rest).
    public struct HeadLimits: Codable, Equatable, Sendable {
        public var requestLine = 8192
        /// One header field line.
        public var fieldSize = 8192
        public var fieldCount = 100
        /// The request line and all fields.
        public var headSize = 65536
        public init() {}
    }

    /// Seconds.
    public struct Timeouts: Codable, Equatable, Sendable {
        /// An idle keep-alive connection is closed after this. Longer than the 60 s idle
        /// timeout of common proxies (AWS ALB, nginx's upstream keepalive_timeout), so the proxy
        /// closes first and never reuses a connection the server has just closed (a 502).
        public var keepAlive: Double = 75
        /// A complete request head within this of its first byte (else 408).
        public var header: Double = 10
        /// A request body may stop arriving for this long.
        public var body: Double = 30
        /// A client may leave its response unread for this long.
        public var write: Double = 30
        /// A request, or a WebSocket handler step, that has been inside the application for
        /// this long is interrupted: its stacks are logged, and an exception raised in it
        /// answers 504 when nothing was sent. nil: no limit (the master then runs no timer and
        /// the workers install no signal handler).
        public var request: Double? = nil
        /// An interrupted request that has not returned this long after the interruption
        /// (Python code that catches the exception, or C code that never returns) has its
        /// worker killed and replaced.
        public var requestGrace: Double = 5
        public init() {}
    }

    /// Request bodies, received before the application runs.
    public struct Bodies: Codable, Equatable, Sendable {
        /// Largest body in bytes (nil: unlimited); larger gets 413. Bodies over `bufferSize`
        /// are written to disk before the application runs, so without a limit a few clients
        /// could fill it.
        public var limit: Int? = 100 << 20
        /// Bodies up to this size are held in memory; larger ones go to a temporary file.
        public var bufferSize = 1 << 20
        /// Where those files are made.
        public var spoolDirectory: String
        /// Body bytes a worker holds in memory at once, over all its connections; past it,
        /// bodies go to temporary files (10,000 slow uploads must not take 10 GB).
        public var memoryMax = 64 << 20
        /// Body bytes a worker holds in temporary files at once (0: no limit): a body that would
        /// cross it gets 503 with Retry-After, one larger than all of it 413.
        public var spoolMax = 1 << 30
        /// Free space the spool's file system keeps: a body that would leave less gets 503.
        public var spoolMinFree = FreeSpace.percent(5)
        public init(spoolDirectory: String) { self.spoolDirectory = spoolDirectory }
    }

    public struct WebSocket: Codable, Equatable, Sendable {
        /// Largest message in bytes (also after decompression); larger closes with 1009.
        public var maxMessage = 1 << 20
        /// Seconds without traffic before the server pings.
        public var pingInterval: Double = 30
        /// Seconds the client has to answer a ping.
        public var pingTimeout: Double = 10
        /// Bytes of permessage-deflate state (zlib's) a connection may keep between messages
        /// (context takeover); an offer that needs more is answered with smaller windows, or
        /// without takeover on one side or both (0: never, every message compressed alone). 64
        /// KiB: a browser's offer gets 12-bit windows both ways (50 KiB; 15 bits take 302 KiB).
        public var deflateMemory = 64 << 10
        /// Seconds the WebSockets of a replaced worker keep running before they are closed with
        /// 1001 (their worker exits then).
        public var drainTimeout: Double = 30
        /// Bytes of output a WebSocket may have queued (unsent) when a dispatchd.channels
        /// message is delivered to it; one over it is closed with 1008 (a subscriber that does
        /// not read must not hold the worker's memory or the other subscribers back).
        public var sendQueue = 4 << 20
        /// dispatchd.channels beyond this machine (`--channels redis://...`); nil: this
        /// instance's workers only.
        public var channels: ChannelsBridge? = nil
        public init() {}
    }

    /// Static files served by the worker before the application is consulted.
    public struct Statics: Codable, Equatable, Sendable {
        public var maps: [StaticMap] = []
        /// The file served for a directory; without one, directories get 403.
        public var index: String? = nil
        /// A path with no file goes to the application instead of getting 404.
        public var fallThrough = false
        /// Serve symlinks that point outside the map's directory.
        public var followSymlinks = false
        /// Serve names that start with a dot.
        public var dotfiles = false
        public init() {}
    }

    public struct Logging: Codable, Equatable, Sendable {
        /// An access log line per request on stdout.
        public var accessLog = true
        /// Files the access log (stdout) and the server's log (stderr) go to, appended to and
        /// reopened on SIGUSR1 (logrotate); nil or "-": stdout and stderr as given.
        public var accessLogFile: String? = nil
        public var errorLogFile: String? = nil
        /// What an access log line holds: gunicorn's atoms, or `json`.
        public var accessLogFormat = AccessLogFormat.default
        /// The least severe server log line written (stderr).
        public var level = LogLevel.info
        public init() {}
    }

    /// For development.
    public struct Development: Codable, Equatable, Sendable {
        /// A rolling reload when a source file of the application (or an extra file) changes.
        public var reload = false
        /// More files whose changes reload (templates, configuration).
        public var reloadExtraFiles: [String] = []
        public init() {}
    }

    public struct Compatibility: Codable, Equatable, Sendable {
        /// `import uwsgi` gives dispatchd's module (uWSGI's websocket_* API).
        public var uwsgi = false
        public init() {}
    }
}
