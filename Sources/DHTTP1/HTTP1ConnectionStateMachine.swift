/// The server side of one HTTP/1.1 connection, as decisions: which phase it is in, what a
/// timeout, the client's close or a drain means in that phase, whether the connection stays
/// open after a response, and what to wait for next. Pure: the connection's glue does the I/O,
/// passes the time in (monotonic nanoseconds), and carries out what it is told. Only the glue's
/// close (`connectionEnded`) makes the state `.closed`: an action that says to close leaves it,
/// so the glue can tell a connection it has yet to close from one it closed.
///
/// One request at a time: pipelined requests wait in the input buffer until the response
/// before them is complete.
public struct HTTP1ConnectionStateMachine: Sendable {
    /// Seconds.
    public struct Timeouts: Sendable, Equatable {
        /// An idle keep-alive connection.
        public var keepAlive: Double
        /// A request head must be complete this long after its first byte.
        public var header: Double
        /// A request body may stop arriving for this long.
        public var body: Double
        /// The client may leave output unread for this long.
        public var write: Double
        /// After the last response of a closing connection, what the client still sends is
        /// read and dropped for at most this long, so that the close does not turn into a reset
        /// that destroys the response.
        public var linger: Double
        /// When the server stops, an idle keep-alive connection waits this long (at most its
        /// keep-alive) for one more request, answered with `Connection: close`: a client that
        /// is sending its next request as the drain begins gets its answer, not a reset.
        public var drainIdle: Double

        public init(
            keepAlive: Double, header: Double, body: Double, write: Double, linger: Double = 2, drainIdle: Double = 2
        ) {
            self.keepAlive = keepAlive
            self.header = header
            self.body = body
            self.write = write
            self.linger = linger
            self.drainIdle = drainIdle
        }
    }

    public enum State: Equatable, Sendable {
        /// Between requests: nothing of the next one has arrived.
        case idle
        /// Part of a request head has arrived; the whole head is due by `deadline`.
        case head(deadline: UInt64)
        /// The head passed its checks; the body is being received before anything answers.
        /// `keepAlive`: the response may leave the connection open.
        case body(keepAlive: Bool)
        /// The request is being answered; later requests wait.
        case responding(keepAlive: Bool)
        /// A request thread (--threads) is running the application for the request, or the
        /// request waits for one: the thread has the request's input and output until it
        /// returns, so the connection waits without reading or writing.
        case inApplication(keepAlive: Bool)
        /// The connection is a WebSocket now: its own protocol decides.
        case upgraded
        /// The last response is going out; then the connection closes (`linger`: after
        /// reading what the client still sends).
        case closing(linger: Bool)
        /// The write side is shut; what arrives is dropped until the client closes or
        /// `deadline`.
        case lingering(deadline: UInt64)
        case closed
    }

    // The events are @inlinable (with the stored state @usableFromInline): called on a property
    // of the connection's class from another module, each call would otherwise be an opaque,
    // dynamically checked exclusive access; inlined, the compiler sees the access whole.
    @usableFromInline var _state: State = .idle
    @usableFromInline var _drain: Drain? = nil
    @usableFromInline var _requests = 0

    public var state: State { _state }
    /// Why the worker is letting its connections go, if it is.
    public var drainKind: Drain? { _drain }
    /// Requests begun on this connection. Before the first, an idle connection waits only the
    /// header timeout: the keep-alive timeout is for clients that were answered.
    public var requests: Int { _requests }
    public let timeouts: Timeouts

    /// `keptAlive`: the connection was answered before, by another worker that handed it over
    /// idle: it waits for its next request with the keep-alive timeout.
    public init(timeouts: Timeouts, keptAlive: Bool = false) {
        _requests = keptAlive ? 1 : 0
        self.timeouts = timeouts
    }

    // MARK: - Requests

