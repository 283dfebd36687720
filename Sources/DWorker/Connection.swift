internal import DEventLoop
internal import DHTTP1
internal import DPosix
internal import DTLS
internal import DWSGI

/// One client connection in a worker: the glue between its socket, its event-loop watchers and
/// the decisions of `HTTP1ConnectionStateMachine`. Reads and parses requests, answers each in
/// order (pipelining), writes the responses, and keeps the connection or closes it as the state
/// machine says. Nothing here waits on the client while Python runs: a body is received on the
/// loop before the application is called (`RequestBody`), and a response is driven from the
/// loop one step at a time as the client takes the bytes.
///
/// Requests: `Connection+Request`; output and sendfile: `Connection+Output`; static files:
/// `Connection+Static`; WebSockets: `Connection+WebSocket`.
final class Connection {
    let fd: OwnedFD
    /// The worker lives as long as the process: unowned(unsafe), no reference counting on the
    /// many accesses a request makes (about 650 instructions a request, callgrind).
    unowned(unsafe) let worker: WorkerProcess
    /// The connection's addresses. A `let`: passed to the application with no copy (a `var`
    /// cost two retains and releases per request); a PROXY header's are in `proxied`.
    let info: WSGIConnectionInfo
    /// --proxy-protocol: the addresses its header gave, which replace `info`'s.
    @exclusivity(unchecked) var proxied: WSGIConnectionInfo? = nil
    /// The client's address, for the logs.
    var clientAddress: String { proxied?.remoteAddr ?? info.remoteAddr }
    /// The listener it came in on, for handing it to another worker (the client's address is
    /// asked of the socket then: kept here, it would make every connection larger).
    let listener: Int
    /// Allocated when bytes arrive, given back when the connection is idle; grows for large
    /// heads and bodies.
    let input = InputBuffer()
    /// Reserved by the first request, kept between requests; an idle WebSocket gives it back.
    let output = OutputBuffer()

    // The per-request state below is touched only by this connection's own methods, on its
    // worker's one event-loop thread; the compiler still checks exclusive access statically.
    // The run-time check is turned off for it: it cost about 25 checks and 1,900 instructions
    // per keep-alive request (valgrind, hello world), 8% of the whole.

    /// How much of `output` has been written.
    @exclusivity(unchecked) var outputSent = 0
    @exclusivity(unchecked) var machine: HTTP1ConnectionStateMachine
    @exclusivity(unchecked) var parser: RequestHeadParser
    @exclusivity(unchecked) var head = RequestHead()
    /// Offset in `input` of the current request (between requests: of the next one).
    @exclusivity(unchecked) var start = 0
    /// The last plain read filled all the free space: more may be waiting in the socket.
    @exclusivity(unchecked) var lastReadFilled = false
    /// The request being received or answered, from its head to the end of its response.
    @exclusivity(unchecked) var request = InFlight()
    /// Set for a request with a valid WebSocket handshake; the connection is a WebSocket once
    /// the application answered it.
    @exclusivity(unchecked) var webSocket: WebSocketChannel? = nil
    /// An HTTPS listener's connection: its TLS session, through which every byte goes
    /// (Connection+TLS); nil for plain HTTP (and once a plain-HTTP request on the TLS port is
    /// answered in plain text).
    @exclusivity(unchecked) var tls: TLSSession? = nil
    /// A uwsgi-protocol listener's connection (one request, from a front server such as
    /// nginx's uwsgi_pass): its packet's vars, once it has arrived (Connection+UWSGI).
    let speaksUWSGI: Bool
    @exclusivity(unchecked) var gatewayVars: [UWSGIPacket.Request.Var]? = nil
    /// --proxy-protocol: the header has not all arrived yet (its bytes so far are in `input`).
    @exclusivity(unchecked) var awaitingProxyHeader: Bool
    @exclusivity(unchecked) var readWatcher: Watcher! = nil
    /// Where bytes read and written are counted (--stats; the worker's scoreboard slot).
    let bytesIn: SharedMemory.Counter
    let bytesOut: SharedMemory.Counter
    /// The worker's X-Request-ID prefix (`RequestID`), kept here: the environ asks per request.
    let requestIDPrefix: UInt64
    /// Made when output first cannot be written at once (most connections never need it).
    @exclusivity(unchecked) var writeWatcher: Watcher? = nil

