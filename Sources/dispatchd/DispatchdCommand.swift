import ArgumentParser
import DConfig
import DIPC
import DMaster
import DPosix
import DTLS
import DWorker

/// `dispatchd [options] MODULE:CALLABLE`: the only place that knows the command line. It turns
/// the flags into the one ServerConfiguration (every default comes from there) and hands it to
/// the master; started by the master as `dispatchd --worker SLOT`, it runs a worker instead.
@main
struct DispatchdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dispatchd",
        abstract: "Serve a Python WSGI application over HTTP/1.1.",
        discussion: """
            Examples:
              dispatchd --workers 8 --bind :8080 app:application
              dispatchd --bind unix:/run/app.sock --wsgi-file app.py --callable app
              dispatchd top 127.0.0.1:9191    (watch a server started with --stats 127.0.0.1:9191)
            """,
        version: Version.line
    )

    @Argument(
        help: "The application as MODULE:CALLABLE (the callable defaults to '\(Default.value.application.callable)').")
    var app: String?

    @Option(help: ArgumentHelp("Load the application from a Python file instead of a module.", valueName: "path.py"))
    var wsgiFile: String?

    @Option(
        help: "The name of the WSGI callable (default: '\(Default.value.application.callable)', or the part after ':')."
    )
    var callable: String?

    @Option(help: ArgumentHelp("Change to this directory before loading the application.", valueName: "dir"))
    var chdir: String?

    @Option(
        name: .customLong("pythonpath"),
        help: ArgumentHelp("Add a directory to sys.path (repeatable).", valueName: "dir"))
    var pythonPath: [String] = []

    @Option(help: ArgumentHelp("Serve from this virtualenv (default: $VIRTUAL_ENV).", valueName: "dir"))
    var virtualenv: String?

    @Option(
        name: [.customLong("bind"), .customShort("b")],
        help: ArgumentHelp(
            "Listen on an address (repeatable): :8080, 0.0.0.0:8080, 127.0.0.1:8080, [::1]:8080, unix:/path.sock. Default \(Default.binds).",
            valueName: "address"))
    var bind: [String] = []

    @Option(
        name: [.customLong("https"), .customLong("https-socket")],
        help: ArgumentHelp(
            "Listen for HTTPS (uWSGI's form, repeatable): ADDRESS,CERT,KEY[,CIPHERS], e.g. :8443,server.crt,server.key; TLS 1.2 and 1.3, the files re-read by the workers a SIGHUP starts.",
            valueName: "address,cert,key"))
    var https: [String] = []

    @Option(
        name: .customLong("certfile"),
        help: ArgumentHelp(
            "gunicorn's: serve HTTPS with this certificate (PEM, chain included) on every --bind address.",
            valueName: "file"))
    var certfile: String?

    @Option(
        name: .customLong("keyfile"),
        help: ArgumentHelp(
            "gunicorn's: the certificate's private key (PEM; default: in the --certfile).", valueName: "file"))
    var keyfile: String?

    @Option(
        name: .customLong("ciphers"),
        help: ArgumentHelp(
            "With --certfile: an OpenSSL cipher list for TLS 1.2 (default: OpenSSL's).", valueName: "list"))
    var ciphers: String?

    @Option(
        help: ArgumentHelp(
            "gunicorn's: the peers whose X-Forwarded-For/-Proto/-Host/-Port and Forwarded fields set REMOTE_ADDR, the scheme, the host and the port: addresses and networks, comma-separated, or * for all; unix-socket peers always are (default: \(Default.value.listeners.forwardedAllowIPs); also $FORWARDED_ALLOW_IPS).",
            valueName: "list"))
    var forwardedAllowIps: String?

    @Option(
        help: ArgumentHelp(
            "Serve /metrics (Prometheus), /healthz, /readyz and /workers (JSON) on this address, from the master (uWSGI's --stats, over HTTP): it answers while every worker is busy. Keep it private (loopback, a unix socket).",
            valueName: "address"))
    var stats: String?

    @Flag(
        help:
            "gunicorn's: every connection starts with a PROXY protocol header (v1 or v2, as HAProxy's send-proxy and network load balancers send it), whose source address and port become REMOTE_ADDR and REMOTE_PORT; a connection without one is closed."
    )
    var proxyProtocol = false

    @Option(
        name: [.customLong("socket"), .customLong("uwsgi-socket")],
        help: ArgumentHelp(
            "Listen for uWSGI's binary protocol, for nginx's uwsgi_pass (repeatable): a path (unix socket) or an address. The peer sets the whole environ: keep it on a unix socket or loopback.",
            valueName: "address"))
    var socket: [String] = []

    @Option(
        help:
            "Number of worker processes (default: the number of CPUs, or the CPU limit of the container's cgroup, rounded up, when that is lower)."
    )
    var workers: Int?

    @Option(
        help: ArgumentHelp(
            "WSGI calls each worker runs at once, each on its own Python thread, for apps that wait on databases and services; the event loop, static files and WebSockets stay on the worker's own thread (default: \(Default.of(\.workers.threads))).",
            valueName: "count"))
    var threads: Int?

    @Option(
        help:
            "Length of the kernel's queue of connections not yet accepted (default: \(Default.of(\.listeners.backlog)))."
    )
    var backlog: Int?

    @Option(
        help: ArgumentHelp(
            "Seconds that SIGTERM waits for in-flight requests before killing workers (default: \(Default.of(\.workers.gracefulTimeout))).",
            valueName: "seconds"))
    var gracefulTimeout: Double?

    @Option(
        help: ArgumentHelp(
            "Seconds a leaving worker gives its stop hooks (dispatchd.on_worker_stop) and background threads once its requests are done; then it exits (default: \(Default.of(\.workers.stopTimeout))).",
            valueName: "seconds"))
    var workerStopTimeout: Double?

    @Option(
        help: ArgumentHelp(
            "Seconds SIGTERM keeps accepting before it drains, for load balancers that take time to notice (default: \(Default.of(\.workers.shutdownDelay))).",
            valueName: "seconds"))
    var shutdownDelay: Double?

    @Option(
        help: ArgumentHelp(
            "Workers a rolling reload (SIGHUP) replaces at once; each old worker retires once its replacement is ready (default: \(Default.of(\.workers.reloadBatch))).",
            valueName: "count"))
    var reloadBatch: Int?

    @Option(
        help: ArgumentHelp(
            "Replace a worker after this many HTTP requests, 0 for never (default: \(Default.of(\.workers.maxRequests))).",
            valueName: "count"))
    var maxRequests: Int?

    @Option(
        name: [.customLong("max-requests-jitter"), .customLong("max-requests-delta")],
        help: ArgumentHelp(
            "Up to this many more requests, drawn per worker, so that workers do not recycle together (default: \(Default.of(\.workers.maxRequestsJitter)); --max-requests-delta is uWSGI's name).",
            valueName: "count"))
    var maxRequestsJitter: Int?

    @Option(
        help: ArgumentHelp(
            "Replace a worker after this many seconds, 0 for never (default: \(Default.of(\.workers.maxLifetime))).",
            valueName: "seconds"))
    var maxWorkerLifetime: Double?

    @Option(
        name: [.customLong("max-worker-lifetime-jitter"), .customLong("max-worker-lifetime-delta")],
        help: ArgumentHelp(
            "Up to this many seconds more, drawn per worker (default: \(Default.of(\.workers.maxLifetimeJitter)); --max-worker-lifetime-delta is uWSGI's name).",
            valueName: "seconds"))
    var maxWorkerLifetimeJitter: Double?

    @Option(
        help: ArgumentHelp(
            "Replace a worker whose resident memory passes this many MiB, checked once a second between requests; 0 for never (default: \(Default.of(\.workers.reloadOnRSS))).",
            valueName: "MiB"))
    var reloadOnRss: Int?

    @Flag(
        help:
            "Import the application once, in one process, and fork the workers from it (gunicorn's --preload; uWSGI without --lazy-apps): the workers share the application's memory, and start faster. The application must not start threads while it is imported (start them in a dispatchd.on_worker_start hook). A reload (SIGHUP) imports it anew."
    )
    var preload = false

    @Option(
        help: ArgumentHelp(
            "Who accepts connections: single (the master accepts and hands each to a worker with room) or shared (each worker accepts from the listening sockets itself, one woken per connection; the master only supervises) (default: \(Default.value.workers.acceptMode)).",
            valueName: "mode"))
    var acceptMode: String?

    @Flag(help: "Do not write an access log line per request to stdout.")
    var noAccessLog = false

    @Option(
        name: [.customLong("access-log"), .customLong("access-logfile")],
        help: ArgumentHelp(
            "Append the access log to this file instead of stdout ('-': stdout); SIGUSR1 reopens it (logrotate). --access-logfile is gunicorn's name.",
            valueName: "file"))
    var accessLogFile: String?

    @Option(
        name: [.customLong("error-log"), .customLong("error-logfile"), .customLong("log-file")],
        help: ArgumentHelp(
            "Append the server's log (and what the app writes to stderr) to this file instead of stderr ('-': stderr); SIGUSR1 reopens it. --error-logfile and --log-file are gunicorn's names.",
            valueName: "file"))
    var errorLogFile: String?

    @Option(
        name: [.customLong("access-log-format"), .customLong("access-logformat")],
        help: ArgumentHelp(
            "What an access log line holds: gunicorn's atoms (%(h)s %(r)s %(s)s %(b)s %(D)s %({header}i)s %({header}o)s %({variable}e)s ...) or json, one object a line (default: the combined log format and the request's seconds). --access-logformat is gunicorn's name.",
            valueName: "format"))
    var accessLogFormat: String?

    @Option(
        help: ArgumentHelp(
            "The least severe server log line written: debug, info, warning, error or critical (default: \(Default.value.logging.level)).",
            valueName: "level"))
    var logLevel: String?

    @Option(
        help: ArgumentHelp(
            "Longest request line in bytes; longer gets 414 (default: \(Default.of(\.limits.requestLine))).",
            valueName: "bytes"))
    var limitRequestLine: Int?

    @Option(
        help: ArgumentHelp(
            "Longest single header field line in bytes; longer gets 431 (default: \(Default.of(\.limits.fieldSize))).",
            valueName: "bytes"))
    var limitRequestFieldSize: Int?

    @Option(
        help: ArgumentHelp(
            "Most header fields in a request; more gets 431 (default: \(Default.of(\.limits.fieldCount))).",
            valueName: "count"))
    var limitRequestFields: Int?

    @Option(
        help: ArgumentHelp(
            "Largest request head (request line and fields) in bytes; larger gets 431 (default: \(Default.of(\.limits.headSize))).",
            valueName: "bytes"))
    var limitRequestHead: Int?

    @Option(
        help: ArgumentHelp(
            "Largest request body in bytes, 0 for unlimited; larger gets 413 before the app runs (default: \(Default.requestBodyLimit); bodies over --body-buffer-size are written to disk first, so an unlimited size lets a few clients fill it).",
            valueName: "bytes"))
    var limitRequestBody: Int?

    @Option(
        help: ArgumentHelp(
            "Seconds an idle keep-alive connection is kept open (default: \(Default.of(\.timeouts.keepAlive)), longer than the 60 s idle timeout of proxies such as AWS ALB and nginx: a proxy that reuses a connection the server has just closed answers 502).",
            valueName: "seconds"))
    var keepAlive: Double?

    @Option(
        help: ArgumentHelp(
            "Seconds a client has to send a complete request head, then 408 (default: \(Default.of(\.timeouts.header))).",
            valueName: "seconds"))
    var headerTimeout: Double?

    @Option(
        help: ArgumentHelp(
            "Seconds a request body may stop arriving before the read fails (default: \(Default.of(\.timeouts.body))).",
            valueName: "seconds"))
    var bodyTimeout: Double?

    @Option(
        help: ArgumentHelp(
            "Seconds a client may leave its response unread before the connection is closed (default: \(Default.of(\.timeouts.write))).",
            valueName: "seconds"))
    var writeTimeout: Double?

    @Option(
        name: [.customLong("timeout"), .customLong("harakiri")],
        help: ArgumentHelp(
            "Seconds a request (or a WebSocket handler step) may run in the application, 0 for no limit (default: \(Default.requestTimeout)). Past it, the log gets the request, the worker and the stacks of its Python threads, and the request is interrupted (an exception raised in it; 504 when nothing was sent). --harakiri is the same option (uWSGI's name).",
            valueName: "seconds"))
    var timeout: Double?

    @Option(
        help: ArgumentHelp(
            "Seconds an interrupted request has to end (Python code that catches the exception, or C code that never returns) before its worker is killed and replaced (default: \(Default.of(\.timeouts.requestGrace))).",
            valueName: "seconds"))
    var timeoutGrace: Double?

    @Option(
        help: ArgumentHelp(
            "Request bodies up to this size are held in memory; larger ones are received into a temporary file before the application runs (default: \(Default.of(\.bodies.bufferSize))).",
            valueName: "bytes"))
    var bodyBufferSize: Int?

    @Option(help: ArgumentHelp("Directory for those temporary files (default: $TMPDIR, or /tmp).", valueName: "dir"))
    var bodySpoolDir: String?

    @Option(
        help: ArgumentHelp(
            "Request-body bytes a worker holds in memory at once, over all its connections; past it, bodies go to temporary files (default: \(Default.of(\.bodies.memoryMax))).",
            valueName: "bytes"))
    var bodyMemoryMax: Int?

    @Option(
        help: ArgumentHelp(
            "Request-body bytes a worker holds in temporary files at once, 0 for no limit; a body that would cross it gets 503 with Retry-After, one larger than all of it 413 (default: \(Default.of(\.bodies.spoolMax))).",
            valueName: "bytes"))
    var bodySpoolMax: Int?

    @Option(
        help: ArgumentHelp(
            "Free space the spool directory's file system keeps, in bytes or as a percentage of its size; a body that would leave less gets 503 (default: \(Default.value.bodies.spoolMinFree)).",
            valueName: "bytes|N%"))
    var bodySpoolMinFree: String?

    @Option(
        help: ArgumentHelp(
            "Largest WebSocket message in bytes; larger closes the connection with 1009 (default: \(Default.of(\.webSocket.maxMessage))).",
            valueName: "bytes"))
    var websocketMaxMessage: Int?

    @Option(
        help: ArgumentHelp(
            "Seconds without traffic on a WebSocket before the server pings it (default: \(Default.of(\.webSocket.pingInterval))).",
            valueName: "seconds"))
    var websocketPingInterval: Double?

    @Option(
        help: ArgumentHelp(
            "Seconds a WebSocket client has to answer a ping before it is closed (default: \(Default.of(\.webSocket.pingTimeout))).",
            valueName: "seconds"))
    var websocketPingTimeout: Double?

    @Option(
        help: ArgumentHelp(
            "Unsent bytes a WebSocket may hold when a dispatchd.channels message reaches it; a subscriber over it is closed with 1008 (default: \(Default.of(\.webSocket.sendQueue))).",
            valueName: "bytes"))
    var websocketSendQueue: Int?

    @Option(
        help: ArgumentHelp(
            "Bytes of compression state a WebSocket connection may keep between messages (permessage-deflate context takeover); a client whose offer needs more gets smaller windows, or messages compressed one at a time; 0: always one at a time (default: \(Default.of(\.webSocket.deflateMemory))).",
            valueName: "bytes"))
    var websocketDeflateMemory: Int?

    @Option(
        help: ArgumentHelp(
            "dispatchd.channels beyond this machine: a Redis server whose pub/sub carries them between the instances that name it (default: this instance's workers only).",
            valueName: "redis://host[:port][/db]"))
    var channels: String?

    @Option(
        help: ArgumentHelp(
            "Seconds the WebSockets of a replaced worker keep running before they are closed with 1001 (default: \(Default.of(\.webSocket.drainTimeout))).",
            valueName: "seconds"))
    var websocketDrainTimeout: Double?

    @Flag(
        help:
            "Development: a rolling reload when a source file of the application changes (a change that breaks the import keeps the old code serving)."
    )
    var reload = false

    @Option(
        help: ArgumentHelp(
            "With --reload, also reload when this file changes (repeatable): templates, configuration.",
            valueName: "path"))
    var reloadExtraFile: [String] = []

    @Flag(help: "Make 'import uwsgi' give dispatchd's module (uWSGI's websocket_* API).")
    var uwsgiCompat = false

    @Option(
        help: ArgumentHelp(
            "Serve the files of DIR under the URL prefix PREFIX from the worker, before the app (repeatable), e.g. /assets=./static.",
            valueName: "PREFIX=DIR"))
    var staticMap: [String] = []

    @Option(
        help: ArgumentHelp(
            "File served for a directory under a static map (e.g. index.html); without it, directories get 403.",
            valueName: "name"))
    var staticIndex: String?

    @Flag(help: "A path under a static map with no file there goes to the app (instead of 404).")
    var staticFallthrough = false

    @Option(
        help: ArgumentHelp(
            "Cache-Control max-age for static files: SECONDS for every map, or PREFIX=SECONDS for one (repeatable).",
            valueName: "[PREFIX=]SECONDS"))
    var staticExpires: [String] = []

    @Flag(help: "Serve symlinks under a static map that point outside its directory.")
    var staticFollowSymlinks = false

    @Flag(help: "Serve files and directories whose names start with a dot.")
    var staticDotfiles = false

    @OptionGroup(title: "uWSGI and gunicorn spellings")
    var peers: PeerSpellings

    /// Set by the master only (--preload): run as the zygote that forks the workers.
    @Flag(name: .customLong(WorkerContract.zygoteOption), help: .hidden)
    var zygote = false

    /// Set by the master only: run as the worker in this slot.
    @Option(name: .customLong(WorkerContract.option), help: .hidden)
    var worker: Int?

    /// How the command line spells a setting in messages.
    static func spelling(_ setting: Setting) -> String {
        setting == .app ? "MODULE:CALLABLE" : "--\(setting.rawValue)"
    }

    @Option(
        help: ArgumentHelp(
            "Read options from a uWSGI-style ini file, section [uwsgi] or [dispatchd] (or SECTION); keys are the long options' names (repeatable; the command line and DISPATCHD_* variables win over files).",
            valueName: "file[:section]"))
    var ini: [String] = []

    @Option(
        help: ArgumentHelp(
            "Read options from a YAML file (uWSGI's form: the keys under uwsgi: or dispatchd:, or SECTION; lists for repeated options), after the --ini files (repeatable).",
            valueName: "file[:section]"))
    var yaml: [String] = []

    @Flag(help: "Print the effective configuration and where each given value came from, then exit.")
    var printConfig = false

    /// Refuses the uWSGI options without an implementation here by name, with what to do
    /// instead, before ArgumentParser would call them unknown.
    static func main() {
        let arguments = CommandLine.arguments
        if arguments.count > 1 && arguments[1] == "top" {
            TopCommand.main(Array(arguments.dropFirst(2)))
            return
        }
        for argument in arguments.dropFirst() {
            if argument == "--" { break }
            if let message = UnsupportedOptions.message(for: argument) {
                Self.exit(withError: ValidationError(message))
            }
        }
        Self.main(nil)
    }

    func run() throws {
        if let worker {
            throw ExitCode(WorkerProcess.run(slot: worker))
        }
        if zygote {
            throw ExitCode(Zygote.run())
        }
        var config = try serverConfiguration()
        // Static directories and the spool directory are absolute by now.
        if let dir = config.application.chdir {
            do { try Posix.chdir(dir) } catch { throw ValidationError("\(Self.spelling(.chdir)): \(error)") }
        }
        // Relative certificate paths are the --chdir's, as in uWSGI. Checked here, so a bad file
        // fails at start-up, naming it, before any worker starts.
        for bind in config.listeners.binds {
            guard case .https(let files) = bind.scheme else { continue }
            do {
                _ = try TLSContext(certificate: files.certificate, key: files.key, ciphers: files.ciphers)
            } catch {
                throw ValidationError("\(bind): \(error)")
            }
        }
        if config.listeners.binds.contains(where: { if case .https = $0.scheme { true } else { false } }) {
            config.listeners.ticketKeys = TLSContext.newTicketKeys()
        }
        let supervisor = try Supervisor(config: config)
        throw ExitCode(supervisor.run())
    }
}
