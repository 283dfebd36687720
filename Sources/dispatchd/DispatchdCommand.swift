import ArgumentParser
import DHTTP1
import DMaster
import DPosix
import DWorker

/// `dispatchd [options] MODULE:CALLABLE`: parse, validate, then hand over to the master (or,
/// with the hidden worker options the master passes, run as a worker).
@main
struct DispatchdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dispatchd",
        abstract: "Serve a Python WSGI application over HTTP/1.1.",
        discussion: """
            Examples:
              dispatchd --workers 8 --bind :8080 app:application
              dispatchd --bind unix:/run/app.sock --wsgi-file app.py --callable app
            """
    )

    @Argument(help: "The application as MODULE:CALLABLE (the callable defaults to 'application').")
    var app: String?

    @Option(help: ArgumentHelp("Load the application from a Python file instead of a module.", valueName: "path.py"))
    var wsgiFile: String?

    @Option(help: "The name of the WSGI callable (default: 'application', or the part after ':').")
    var callable: String?

    @Option(help: ArgumentHelp("Change to this directory before loading the application.", valueName: "dir"))
    var chdir: String?

    @Option(name: .customLong("pythonpath"), help: ArgumentHelp("Add a directory to sys.path (repeatable).", valueName: "dir"))
    var pythonPath: [String] = []

    @Option(help: ArgumentHelp("Serve from this virtualenv (default: $VIRTUAL_ENV).", valueName: "dir"))
    var virtualenv: String?

    @Option(help: ArgumentHelp(
        "Listen on an address (repeatable): :8080, 0.0.0.0:8080, 127.0.0.1:8080, [::1]:8080, unix:/path.sock. Default 127.0.0.1:8000.",
        valueName: "address"))
    var bind: [String] = []

    @Option(help: "Number of worker processes (default: the number of CPUs).")
    var workers: Int?

    @Option(help: "Length of the kernel's queue of connections not yet accepted.")
    var backlog: Int = 1024

    @Option(help: ArgumentHelp("Seconds that SIGTERM waits for in-flight requests before killing workers.", valueName: "seconds"))
    var gracefulTimeout: Double = 30

    @Flag(help: "Do not write an access log line per request to stdout.")
    var noAccessLog = false

    @Option(help: ArgumentHelp("Longest request line in bytes; longer gets 414.", valueName: "bytes"))
    var limitRequestLine: Int = 8192

    @Option(help: ArgumentHelp("Longest single header field line in bytes; longer gets 431.", valueName: "bytes"))
    var limitRequestFieldSize: Int = 8192

    @Option(help: ArgumentHelp("Most header fields in a request; more gets 431.", valueName: "count"))
    var limitRequestFields: Int = 100

    @Option(help: ArgumentHelp("Largest request head (request line and fields) in bytes; larger gets 431.", valueName: "bytes"))
    var limitRequestHead: Int = 65536

    @Option(help: ArgumentHelp("Largest request body in bytes (default: unlimited); larger gets 413.", valueName: "bytes"))
    var limitRequestBody: Int?

    @Option(help: ArgumentHelp("Seconds an idle keep-alive connection is kept open.", valueName: "seconds"))
    var keepAlive: Double = 5

    @Option(help: ArgumentHelp("Seconds a client has to send a complete request head (then 408).", valueName: "seconds"))
    var headerTimeout: Double = 10

    @Option(help: ArgumentHelp("Seconds a request body may stop arriving before the read fails.", valueName: "seconds"))
    var bodyTimeout: Double = 30

    @Option(help: ArgumentHelp("Seconds a client may leave its response unread before the connection is closed.", valueName: "seconds"))
    var writeTimeout: Double = 30

    @Option(help: ArgumentHelp("Request bodies up to this size are held in memory; larger ones are received into a temporary file before the application runs.", valueName: "bytes"))
    var bodyBufferSize: Int = 1 << 20

    @Option(help: ArgumentHelp("Directory for those temporary files (default: $TMPDIR, or /tmp).", valueName: "dir"))
    var bodySpoolDir: String?

    @Option(help: ArgumentHelp("Largest WebSocket message in bytes; larger closes the connection with 1009.", valueName: "bytes"))
    var websocketMaxMessage: Int = 1 << 20

    @Option(help: ArgumentHelp("Seconds without traffic on a WebSocket before the server pings it.", valueName: "seconds"))
    var websocketPingInterval: Double = 30

    @Option(help: ArgumentHelp("Seconds a WebSocket client has to answer a ping before it is closed.", valueName: "seconds"))
    var websocketPingTimeout: Double = 10

    @Flag(help: "Make 'import uwsgi' give dispatchd's module (uWSGI's websocket_* API).")
    var uwsgiCompat = false

    @Option(help: ArgumentHelp("Serve the files of DIR under the URL prefix PREFIX from the worker, before the app (repeatable), e.g. /assets=./static.", valueName: "PREFIX=DIR"))
    var staticMap: [String] = []

    @Option(help: ArgumentHelp("File served for a directory under a static map (e.g. index.html); without it, directories get 403.", valueName: "name"))
    var staticIndex: String?

    @Flag(help: "A path under a static map with no file there goes to the app (instead of 404).")
    var staticFallthrough = false

    @Option(help: ArgumentHelp("Cache-Control max-age for static files: SECONDS for every map, or PREFIX=SECONDS for one (repeatable).", valueName: "[PREFIX=]SECONDS"))
    var staticExpires: [String] = []

    @Flag(help: "Serve symlinks under a static map that point outside its directory.")
    var staticFollowSymlinks = false

    @Flag(help: "Serve files and directories whose names start with a dot.")
    var staticDotfiles = false

    @Option(help: .hidden) var workerSlot: Int?

    /// The application module and callable.
    func appTarget() throws -> (module: String?, callable: String) {
        if let app {
            let parts = app.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            let module = String(parts[0])
            guard !module.isEmpty, !module.contains("/") else {
                throw ValidationError("'\(app)' is not MODULE:CALLABLE (use --wsgi-file for a file path)")
            }
            let fromSpec = parts.count > 1 ? String(parts[1]) : nil
            if fromSpec?.isEmpty == true { throw ValidationError("'\(app)' has an empty callable after ':'") }
            return (module, callable ?? fromSpec ?? "application")
        }
        return (nil, callable ?? "application")
    }

    func validate() throws {
        if app == nil && wsgiFile == nil {
            throw ValidationError("Missing the application: give MODULE:CALLABLE or --wsgi-file PATH.")
        }
        if app != nil && wsgiFile != nil {
            throw ValidationError("Give either MODULE:CALLABLE or --wsgi-file, not both.")
        }
        _ = try appTarget()
        if let workers, workers < 1 { throw ValidationError("--workers must be at least 1 (got \(workers)).") }
        if backlog < 1 { throw ValidationError("--backlog must be at least 1 (got \(backlog)).") }
        if gracefulTimeout < 0 { throw ValidationError("--graceful-timeout must not be negative.") }
        for (name, value) in [("--limit-request-line", limitRequestLine), ("--limit-request-field-size", limitRequestFieldSize),
                              ("--limit-request-fields", limitRequestFields), ("--limit-request-head", limitRequestHead)] where value < 1 {
            throw ValidationError("\(name) must be at least 1 (got \(value)).")
        }
        if websocketMaxMessage < 1 { throw ValidationError("--websocket-max-message must be at least 1 (got \(websocketMaxMessage)).") }
        for (name, value) in [("--websocket-ping-interval", websocketPingInterval), ("--websocket-ping-timeout", websocketPingTimeout)] where !(value > 0) {
            throw ValidationError("\(name) must be a positive number of seconds (got \(value)).")
        }
        if bodyBufferSize < 0 { throw ValidationError("--body-buffer-size must not be negative (got \(bodyBufferSize)).") }
        if !Posix.isDirectory(spoolDirectory) {
            throw ValidationError("--body-spool-dir: '\(spoolDirectory)' is not a directory.")
        }
        if let limitRequestBody, limitRequestBody < 0 { throw ValidationError("--limit-request-body must not be negative.") }
        for (name, value) in [("--keep-alive", keepAlive), ("--header-timeout", headerTimeout),
                              ("--body-timeout", bodyTimeout), ("--write-timeout", writeTimeout)] where !(value > 0) {
            throw ValidationError("\(name) must be a positive number of seconds (got \(value)).")
        }
        for b in bind {
            do { _ = try BindAddress.parse(b) } catch { throw ValidationError("\(error)") }
        }
        if let staticIndex, staticIndex.isEmpty || staticIndex.contains("/") {
            throw ValidationError("--static-index: '\(staticIndex)' must be a file name.")
        }
        if workerSlot == nil { _ = try staticMaps() }
        if let chdir, workerSlot == nil, !Posix.isDirectory(chdir) {
            throw ValidationError("--chdir: '\(chdir)' is not a directory.")
        }
        if let virtualenv, !Posix.isDirectory(virtualenv) {
            throw ValidationError("--virtualenv: '\(virtualenv)' is not a directory.")
        }
    }

    /// --static-map and --static-expires, checked; directories made absolute.
    func staticMaps() throws -> [StaticMap] {
        var maps: [StaticMap] = []
        for spec in staticMap {
            let parts = spec.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, parts[0].hasPrefix("/"), !parts[1].isEmpty else {
                throw ValidationError("--static-map: '\(spec)' is not PREFIX=DIR with PREFIX starting with '/'.")
            }
            var prefix = parts[0]
            while prefix.count > 1 && prefix.hasSuffix("/") { prefix.removeLast() }
            guard Posix.isDirectory(parts[1]), let dir = Posix.realpath(parts[1]) else {
                throw ValidationError("--static-map: '\(parts[1])' is not a directory.")
            }
            maps.append(StaticMap(prefix: prefix, directory: dir, expires: nil))
        }
        for spec in staticExpires {
            let parts = spec.split(separator: "=", maxSplits: 1).map(String.init)
            guard let seconds = Int(parts.last!), seconds >= 0 else {
                throw ValidationError("--static-expires: '\(spec)' is not SECONDS or PREFIX=SECONDS.")
            }
            if parts.count == 2 {
                var prefix = parts[0]
                while prefix.count > 1 && prefix.hasSuffix("/") { prefix.removeLast() }
                guard let i = maps.firstIndex(where: { $0.prefix == prefix }) else {
                    throw ValidationError("--static-expires: no --static-map has the prefix '\(parts[0])'.")
                }
                maps[i].expires = seconds
            } else {
                for i in maps.indices where maps[i].expires == nil { maps[i].expires = seconds }
            }
        }
        return maps
    }

    var spoolDirectory: String { bodySpoolDir ?? Posix.getenv("TMPDIR") ?? "/tmp" }

    /// Options repeated for every worker.
    func workerArguments(staticMaps maps: [StaticMap]) -> [String] {
        var args: [String] = []
        if let app { args.append(app) }
        if let wsgiFile { args += ["--wsgi-file", wsgiFile] }
        if let callable { args += ["--callable", callable] }
        for p in pythonPath { args += ["--pythonpath", p] }
        if let virtualenv { args += ["--virtualenv", virtualenv] }
        if noAccessLog { args.append("--no-access-log") }
        args += ["--limit-request-line", String(limitRequestLine), "--limit-request-field-size", String(limitRequestFieldSize),
                 "--limit-request-fields", String(limitRequestFields), "--limit-request-head", String(limitRequestHead),
                 "--keep-alive", String(keepAlive), "--header-timeout", String(headerTimeout),
                 "--body-timeout", String(bodyTimeout), "--write-timeout", String(writeTimeout),
                 "--body-buffer-size", String(bodyBufferSize), "--body-spool-dir", spoolDirectory,
                 "--websocket-max-message", String(websocketMaxMessage),
                 "--websocket-ping-interval", String(websocketPingInterval), "--websocket-ping-timeout", String(websocketPingTimeout)]
        if uwsgiCompat { args.append("--uwsgi-compat") }
        // Static maps go to workers resolved (absolute directories, expiry per map).
        for m in maps {
            args += ["--static-map", "\(m.prefix)=\(m.directory)"]
            if let e = m.expires { args += ["--static-expires", "\(m.prefix)=\(e)"] }
        }
        if let staticIndex { args += ["--static-index", staticIndex] }
        if staticFallthrough { args.append("--static-fallthrough") }
        if staticFollowSymlinks { args.append("--static-follow-symlinks") }
        if staticDotfiles { args.append("--static-dotfiles") }
        if let limitRequestBody { args += ["--limit-request-body", String(limitRequestBody)] }
        return args
    }

    func run() throws {
        if let slot = workerSlot {
            let target = try appTarget()
            var config = WorkerConfiguration(
                slot: slot, module: target.module, callable: target.callable, wsgiFile: wsgiFile,
                pythonPath: pythonPath, virtualenv: virtualenv ?? Posix.getenv("VIRTUAL_ENV"),
                accessLog: !noAccessLog
            )
            config.limits.requestLine = limitRequestLine
            config.limits.fieldLine = limitRequestFieldSize
            config.limits.fieldCount = limitRequestFields
            config.limits.headSize = limitRequestHead
            config.maxRequestBody = limitRequestBody
            config.keepAliveTimeout = keepAlive
            config.headerTimeout = headerTimeout
            config.bodyTimeout = bodyTimeout
            config.writeTimeout = writeTimeout
            config.bodyBufferSize = bodyBufferSize
            config.bodySpoolDirectory = spoolDirectory
            config.webSocketMaxMessage = websocketMaxMessage
            config.webSocketPingInterval = websocketPingInterval
            config.webSocketPingTimeout = websocketPingTimeout
            config.uwsgiCompat = uwsgiCompat
            config.statics.maps = try staticMaps()
            config.statics.index = staticIndex
            config.statics.fallThrough = staticFallthrough
            config.statics.followSymlinks = staticFollowSymlinks
            config.statics.dotfiles = staticDotfiles
            throw ExitCode(WorkerProcess.run(config))
        }
        // Static directories are relative to where dispatchd was started, not to --chdir.
        let maps = try staticMaps()
        if let chdir {
            do { try Posix.chdir(chdir) } catch { throw ValidationError("--chdir: \(error)") }
        }
        let binds = try (bind.isEmpty ? ["127.0.0.1:8000"] : bind).map { try BindAddress.parse($0) }
        let config = ServerConfiguration(
            binds: binds,
            workers: workers ?? Posix.numberOfCPUs(),
            backlog: backlog,
            gracefulTimeout: gracefulTimeout,
            workerArguments: workerArguments(staticMaps: maps)
        )
        let supervisor = try Supervisor(config: config)
        throw ExitCode(supervisor.run())
    }
}
