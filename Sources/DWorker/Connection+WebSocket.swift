internal import DEventLoop
internal import DHTTP1
internal import DPosix
internal import DWSGI
internal import DWebSocket

/// A connection's WebSocket side: the handshake request, frames in and out, keepalive, and the
/// close. The protocol itself is `WebSocketSession`'s (in `WebSocketChannel`).
extension Connection {
    enum HandshakeCheck {
        /// The request does not ask for a WebSocket: an ordinary request.
        case notWebSocket
        /// It asks, but breaks the rules: the refusal is queued.
        case refused
        case valid(WebSocketHandshake)
    }

    /// Checks a request that may ask for a WebSocket.
    func checkWebSocketHandshake() -> HandshakeCheck {
        let values = headerValues
        guard WebSocketHandshake.tokensContain(values("upgrade"), "websocket") else { return .notWebSocket }
        switch WebSocketHandshake.check(isGet: head.methodKind == .get, versionMinor: head.versionMinor, header: values)
        {
        case .success(let handshake):
            return .valid(handshake)
        case .failure(.badRequest(let reason)):
            refuse(HTTPError(400, reason), log: "refused a WebSocket handshake from \(clientAddress): \(reason)")
        case .failure(.unsupportedVersion):
            refuse(
                HTTPError(426, "unsupported Sec-WebSocket-Version"), fields: "Sec-WebSocket-Version: 13\r\n",
                log: "refused a WebSocket handshake from \(clientAddress): unsupported Sec-WebSocket-Version")
        }
        return .refused
    }

    /// Calls the application for a WebSocket request: it answers the handshake (the connection
    /// becomes a WebSocket) or returns an ordinary response.
    func upgradeRequest(_ handshake: WebSocketHandshake) {
        let channel = WebSocketChannel(
            connection: self, handshake: handshake, maxMessage: worker.config.webSocketMaxMessage)
        webSocket = channel
        beginRequest(keepAlive: false, hasBody: false)
        worker.enterApplication(request.began, head: head, buffer: input.bytes(start..<request.headEnd))
        let result = worker.app.handleUpgrade(
            head: head, buffer: input.bytes(start..<request.headEnd), info: proxied ?? info, transport: self,
            output: output, date: worker.date.imfFixdate, endpoint: channel
        )
        worker.leaveApplication()
        switch result {
        case .http(let progress):
            webSocket = nil
            advance(progress)
        case .webSocket(let state):
            endRequest(status: 101, bytes: 0, keepAlive: false, upgraded: true)
            // The head's fields are not read again (a browser's handshake has a dozen).
            head.fields = []
            if state != .suspended { channel.handlerEnded(failed: state == .failed) }
        }
    }

    /// Frames that arrived.
    func processWebSocket() {
        guard let ws = webSocket else { return }
        let used = ws.receive(UnsafeMutableRawBufferPointer(start: input.base + start, count: input.count - start))
        start += used
        if start > 0 {
            input.removePrefix(start)
            start = 0
        }
        finishWebSocketBatch()
        worker.flushDirty()
    }

    /// After WebSocket activity: write, then wait for the client's next frames (with the
    /// keepalive timer) or for it to read; once the WebSocket is over, close after the last
    /// frames.
    func finishWebSocketBatch() {
        guard let ws = webSocket, !isClosed else { return }
        ws.flushQueued = false
        let flushed = flushSome()
        guard !isClosed else { return }
        ws.drained()
        if ws.isFinished { machine.webSocketFinished() }
        guard case .upgraded = machine.state else {
            finishBatch()  // closing: after the output, linger
            return
        }
        guard flushed else {
            armWriteWatcher(timeout: worker.config.writeTimeout)
            return
        }
        writeWatcher?.disarm()
        if ws.inboxBytes > Self.inboxLimit {
            readWatcher.disarm()  // the handler is behind: let TCP slow the client down
            return
        }
        // Idle: both buffers go back to malloc until the next frame in or out (the input keeps
        // its room while the rest of a frame is on its way).
        if ws.session.framePayloadRemaining == 0 { input.release() }
        output.release()
        // The keepalive runs from what the client sent last (the read watcher's timer restarts on
        // each input) or from the ping: output does not move it, so a client that receives
        // without answering pings is found out however much it is sent, and a message sent to
        // many subscribers touches no timer.
        let timeout: Double
        switch ws.session.state {
        case .open: timeout = ws.awaitingPong ? worker.config.webSocketPingTimeout : worker.config.webSocketPingInterval
        default: timeout = Self.closeHandshakeTimeout
        }
        readWatcher.keepArmed(timeout: timeout)
    }

    /// The client took output.
    func webSocketWritable() {
        finishWebSocketBatch()
    }

    /// The read timer of a WebSocket: a keepalive ping, or the end of a client that stopped
    /// answering (or never finished the close handshake).
    func webSocketTimeout() {
        guard let ws = webSocket else { return }
        if ws.keepaliveTick() {
            finishWebSocketBatch()
        } else {
            close()
        }
    }

    /// Queues this connection's WebSocket output to be written when the handler code returns.
    func sendSoon() {
        guard let ws = webSocket, !ws.flushQueued, !isClosed else { return }
        ws.flushQueued = true
        worker.dirty.append(self)
    }

    /// The handler took messages: reading may resume.
    func inboxDrained() {
        if !readWatcher.isArmed { sendSoon() }
    }

    /// More of a frame is arriving: make room for `total` bytes of it.
    func needInput(_ total: Int) {
        input.reserve(start + total)
    }

    /// Messages the handler has not taken yet stop the reading past this many bytes.
    static let inboxLimit = 4 << 20

    /// How long the server waits for the client's close frame after sending its own.
    static let closeHandshakeTimeout = 5.0
}