    /// A complete request head that passed its checks. `keepAlive`: the client allows another
    /// request after this one. Returns whether the response may offer keep-alive.
    @inlinable
    public mutating func receivedHead(keepAlive: Bool, hasBody: Bool) -> Bool {
        switch _state {
        case .idle, .head: break
        default: preconditionFailure("Internal inconsistency: a request head in state \(_state)")
        }
        let offered = keepAlive && !_drainCloses
        _state = hasBody ? .body(keepAlive: offered) : .responding(keepAlive: offered)
        _requests += 1
        return offered
    }

    /// The whole body is here: the request can be answered.
    @inlinable
    public mutating func receivedBody() {
        guard case .body(let keepAlive) = _state else {
            preconditionFailure("Internal inconsistency: a body in state \(_state)")
        }
        _state = .responding(keepAlive: keepAlive)
    }

    /// The request is refused before any application code runs (a bad head, a limit, a
    /// timeout, a body that cannot be stored): the error response is the last one, and the
    /// connection lingers after it, since unread request bytes may follow.
    @inlinable
    public mutating func refused() {
        _state = .closing(linger: true)
    }

    /// The request goes to a request thread (--threads).
    @inlinable
    public mutating func applicationStarted() {
        guard case .responding(let keepAlive) = _state else {
            preconditionFailure("Internal inconsistency: the application started in state \(_state)")
        }
        _state = .inApplication(keepAlive: keepAlive)
    }

    /// The request thread is done with the request for now (the response is complete, or has
    /// output for the client first).
    @inlinable
    public mutating func applicationReturned() {
        guard case .inApplication(let keepAlive) = _state else {
            preconditionFailure("Internal inconsistency: the application returned in state \(_state)")
        }
        _state = .responding(keepAlive: keepAlive)
    }

    /// The application took the connection as a WebSocket.
    @inlinable
    public mutating func upgraded() {
        guard case .responding = _state else {
            preconditionFailure("Internal inconsistency: an upgrade in state \(_state)")
        }
        _state = .upgraded
    }

    /// The WebSocket is over (closed by either side, or failed): close after the last frames.
    @inlinable
    public mutating func webSocketFinished() {
        guard _state == .upgraded else { return }
        _state = .closing(linger: true)
    }

    /// The current response is complete (its bytes may still be in the output buffer).
    /// `keepAlive`: the response allows another request (its framing, the application);
    /// `unreadInput`: request bytes that will not be answered are buffered (they could turn the
    /// close into a reset). True when the next request may be parsed.
    @inlinable @discardableResult
    public mutating func respondedCompletely(keepAlive: Bool, unreadInput: Bool) -> Bool {
        guard case .responding(let offered) = _state else {
            preconditionFailure("Internal inconsistency: a response completed in state \(_state)")
        }
        if offered && keepAlive && !_drainCloses {
            _state = .idle
            return true
        }
        _state = .closing(linger: unreadInput)
        return false
    }

    // MARK: - Waiting

    /// What the connection waits for after a batch of work.
    public enum Next: Equatable, Sendable {
        /// The client's next bytes, for at most `timeout` seconds.
        case read(timeout: Double)
        /// The client taking more output, for at most `timeout` seconds.
        case write(timeout: Double)
        /// The output is out: the response in progress can produce more.
        case continueResponse
        /// Shut the write side, then read (and drop) for at most `timeout` seconds.
        case linger(timeout: Double)
        /// Close now.
        case close
        /// The WebSocket's own rules decide.
        case webSocket
        /// Idle while its worker retires: give the connection to a live worker.
        case handOver
        /// A request thread has the request: nothing to wait for until it returns.
        case application
        /// The connection is closed.
        case nothing
    }

