internal import DCompression
internal import DEventLoop
internal import DHTTP1
internal import DIPC
internal import DPosix
internal import DWSGI
internal import DWebSocket

/// The WebSocket side of a connection after (and while asking for) the handshake: the
/// protocol session, the messages waiting for the handler, the handler's waits, and keepalive
/// pings. The Connection feeds it bytes and sends what it queues.
final class WebSocketChannel: WebSocketEndpoint {
    unowned let connection: Connection
    /// The client's offer; emptied once answered (a browser's is a few hundred bytes).
    var handshake: WebSocketHandshake
    var session: WebSocketSession
    private(set) var isUpgraded = false
    /// The TCP connection is gone, or the close handshake is over.
    var isFinished = false {
        // Open WebSockets (--stats): one less once an upgraded one ends; it leaves its channels;
        // the connection's own zlib streams go with it.
        didSet {
            guard isFinished && !oldValue else { return }
            if isUpgraded { scoreboard.addWebSocketsOpen(slot, -1) }
            if !channelNames.isEmpty { hub.left(self) }
            compressor = nil
            decompressor = nil
        }
    }
    /// dispatchd.channels it subscribes to (WebSocketChannel+Channels).
    var channelNames: Set<String> = []
    unowned let hub: ChannelHub
    var inbox: [(binary: Bool, payload: [UInt8])] = []
    var inboxStart = 0
    var inboxBytes = 0
    var receiveWaiter: (task: PythonTask, timer: Watcher?)? = nil
    /// While a close waits for the handler (`waitForHandler`).
    var closeTimer: Watcher? = nil
    var drainWaiters: [PythonTask] = []
    var awaitingPong = false
    /// The connection is queued for its output to be written when handler code returns.
    var flushQueued = false
    /// permessage-deflate, when negotiated; with context takeover, the connection's own zlib
    /// streams, each made for the first message that needs it (an idle connection keeps none);
    /// otherwise the worker's shared ones, reset for each message.
    var deflate: PerMessageDeflate? = nil
    var compressor: DeflateStream? = nil
    var decompressor: InflateStream? = nil
    /// With --timeout: the handshake request's `METHOD TARGET`, which names the handler's steps
    /// on the scoreboard (WorkerProcess.enterHandlerStep).
    let requestLine: [UInt8]
    /// Output above this makes senders wait; they resume below `lowWater`.
    static let highWater = 1 << 20
    static let lowWater = 256 * 1024
    /// How long a close owed to the client waits for the handler to answer earlier messages.
    static let closeDelay = 1.0
    /// Room made in the input for the rest of a frame that is arriving (at most).
    static let readAhead = 256 * 1024

    /// Where its counts go (--stats): kept, since the connection may be gone when it ends.
    let scoreboard: Scoreboard
    let slot: Int

    init(connection: Connection, handshake: WebSocketHandshake, maxMessage: Int) {
        self.connection = connection
        self.scoreboard = connection.worker.scoreboard
        self.slot = connection.worker.config.slot
        self.hub = connection.worker.channels
        self.handshake = handshake
        self.session = WebSocketSession(maxMessage: maxMessage)
        if connection.worker.timesRequests {
            // The connection's current head is the handshake's (ranges from `start`).
            let buffer = connection.input.bytes(connection.start..<connection.input.count)
            let head = connection.head
            requestLine = Array(buffer[head.method]) + [0x20] + Array(buffer[head.target])
        } else {
            requestLine = []
        }
    }

    var worker: WorkerProcess { connection.worker }

    // MARK: - WebSocketEndpoint (called from handler code, GIL held)

    func acceptHandshake(subprotocol: String?) -> String? {
        guard !isUpgraded else { return "the WebSocket handshake was answered already" }
        if let subprotocol, !handshake.protocols.contains(subprotocol) {
            return
                "the client did not offer the subprotocol '\(subprotocol)' (it offered: \(handshake.protocols.joined(separator: ", ")))"
        }
        if let d = PerMessageDeflate.negotiate(handshake.extensions, memory: worker.config.webSocketDeflateMemory) {
            deflate = d
            session = WebSocketSession(maxMessage: session.maxMessage, compression: true)
        }
        connection.output.bytes.append(
            contentsOf: handshake.response(subprotocol: subprotocol, extensions: deflate?.response))
        (handshake.key, handshake.protocols, handshake.extensions) = ("", [], [])
        isUpgraded = true
        scoreboard.addWebSocketsOpen(slot, 1)
        connection.sendSoon()
        return nil
    }

