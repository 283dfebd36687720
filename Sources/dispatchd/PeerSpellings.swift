import ArgumentParser
import DConfig

/// The spellings uWSGI's and gunicorn's users bring: the command lines of uWSGI's getting-started
/// guide run with `uwsgi` replaced by `dispatchd`. Each maps onto one of dispatchd's own settings;
/// the uWSGI options that mean nothing here are accepted and do nothing (README, "Coming from
/// uWSGI or gunicorn").
struct PeerSpellings: ParsableArguments {
    @Option(
        name: .customLong("http"),
        help: ArgumentHelp(
            "uWSGI's --http: listen for HTTP on ADDR (:8080, 0.0.0.0:8080, or a socket path); same as --bind (repeatable).",
            valueName: "addr"))
    var http: [String] = []

    @Option(
        name: .customLong("http-socket"),
        help: ArgumentHelp("uWSGI's --http-socket: the same as --http here (repeatable).", valueName: "addr"))
    var httpSocket: [String] = []

    @Option(
        name: [.customLong("module"), .customLong("wsgi")],
        help: ArgumentHelp(
            "uWSGI's --module: the application as MODULE:CALLABLE, or MODULE:Factory() to call a factory once for it.",
            valueName: "module"))
    var module: String?

    @Option(
        name: [.customLong("processes"), .customShort("p")],
        help: ArgumentHelp("uWSGI's --processes: the same as --workers.", valueName: "count"))
    var processes: Int?

    @Option(
        name: [.customLong("venv"), .customLong("home"), .customShort("H")],
        help: ArgumentHelp("uWSGI's --venv/--home: the same as --virtualenv.", valueName: "dir"))
    var venv: String?

    /// gunicorn's -w is a worker count, uWSGI's a module: the count is taken, anything else is an
    /// error naming both long options.
    @Option(
        name: .customShort("w"),
        help: ArgumentHelp(
            "gunicorn's -w: the same as --workers (uWSGI's -w MODULE is --module here).", valueName: "count")
    )
    var w: String?

    @Option(
        name: .customLong("gevent"),
        help: ArgumentHelp(
            "uWSGI's --gevent: accepted; WebSockets already share each worker through its cooperative scheduler, and --threads runs blocking requests at once.",
            valueName: "count"))
    var gevent: Int?

    @Option(
        name: .customLong("python-autoreload"),
        help: ArgumentHelp(
            "uWSGI's --python-autoreload: a value above 0 is --reload (changes are noticed at once, not polled).",
            valueName: "seconds"))
    var pythonAutoreload: Int?

    @Flag(name: .customLong("disable-logging"), help: "uWSGI's --disable-logging: the same as --no-access-log.")
    var disableLogging = false

    @Flag(
        name: [
            .customLong("master"), .customLong("need-app"), .customLong("http-websockets"),
            .customLong("enable-threads"), .customLong("die-on-term"), .customLong("lazy-apps"),
            .customLong("single-interpreter"), .customLong("vacuum"),
        ],
        help:
            "uWSGI options that describe what dispatchd always does (a master process, the app loaded at start-up, WebSockets, Python threads, SIGTERM stops gracefully, one interpreter per worker, socket files removed at exit): accepted."
    )
    var alwaysOn: Int

    /// Applies them to `b` (after dispatchd's own spellings: a setting given both ways is
    /// the peer spelling's last).
    func apply(to b: inout ConfigurationBuilder, binds: [String], app: String?) throws {
        let addresses = (http + httpSocket).map { $0.hasPrefix("/") || $0.hasPrefix(".") ? "unix:\($0)" : $0 }
        if !addresses.isEmpty { b.setBinds(binds + addresses) }
        if let module {
            if app != nil {
                throw ValidationError("the application is given twice: as MODULE:CALLABLE and as --module")
            }
            b.setApplication(module)
        }
        b.set(\.workers.count, processes)
        if let w {
            guard let count = Int(w) else {
                throw ValidationError(
                    "-w '\(w)': -w is the worker count here, as in gunicorn; for uWSGI's -w MODULE use --module (or --wsgi), for a count --workers"
                )
            }
            b.set(\.workers.count, count)
        }
        b.set(\.application.virtualenv, venv)
        if let seconds = pythonAutoreload, seconds > 0 { b.set(\.development.reload, true) }
        if disableLogging { b.set(\.logging.accessLog, false) }
    }
}
