internal import DConfig
internal import DIPC
internal import DPosix
internal import DTLS
internal import DWSGI

/// How a worker process starts: it reads the master's configuration, starts the interpreter and
/// imports the application (`prepare`), then serves in its slot (`start`). A spawned worker does
/// both; with --preload, the zygote prepares once and each forked worker starts from there.
extension WorkerProcess {
    /// A process that has loaded the application and has yet to take a slot.
    struct Prepared {
        let server: ServerConfiguration
        let tlsContexts: [TLSContext?]
        /// --accept-mode shared: the listening sockets inherited (nil otherwise).
        let sharedListeners: [CInt]?
        let scoreboard: Scoreboard
        let runtime: PythonRuntime
        let app: WSGIApplication
    }

    /// Runs the worker in `slot` to the end; returns the process exit status.
    public static func run(slot: Int) -> Int32 {
        switch prepare() {
        case .failure(let status): status.rawValue
        case .success(let prepared): start(prepared, slot: slot)
        }
    }

    /// Everything before the slot: the configuration, the TLS contexts, the scoreboard, the
    /// interpreter and the application's import. The exit status tells the master why not.
    static func prepare() -> Result<Prepared, WorkerContract.ExitStatus> {
        Posix.ignoreSIGPIPE()
        let server: ServerConfiguration
        do {
            let fd = WorkerContract.Descriptor.configuration
            let bytes = try MemoryFile.contents(of: fd)
            // Closed before any Python runs: the application has no business with it.
            Posix.close(fd)
            server = try ServerConfiguration(encoded: bytes)
        } catch {
            ServerLog.write(.worker, "cannot read the configuration from the master: \(error)", level: .critical)
            return .failure(.setupFailed)
        }
        ServerLog.threshold = ServerLog.Level(name: server.logging.level.rawValue)
        let sharedListeners: [CInt]?
        do {
            sharedListeners = try takeSharedListeners(server)
        } catch {
            ServerLog.write(.worker, "cannot use the listening sockets the master passed: \(error)", level: .critical)
            return .failure(.setupFailed)
        }
        // Before Python: a certificate that cannot be used fails the worker at once.
        var tlsContexts: [TLSContext?] = []
        for bind in server.listeners.binds {
            guard case .https(let files) = bind.scheme else {
                tlsContexts.append(nil)
                continue
            }
            do {
                tlsContexts.append(
                    try TLSContext(
                        certificate: files.certificate, key: files.key, ciphers: files.ciphers,
                        ticketKeys: server.listeners.ticketKeys))
            } catch {
                ServerLog.write(.worker, "\(bind): \(error)", level: .critical)
                return .failure(.tlsFailed)
            }
        }
        let scoreboard: Scoreboard
        do {
            scoreboard = try Scoreboard(
                mapping: WorkerContract.Descriptor.scoreboard, threads: server.workers.threads)
        } catch {
            ServerLog.write(.worker, "cannot map the scoreboard: \(error)", level: .critical)
            return .failure(.setupFailed)
        }
        let runtime: PythonRuntime
        do {
            runtime = try PythonRuntime(
                virtualenv: server.application.virtualenv, pythonPath: server.application.pythonPath)
        } catch {
            ServerLog.write(.worker, error.message)
            return .failure(.interpreterFailed)
        }
        // Before the app loads: code written for uWSGI imports uwsgi at its top.
        runtime.installUWSGICompat(force: server.compatibility.uwsgi)
        let app: WSGIApplication
        do {
            let a = server.application
            app = try runtime.loadApplication(
                module: a.module, callable: a.callable, wsgiFile: a.wsgiFile,
                multithread: server.workers.threads > 1)
        } catch {
            runtime.flushStdio()
            ServerLog.write(.worker, error.message)
            return .failure(.appLoadFailed)
        }
        let trusted = server.listeners.forwardedAllowIPs
        app.forwardedTrust = { @Sendable address in trusted.contains(address) }
        return .success(
            Prepared(
                server: server, tlsContexts: tlsContexts, sharedListeners: sharedListeners, scoreboard: scoreboard,
                runtime: runtime, app: app))
    }

    /// The worker in `slot`, from a prepared process: its start hooks, its request threads, then
    /// its event loop, to the end.
    static func start(_ prepared: Prepared, slot: Int) -> Int32 {
        let config = WorkerConfiguration(slot: slot, server: prepared.server)
        let runtime = prepared.runtime
        let worker = WorkerProcess(config: config, runtime: runtime, app: prepared.app, scoreboard: prepared.scoreboard)
        worker.tlsContexts = prepared.tlsContexts
        if let listeners = prepared.sharedListeners {
            do {
                try worker.startSharedAccept(listeners)
            } catch {
                ServerLog.write(.worker, "cannot watch the listening sockets: \(error)", level: .critical)
                return WorkerContract.ExitStatus.setupFailed.rawValue
            }
        }
        runtime.scheduler = worker.tasks
        runtime.channels = worker.channels
        // dispatchd.on_worker_start: after the import, before the worker reports ready.
        guard runtime.runStartHooks() else {
            runtime.flushStdio()
            ServerLog.write(.worker, "a worker start hook failed: not ready", level: .critical)
            return WorkerContract.ExitStatus.startHookFailed.rawValue
        }
        guard worker.startRequestThreads(), worker.startRequestTimeouts() else {
            return WorkerContract.ExitStatus.setupFailed.rawValue
        }
        return worker.serve()
    }
}
