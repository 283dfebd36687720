/// uWSGI options dispatchd does not implement, refused by name with what to do instead (uWSGI
/// itself ignores what it does not know; a setting that silently does nothing is worse than an
/// error). Checked on the command line before parsing, and for files and the environment per
/// entry.
enum UnsupportedOptions {
    static let pointers: [String: String] = [
        "daemonize": "dispatchd stays in the foreground; run it under systemd or in a container",
        "daemonize2": "dispatchd stays in the foreground; run it under systemd or in a container",
        "pidfile": "not supported: the process manager knows the master's pid (systemd's MainPID)",
        "pidfile2": "not supported: the process manager knows the master's pid (systemd's MainPID)",
        "logto": "the access log goes to stdout and the server's log to stderr; redirect them",
        "logto2": "the access log goes to stdout and the server's log to stderr; redirect them",
        "cheaper": "workers are not scaled on demand; set --workers (and --threads)",
        "cheaper-algo": "workers are not scaled on demand; set --workers (and --threads)",
        "touch-reload": "use --reload-extra-file FILE: a rolling reload when the file changes",
        "post-buffering":
            "request bodies are always received before the application runs; --body-buffer-size sets how much stays in memory",
        "mount": "mounting several apps is not supported; serve one app per server",
        "manage-script-name": "mounting several apps is not supported; serve one app per server",
        "reload-mercy": "use --graceful-timeout",
        "worker-reload-mercy": "use --graceful-timeout",
        "evil-reload-on-rss": "use --reload-on-rss (checked once a second, between requests)",
        "env": "set environment variables in the server's own environment",
        "async": "use --threads for blocking requests; WebSocket handlers already run cooperatively",
        "ugreen": "use --threads for blocking requests; WebSocket handlers already run cooperatively",
    ]

    /// The error for a `--name` (or `--name=value`) argument that is a uWSGI option without an
    /// implementation here, or nil.
    static func message(for argument: String) -> String? {
        guard argument.hasPrefix("--") else { return nil }
        let name = String(argument.dropFirst(2).prefix { $0 != "=" })
        return pointers[name].map { "--\(name) (uWSGI's) is not supported: \($0)" }
    }
}
