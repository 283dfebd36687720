/// Every setting, by its name: the long option without its dashes (`keep-alive` is
/// `--keep-alive`), which a configuration file or environment variable will also use. Errors
/// carry a setting rather than a spelling, so each source names the option the way the user
/// wrote it.
public enum Setting: String, CaseIterable, Sendable {
    /// The positional MODULE:CALLABLE.
    case app
    case wsgiFile = "wsgi-file"
    case callable
    case chdir
    case pythonPath = "pythonpath"
    case virtualenv
    case bind
    /// uWSGI's `--https ADDRESS,CERT,KEY[,CIPHERS]`.
    case https
    /// gunicorn's TLS files, applied to every HTTP listener.
    case certfile
    case keyfile
    case ciphers
    /// uWSGI's `--socket` (also `--uwsgi-socket`): a listener speaking the uwsgi protocol.
    case socket
    case workers
    case threads
    case backlog
    /// gunicorn's: the peers whose X-Forwarded-* and Forwarded fields are believed.
    case forwardedAllowIps = "forwarded-allow-ips"
    /// gunicorn's: every connection starts with a PROXY protocol header (v1 or v2).
    case proxyProtocol = "proxy-protocol"
    /// The master's own listener for /metrics, /healthz, /readyz and /workers.
    case stats
    case chmodSocket = "chmod-socket"
    case chownSocket = "chown-socket"
    case uid
    case gid
    case gracefulTimeout = "graceful-timeout"
    case workerStopTimeout = "worker-stop-timeout"
    case shutdownDelay = "shutdown-delay"
    case reloadBatch = "reload-batch"
    case maxRequests = "max-requests"
    case maxRequestsJitter = "max-requests-jitter"
    case maxWorkerLifetime = "max-worker-lifetime"
    case maxWorkerLifetimeJitter = "max-worker-lifetime-jitter"
    case reloadOnRSS = "reload-on-rss"
    /// gunicorn's: the application is imported once and the workers forked from there.
    case preload
    /// Who accepts connections: the master (`single`) or the workers (`shared`).
    case acceptMode = "accept-mode"
    case websocketDrainTimeout = "websocket-drain-timeout"
    case reload
    case reloadExtraFile = "reload-extra-file"
    case noAccessLog = "no-access-log"
    case accessLog = "access-log"
    case errorLog = "error-log"
    case accessLogFormat = "access-log-format"
    case logLevel = "log-level"
    case limitRequestLine = "limit-request-line"
    case limitRequestFieldSize = "limit-request-field-size"
    case limitRequestFields = "limit-request-fields"
    case limitRequestHead = "limit-request-head"
    case limitRequestBody = "limit-request-body"
    case keepAlive = "keep-alive"
    case headerTimeout = "header-timeout"
    case bodyTimeout = "body-timeout"
    case writeTimeout = "write-timeout"
    /// Also spelled `--harakiri` on the command line (uWSGI's name).
    case timeout
    case timeoutGrace = "timeout-grace"
    case bodyBufferSize = "body-buffer-size"
    case bodySpoolDir = "body-spool-dir"
    case bodyMemoryMax = "body-memory-max"
    case bodySpoolMax = "body-spool-max"
    case bodySpoolMinFree = "body-spool-min-free"
    case websocketMaxMessage = "websocket-max-message"
    case websocketPingInterval = "websocket-ping-interval"
    case websocketPingTimeout = "websocket-ping-timeout"
    case websocketSendQueue = "websocket-send-queue"
    case websocketDeflateMemory = "websocket-deflate-memory"
    case channels
    case uwsgiCompat = "uwsgi-compat"
    case staticMap = "static-map"
    case staticIndex = "static-index"
    case staticFallthrough = "static-fallthrough"
    case staticExpires = "static-expires"
    case staticFollowSymlinks = "static-follow-symlinks"
    case staticDotfiles = "static-dotfiles"
}