    /// Decides what to wait for. `outputPending`: output is still unsent; `partialHead`: bytes
    /// of an incomplete request head are buffered.
    @inlinable
    public mutating func next(outputPending: Bool, partialHead: Bool, now: @autoclosure () -> UInt64) -> Next {
        switch _state {
        case .closed:
            return .nothing
        case .upgraded:
            return .webSocket
        case .inApplication:
            return .application
        case .lingering(let deadline):
            return .read(timeout: Self.seconds(until: deadline, from: now()))
        case _ where outputPending:
            return .write(timeout: timeouts.write)
        case .responding:
            return .continueResponse
        case .closing(let linger):
            guard linger else { return .close }
            let deadline = now() + Self.nanoseconds(timeouts.linger)
            _state = .lingering(deadline: deadline)
            return .linger(timeout: timeouts.linger)
        case .idle:
            if partialHead {
                _state = .head(deadline: now() + Self.nanoseconds(timeouts.header))
                return .read(timeout: timeouts.header)
            }
            switch _drain {
            case .handOver?: return .handOver
            case .shutdown? where _requests > 0, .retireInPlace? where _requests > 0:
                return .read(timeout: min(timeouts.keepAlive, timeouts.drainIdle))
            default: return .read(timeout: _requests == 0 ? timeouts.header : timeouts.keepAlive)
            }
        case .head(let deadline):
            return .read(timeout: Self.seconds(until: deadline, from: now()))
        case .body:
            return .read(timeout: timeouts.body)
        }
    }

    // MARK: - Timeouts, the client's close, drains

    /// What a read timeout means.
    public enum TimeoutAction: Equatable, Sendable {
        /// Close without a word (an idle connection, the end of lingering).
        case close
        /// Answer with this error; the connection then closes (`refused` was applied).
        case refuse(HTTPError)
        /// Not due yet (bytes arrived meanwhile): wait again as `next` says.
        case wait
    }

    /// The read timer fired at `now`.
    public mutating func readTimedOut(now: UInt64) -> TimeoutAction {
        switch _state {
        case .head(let deadline):
            guard now >= deadline else { return .wait }
            _state = .closing(linger: true)
            return .refuse(HTTPError(408, "request head timeout"))
        case .body:
            _state = .closing(linger: true)
            return .refuse(HTTPError(408, "request body timeout"))
        case .lingering(let deadline) where now < deadline:
            return .wait
        default:
            return .close
        }
    }

    /// The connection is closed (the glue closed it: it was told to, the client closed it or
    /// left its output unread, or it failed). Nothing more happens on it.
    @inlinable
    public mutating func connectionEnded() {
        _state = .closed
    }

    /// Why a worker lets its connections go.
    public enum Drain: Equatable, Sendable {
        /// The server stops: each connection gets at most one more response, which says
        /// `Connection: close`; an idle one waits `drainIdle` for it; WebSockets close.
        case shutdown
        /// The worker is replaced: idle keep-alive connections go to a live worker (no close
        /// for the client to race with); the others are answered first; WebSockets run on.
        case handOver
        /// The worker is replaced, but this connection cannot move (its TLS session lives in
        /// this process): like a shutdown, at most one more response, saying `Connection:
        /// close`, and an idle one waits `drainIdle` for it; its WebSocket runs on.
        case retireInPlace
    }

    /// The drain ends the connection after its next response.
    @usableFromInline var _drainCloses: Bool { _drain == .shutdown || _drain == .retireInPlace }

    /// What a drain does to this connection.
    public enum DrainAction: Equatable, Sendable {
        /// Idle: give it to a live worker now.
        case handOver
        /// A WebSocket: close it with 1001 (going away).
        case closeWebSocket
        /// A WebSocket of a replaced worker: it runs on until it closes or the drain timeout.
        case keepWebSocket
        /// Nothing now: a request is under way (or, idle at shutdown, the connection waits for
        /// one more); `next` tells what to wait for.
        case wait
    }

    /// The worker lets its connections go (`kind`).
    public mutating func drain(_ kind: Drain) -> DrainAction {
        _drain = kind
        switch _state {
        case .idle:
            return kind == .handOver ? .handOver : .wait
        case .upgraded:
            return kind == .shutdown ? .closeWebSocket : .keepWebSocket
        default:
            return .wait
        }
    }

    @usableFromInline static func nanoseconds(_ seconds: Double) -> UInt64 { UInt64(seconds * 1e9) }

    /// Seconds left until `deadline`; a little more than none once it has passed, so the timer
    /// fires at once and the timeout is handled there.
    @usableFromInline static func seconds(until deadline: UInt64, from now: UInt64) -> Double {
        deadline > now ? Double(deadline - now) / 1e9 : 0.001
    }
}