    /// `keptAlive`: an idle keep-alive connection another worker handed over.
    init(
        fd: consuming OwnedFD, worker: WorkerProcess, info: WSGIConnectionInfo, listener: Int,
        keptAlive: Bool
    ) {
        let raw = fd.raw
        self.fd = fd
        self.worker = worker
        self.info = info
        self.listener = listener
        (bytesIn, bytesOut) = worker.bytesCounters
        requestIDPrefix = worker.requestIDPrefix
        // The worker's settings made once (copying its whole configuration here cost ~450
        // instructions a connection in retains and releases).
        machine = HTTP1ConnectionStateMachine(timeouts: worker.connectionTimeouts, keptAlive: keptAlive)
        parser = RequestHeadParser(limits: worker.config.limits)
        speaksUWSGI = worker.uwsgiListeners[listener]
        awaitingProxyHeader = worker.proxyProtocol && !keptAlive
        if let context = worker.tlsContexts[listener] { tls = context.session(fd: raw) }
        readWatcher = Watcher(loop: worker.loop, kind: .read(raw), persist: true) { [unowned self] what in
            self.onReadable(what)
        }
    }

    var isClosed: Bool {
        if case .closed = machine.state { return true }
        return false
    }

    // MARK: - Events from the loop

    func onReadable(_ what: Readiness) {
        if case .inApplication = machine.state {
            // A request thread has the input: what the client sends waits until it returns.
            readWatcher.disarm()
            return
        }
        if what.contains(.timeout) {
            onReadTimeout()
            return
        }
        if awaitingProxyHeader {
            guard readProxyHeader() else { return }
        }
        switch readSome() {
        case .data:
            if case .lingering = machine.state {
                // What the client still sends after the last response is dropped; the wait goes
                // on only until the lingering deadline (a watcher's timeout restarts when it
                // fires, so it is set again to the time left).
                input.count = 0
                finishBatch()
                return
            }
            process()
        case .wouldBlock:
            // Nothing was waiting after all (a new connection is read before it is watched), or
            // a TLS handshake goes on: its deadline is the request head's, from its first byte.
            if !readWatcher.isArmed || tls?.handshakeDone == false { finishBatch() }
        case .eof, .error:
            // The client is done: it cannot read anything more we say.
            close()
        }
    }

    func onWritable(_ what: Readiness) {
        if what.contains(.timeout) {
            worker.log(
                "client \(clientAddress) did not read its response for \(Int(worker.config.writeTimeout)) s; connection closed"
            )
            close()
            return
        }
        if case .upgraded = machine.state {
            webSocketWritable()
            return
        }
        finishBatch()
    }

    func onReadTimeout() {
        if tls?.handshakeDone == false || awaitingProxyHeader {
            // A handshake that did not finish within the header timeout: nothing to answer.
            close()
            return
        }
        if case .upgraded = machine.state {
            webSocketTimeout()
            return
        }
        switch machine.readTimedOut(now: MonotonicClock.nanoseconds()) {
        case .close:
            close()
        case .refuse(let error):
            worker.log("client \(clientAddress): \(error.reason)")
            queueRefusal(error)
            finishBatch()
        case .wait:
            finishBatch()
        }
    }

    enum ReadOutcome { case data, wouldBlock, eof, error }

    func readSome() -> ReadOutcome {
        if let tls { return readSome(tls) }
        if input.capacity - input.count < 1024 {
            // Allocate, or grow for a large head (a head over the limit is refused by the
            // parser first).
            input.reserve(input.count + (input.capacity == 0 ? InputBuffer.initialCapacity : 16 * 1024))
        }
        do {
            let space = input.capacity - input.count
            switch try Posix.read(fd.raw, input.freeSpace) {
            case .done(0): return .eof
            case .done(let n):
                lastReadFilled = n == space
                input.count += n
                bytesIn.add(n)
                return .data
            case .wouldBlock:
                lastReadFilled = false
                return .wouldBlock
            }
        } catch {
            return .error
        }
    }