    /// Sends are taken: open, or closing while the handler answers earlier messages.
    var isConnected: Bool { isUpgraded && !isFinished && (session.state == .open || session.state == .closing) }

    func receiveNow() -> WebSocketReceive {
        if inboxStart < inbox.count {
            let m = inbox[inboxStart]
            inbox[inboxStart].payload = []
            inboxStart += 1
            inboxBytes -= m.payload.count
            if inboxStart == inbox.count {
                inbox.removeAll()  // an idle connection keeps no array
                inboxStart = 0
            }
            connection.inboxDrained()
            return .message(binary: m.binary, payload: m.payload)
        }
        // The handler has finished with every message it was given: a close that waited goes.
        let actions = session.applicationWaiting()
        if !actions.isEmpty {
            apply(actions)
            connection.sendSoon()
        }
        return isConnected ? .nothing : .closed
    }

    func send(_ payload: UnsafeRawBufferPointer, binary: Bool) -> Bool {
        guard isConnected else { return false }
        if let deflate, payload.count >= deflate.compressMinimum {
            let compressed: [UInt8]
            if deflate.serverTakeover {
                let own =
                    compressor ?? DeflateStream(windowBits: deflate.serverWindowBits, memLevel: deflate.serverMemLevel)
                compressor = own
                compressed = own.compress(payload)
            } else {
                compressed = worker.deflate.compress(payload, windowBits: deflate.serverWindowBits)
            }
            compressed.withUnsafeBytes {
                WebSocketFrame.append(
                    to: &connection.output.bytes, opcode: binary ? .binary : .text, payload: $0, rsv1: true)
            }
        } else {
            WebSocketFrame.append(to: &connection.output.bytes, opcode: binary ? .binary : .text, payload: payload)
        }
        scoreboard.addMessages(slot, sent: 1)
        connection.sendSoon()
        return true
    }

    var isBacklogged: Bool { isConnected && connection.unsentCount > Self.highWater }

    func close(code: UInt16, reason: String) {
        apply(session.close(code: code, reason: reason))
        connection.sendSoon()
    }

    func wait(_ task: PythonTask, for what: TaskWait, timeout: Double?) {
        switch what {
        case .message:
            if inboxStart < inbox.count || !isConnected {
                worker.tasks.schedule(task, true)
                return
            }
            var timer: Watcher? = nil
            if let timeout {
                let t = Watcher(loop: worker.loop, kind: .timer, persist: false) { [unowned self] _ in
                    if let w = self.receiveWaiter {
                        self.receiveWaiter = nil
                        self.worker.tasks.schedule(w.task, false)
                    }
                }
                t.arm(timeout: timeout)
                timer = t
            }
            receiveWaiter = (task, timer)
        case .drain:
            if !isBacklogged {
                worker.tasks.schedule(task, true)
            } else {
                drainWaiters.append(task)
            }
        }
    }

    // MARK: - Events from the connection

    /// Parses the frames in `bytes` (unmasking in place). Returns how many bytes were used.
    func receive(_ bytes: UnsafeMutableRawBufferPointer) -> Int {
        var used = 0
        while !isFinished && session.isReading {
            let step = session.receive(UnsafeMutableRawBufferPointer(rebasing: bytes[used...]))
            used += step.used
            if step.actions.isEmpty { break }
            apply(step.actions)
        }
        if session.state == .closing && closeTimer == nil { waitForHandler() }
        // A frame whose payload is still arriving: read it in larger pieces.
        connection.needInput(min(session.framePayloadRemaining, Self.readAhead))
        return session.isReading ? used : bytes.count  // after the close, nothing more is read
    }

