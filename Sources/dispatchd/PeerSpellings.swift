import ArgumentParser
import DConfig
import DPosix

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
        name: .customLong("offload-threads"),
        help: ArgumentHelp(
            "uWSGI's --offload-threads: accepted; static files and responses are written by the worker's loop, not by Python threads.",
            valueName: "count"))
    var offloadThreads: Int?

    @Option(
        name: .customLong("listen"), help: ArgumentHelp("uWSGI's --listen: the same as --backlog.", valueName: "count"))
    var listen: Int?

    @Option(
        name: .customLong("buffer-size"),
        help: ArgumentHelp("uWSGI's --buffer-size: the same as --limit-request-head.", valueName: "bytes"))
    var bufferSize: Int?

    @Option(
        name: [.customLong("python-autoreload"), .customLong("py-autoreload")],
        help: ArgumentHelp(
            "uWSGI's --python-autoreload: a value above 0 is --reload (changes are noticed at once, not polled).",
            valueName: "seconds"))
    var pythonAutoreload: Int?

    @Option(
        name: .customLong("chmod-socket"),
        help: ArgumentHelp(
            "uWSGI's --chmod-socket: the mode of unix socket files, in octal (660).", valueName: "mode"))
    var chmodSocket: String?

    @Option(
        name: .customLong("chown-socket"),
        help: ArgumentHelp(
            "uWSGI's --chown-socket: the owner of unix socket files, USER or USER:GROUP (names or numbers).",
            valueName: "user[:group]"))
    var chownSocket: String?

    @Option(
        name: [.customLong("uid"), .customLong("user")],
        help: ArgumentHelp(
            "uWSGI's --uid (gunicorn's --user): once the listeners are bound, run the master and workers as this user (name or number).",
            valueName: "user"))
    var uid: String?

    @Option(
        name: [.customLong("gid"), .customLong("group")],
        help: ArgumentHelp(
            "uWSGI's --gid (gunicorn's --group): and this group (name or number; default: the user's).",
            valueName: "group"))
    var gid: String?

    @Flag(name: .customLong("disable-logging"), help: "uWSGI's --disable-logging: the same as --no-access-log.")
    var disableLogging = false

    @Flag(
        name: [
            .customLong("master"), .customLong("need-app"), .customLong("http-websockets"),
            .customLong("enable-threads"), .customLong("die-on-term"), .customLong("lazy-apps"),
            .customLong("single-interpreter"), .customLong("vacuum"), .customLong("thunder-lock"),
            .customLong("http-keepalive"), .customLong("harakiri-verbose"),
        ],
        help:
            "uWSGI options that describe what dispatchd always does (a master process, the app loaded at start-up, WebSockets, Python threads, SIGTERM stops gracefully, one interpreter per worker, socket files removed at exit, one accepting process, keep-alive, stacks logged at --timeout): accepted."
    )
    var alwaysOn: Int

    /// --http and --http-socket addresses (a path is a unix socket, as in uWSGI), which join
    /// the --bind ones.
    var httpAddresses: [String] {
        (http + httpSocket).map { $0.hasPrefix("/") || $0.hasPrefix(".") ? "unix:\($0)" : $0 }
    }

    /// Applies them to `b` (after dispatchd's own spellings: a setting given both ways is
    /// the peer spelling's last).
    func apply(to b: inout ConfigurationBuilder, app: String?) throws {
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
        b.set(\.listeners.backlog, listen)
        b.set(\.limits.headSize, bufferSize)
        if let uid {
            guard Posix.user(uid) != nil else { throw ValidationError("--uid: no user '\(uid)' on this machine") }
            b.set(\.listeners.user, uid)
        }
        if let gid {
            guard Posix.group(gid) != nil else { throw ValidationError("--gid: no group '\(gid)' on this machine") }
            b.set(\.listeners.group, gid)
        }
        b.setSocketMode(chmodSocket)
        b.set(\.listeners.socketOwner, chownSocket)
    }
}