    // MARK: - The work

    /// Works through what is buffered: a WebSocket's frames, the body being received, and every
    /// complete request in order, until a response is still in progress or more input is
    /// needed; then writes and waits.
    func process() {
        loop: while true {
            switch machine.state {
            case .upgraded:
                processWebSocket()
                return
            case .body:
                guard receiveBody() else { break loop }
            case .idle, .head:
                guard parseHead() else { break loop }
            case .responding, .inApplication, .closing, .lingering, .closed:
                break loop
            }
        }
        finishBatch()
        // The application may have sent to WebSocket connections (a broadcast from an ordinary
        // request).
        if !worker.dirty.isEmpty { worker.flushDirty() }
    }

    /// After a batch of work: write what the socket takes, then wait as the state machine says.
    func finishBatch() {
        guard !isClosed else { return }
        // A request thread has the input and output (its watchers are off): nothing to do.
        if case .inApplication = machine.state { return }
        // Between requests, what was answered leaves the buffer (a request in progress keeps
        // its offsets).
        switch machine.state {
        case .body, .responding: break
        default:
            if start > 0 {
                input.removePrefix(start)
                start = 0
            }
        }
        let flushed = flushSome()
        guard !isClosed else { return }  // the write failed: the client is gone
        let next = machine.next(
            outputPending: !flushed,
            partialHead: start < input.count || tls?.handshakeDone == false || awaitingProxyHeader,
            now: MonotonicClock.nanoseconds())
        switch next {
        case .read(let timeout):
            writeWatcher?.disarm()
            if input.count == 0 { input.release() }
            readWatcher.arm(timeout: timeout)
        case .write(let timeout):
            // Reading waits too: a pipelined request is not parsed while output is owed.
            readWatcher.disarm()
            armWriteWatcher(timeout: timeout)
        case .continueResponse:
            continueResponse()
        case .linger(let timeout):
            writeWatcher?.disarm()
            tls?.shutdown()
            Socket.shutdownWrite(fd.raw)
            input.count = 0
            readWatcher.arm(timeout: timeout)
        case .close:
            close()
        case .webSocket:
            finishWebSocketBatch()
        case .handOver:
            worker.handOver(self)
        case .application, .nothing:
            break
        }
    }

    /// Closes the connection: the watchers stop, a response still in progress is abandoned (its
    /// iterable's close() runs and it is logged), and the worker forgets it.
    func close() {
        guard !isClosed else { return }
        machine.connectionEnded()
        tls?.shutdown()
        webSocket?.connectionLost()
        readWatcher.disarm()
        writeWatcher?.disarm()
        abandonRequest()
        worker.connectionClosed(self)
    }

    /// The worker lets its connections go (`kind`): an idle one is handed to another worker
    /// (a retirement) or waits briefly for one more request (a shutdown); a request under way
    /// is answered first; a WebSocket closes with 1001 (a shutdown) or runs on (a retirement).
    func drain(_ kind: HTTP1ConnectionStateMachine.Drain) {
        // A TLS session cannot move to another process.
        switch machine.drain(kind == .handOver && tls != nil ? .retireInPlace : kind) {
        case .handOver:
            worker.handOver(self)
        case .closeWebSocket:
            webSocket?.close(code: 1001, reason: "server shutting down")
            finishWebSocketBatch()
        case .keepWebSocket:
            break
        case .wait:
            // An idle one waits now with the drain's timeout.
            if case .idle = machine.state { finishBatch() }
        }
    }

    /// Waits for the client to take more output, for at most `timeout` seconds.
    func armWriteWatcher(timeout: Double) {
        if writeWatcher == nil {
            writeWatcher = Watcher(loop: worker.loop, kind: .write(fd.raw), persist: true) { [unowned self] what in
                self.onWritable(what)
            }
        }
        writeWatcher!.arm(timeout: timeout)
    }
}