    /// A close is owed to the client (its own echoed, or a protocol error's) while the handler
    /// had not finished with a message: it waits until the handler asks for its next message,
    /// closes or ends, for at most `closeDelay` seconds, so that its answers go first.
    func waitForHandler() {
        let timer = Watcher(loop: worker.loop, kind: .timer, persist: false) { [unowned self] _ in
            self.closeTimer = nil
            guard !self.isFinished else { return }
            self.apply(self.session.sendOwedClose())
            self.connection.finishWebSocketBatch()
        }
        timer.arm(timeout: Self.closeDelay)
        closeTimer = timer
    }

    func apply(_ actions: [WebSocketSession.Action]) {
        for action in actions {
            switch action {
            case .message(let binary, let payload):
                scoreboard.addMessages(slot, received: 1)
                inbox.append((binary, payload))
                inboxBytes += payload.count
                wakeReceiver(true)
            case .send(let opcode, let payload):
                payload.withUnsafeBytes {
                    WebSocketFrame.append(to: &connection.output.bytes, opcode: opcode, payload: $0)
                }
            case .compressedMessage(let binary, let payload):
                do {
                    let plain: [UInt8]
                    if let deflate, deflate.clientTakeover {
                        let own = decompressor ?? InflateStream(windowBits: deflate.clientWindowBits)
                        decompressor = own
                        plain = try own.decompress(payload, limit: session.maxMessage)
                    } else {
                        plain = try worker.deflate.decompress(payload, limit: session.maxMessage)
                    }
                    apply(session.checkDecompressed(binary: binary, payload: plain))
                } catch .tooLarge {
                    apply(session.fail(1009, "message over \(session.maxMessage) bytes once decompressed"))
                } catch {
                    apply(session.fail(1007, "a compressed message that does not decompress"))
                }
            case .pongReceived:
                awaitingPong = false
            case .closeConnection:
                // Emitted once per session, when it closes: say so if the peer broke the rules.
                if let failure = session.failure {
                    worker.log(
                        "WebSocket protocol error from \(connection.clientAddress): \(failure.reason) (closing with \(failure.code))"
                    )
                }
                isFinished = true
            }
        }
        if session.state != .open { wakeAll() }
        if session.state == .closed, let timer = closeTimer {
            timer.disarm()
            closeTimer = nil
        }
    }

    func wakeReceiver(_ value: Bool) {
        guard let w = receiveWaiter else { return }
        receiveWaiter = nil
        w.timer?.disarm()
        worker.tasks.schedule(w.task, value)
    }

    /// Output drained below the low-water mark (or the connection ended): senders continue.
    func drained() {
        guard !drainWaiters.isEmpty, isFinished || connection.unsentCount < Self.lowWater else { return }
        for t in drainWaiters { worker.tasks.schedule(t, true) }
        drainWaiters.removeAll()
    }

    /// Everyone waiting learns that the connection is closing.
    func wakeAll() {
        wakeReceiver(true)
        for t in drainWaiters { worker.tasks.schedule(t, true) }
        drainWaiters.removeAll()
    }

    /// The TCP connection is gone: from here on nothing touches `connection`.
    func connectionLost() {
        isFinished = true
        receiveWaiter?.timer?.disarm()
        closeTimer?.disarm()
        closeTimer = nil
        wakeAll()
    }

    /// The handler returned (or raised): close the WebSocket if it is still open.
    func handlerEnded(failed: Bool) {
        // After the connection is gone (or closed), there is nothing left to close.
        guard !isFinished else { return }
        // (While a close owed to the client waits for the handler, that one goes.)
        apply(session.close(code: failed ? 1011 : 1000, reason: failed ? "handler error" : ""))
        connection.sendSoon()
    }

    /// The keepalive timer: ping, or give up on a peer that did not answer the last ping.
    /// False when the connection must close.
    func keepaliveTick() -> Bool {
        if session.state != .open { return false }  // the peer never finished the close handshake
        if awaitingPong {
            worker.log(
                "WebSocket client \(connection.clientAddress) did not answer a ping within \(Int(worker.config.webSocketPingTimeout)) s; closing"
            )
            return false
        }
        awaitingPong = true
        let payload: [UInt8] = Array("dispatchd".utf8)
        payload.withUnsafeBytes { WebSocketFrame.append(to: &connection.output.bytes, opcode: .ping, payload: $0) }
        return true
    }
}
