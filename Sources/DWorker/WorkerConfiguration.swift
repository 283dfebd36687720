public import DHTTP1

/// Everything a worker process needs, passed on its command line by the master.
public struct WorkerConfiguration: Sendable {
    public var slot: Int
    public var module: String?
    public var callable: String
    public var wsgiFile: String?
    public var pythonPath: [String]
    public var virtualenv: String?
    public var accessLog: Bool
    public var limits: HTTPLimits
    /// Seconds an idle keep-alive connection is kept.
    public var keepAliveTimeout: Double
    /// Seconds a client has to send a complete request head.
    public var headerTimeout: Double
    /// Seconds a body read may wait for the client's next bytes.
    public var bodyTimeout: Double
    /// Seconds a response write may wait for the client to read.
    public var writeTimeout: Double
    /// Largest request body (nil: unlimited); larger gets 413.
    public var maxRequestBody: Int?
    /// Request bodies up to this size are kept in memory; larger ones go to a temporary file.
    public var bodyBufferSize: Int
    /// Where those temporary files are made.
    public var bodySpoolDirectory: String
    /// Largest WebSocket message (larger: close 1009).
    public var webSocketMaxMessage: Int
    /// Seconds without traffic before a WebSocket ping; seconds to wait for its pong.
    public var webSocketPingInterval: Double
    public var webSocketPingTimeout: Double
    /// `import uwsgi` resolves to the dispatchd module.
    public var uwsgiCompat: Bool
    /// Static files served by the worker.
    public var statics: StaticConfiguration

    public init(slot: Int, module: String?, callable: String, wsgiFile: String?,
                pythonPath: [String], virtualenv: String?, accessLog: Bool) {
        self.slot = slot
        self.module = module
        self.callable = callable
        self.wsgiFile = wsgiFile
        self.pythonPath = pythonPath
        self.virtualenv = virtualenv
        self.accessLog = accessLog
        self.limits = HTTPLimits()
        self.keepAliveTimeout = 5
        self.headerTimeout = 10
        self.bodyTimeout = 30
        self.writeTimeout = 30
        self.maxRequestBody = nil
        self.bodyBufferSize = 1 << 20
        self.bodySpoolDirectory = "/tmp"
        self.webSocketMaxMessage = 1 << 20
        self.webSocketPingInterval = 30
        self.webSocketPingTimeout = 10
        self.uwsgiCompat = false
        self.statics = StaticConfiguration()
    }
}
