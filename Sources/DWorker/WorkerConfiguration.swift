internal import DConfig
internal import DHTTP1

/// What a worker runs with: the master's configuration, decoded from the descriptor the
/// worker was started with, seen the way the worker's code asks for it, plus its slot.
struct WorkerConfiguration: Sendable {
    let slot: Int
    let server: ServerConfiguration
    /// Built once: every connection's parser takes it.
    let limits: HTTPLimits

    init(slot: Int, server: ServerConfiguration) {
        self.slot = slot
        self.server = server
        let l = server.limits
        limits = HTTPLimits(
            requestLine: l.requestLine, fieldLine: l.fieldSize, headSize: l.headSize, fieldCount: l.fieldCount)
    }

    var accessLog: Bool { server.logging.accessLog }
    /// WSGI calls at once, each on its own request thread (1: on the loop's thread).
    var threads: Int { server.workers.threads }
    /// Seconds an idle keep-alive connection is kept.
    var keepAliveTimeout: Double { server.timeouts.keepAlive }
    /// Seconds a client has to send a complete request head.
    var headerTimeout: Double { server.timeouts.header }
    /// Seconds a body read may wait for the client's next bytes.
    var bodyTimeout: Double { server.timeouts.body }
    /// Seconds a response write may wait for the client to read.
    var writeTimeout: Double { server.timeouts.write }
    /// Seconds a request (or a WebSocket handler step) may run in the application before it is
    /// interrupted; nil: no limit.
    var requestTimeout: Double? { server.timeouts.request.flatMap { $0 > 0 ? $0 : nil } }
    /// Largest request body (nil: unlimited); larger gets 413.
    var maxRequestBody: Int? { server.bodies.limit }
    /// Request bodies up to this size are kept in memory; larger ones go to a temporary file.
    var bodyBufferSize: Int { server.bodies.bufferSize }
    /// Where those temporary files are made.
    var bodySpoolDirectory: String { server.bodies.spoolDirectory }
    /// Body bytes the worker holds in memory, and in temporary files, at once; the free space
    /// the spool's file system keeps.
    var bodyMemoryMax: Int { server.bodies.memoryMax }
    var bodySpoolMax: Int { server.bodies.spoolMax }
    var bodySpoolMinFree: FreeSpace { server.bodies.spoolMinFree }
    /// Largest WebSocket message (larger: close 1009).
    var webSocketMaxMessage: Int { server.webSocket.maxMessage }
    /// Seconds without traffic before a WebSocket ping; seconds to wait for its pong.
    var webSocketPingInterval: Double { server.webSocket.pingInterval }
    var webSocketPingTimeout: Double { server.webSocket.pingTimeout }
    var webSocketSendQueue: Int { server.webSocket.sendQueue }
    /// Bytes of permessage-deflate state a WebSocket may keep between messages.
    var webSocketDeflateMemory: Int { server.webSocket.deflateMemory }
    /// `import uwsgi` resolves to the dispatchd module.
    var uwsgiCompat: Bool { server.compatibility.uwsgi }
    /// Every connection starts with a PROXY protocol header.
    var proxyProtocol: Bool { server.listeners.proxyProtocol }
    /// Static files served by the worker.
    var statics: ServerConfiguration.Statics { server.statics }
}
