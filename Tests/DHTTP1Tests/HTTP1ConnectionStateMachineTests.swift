import DHTTP1
import Testing

@Suite struct HTTP1ConnectionStateMachineTests {
    typealias Machine = HTTP1ConnectionStateMachine
    static let timeouts = Machine.Timeouts(keepAlive: 75, header: 10, body: 30, write: 30, linger: 2)
    static let second: UInt64 = 1_000_000_000

    func machine() -> Machine { Machine(timeouts: Self.timeouts) }

    /// `#expect` cannot take a mutating call: the events are checked through this.
    func check<T: Equatable>(_ value: T, _ expected: T, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(value == expected, sourceLocation: sourceLocation)
    }

    /// An idle connection waits for the keep-alive timeout (a new one, before its first request,
    /// only the header timeout), and closes quietly when it ends.
    @Test func idleConnectionWaitsForKeepAliveThenCloses() {
        var m = machine()
        check(m.next(outputPending: false, partialHead: false, now: 0), .read(timeout: 10))
        check(m.receivedHead(keepAlive: true, hasBody: false), true)
        check(m.respondedCompletely(keepAlive: true, unreadInput: false), true)
        check(m.next(outputPending: false, partialHead: false, now: 0), .read(timeout: 75))
        check(m.readTimedOut(now: 75 * Self.second), .close)
        #expect(m.state == .idle, "only the glue's close ends the connection")
        m.connectionEnded()
        #expect(m.state == .closed)
        check(m.next(outputPending: false, partialHead: false, now: 0), .nothing)
    }

    /// The head is due a fixed time after its first byte: bytes trickling in do not extend it,
    /// and a timer that fires early (bytes arrived meanwhile) only waits for the rest.
    @Test func headDeadlineCountsFromTheFirstByte() {
        var m = machine()
        check(m.next(outputPending: false, partialHead: true, now: 5 * Self.second), .read(timeout: 10))
        #expect(m.state == .head(deadline: 15 * Self.second))
        check(m.next(outputPending: false, partialHead: true, now: 12 * Self.second), .read(timeout: 3))
        check(m.readTimedOut(now: 14 * Self.second), .wait)
        check(m.readTimedOut(now: 15 * Self.second), .refuse(HTTPError(408, "request head timeout")))
        #expect(m.state == .closing(linger: true))
    }

    /// A request with a body: the body is awaited with the body timeout, then the request is
    /// answered; a keep-alive response returns the connection to idle.
    /// --threads: while a request thread has the request the connection waits for nothing (no
    /// read, no write, whatever output is pending: the thread owns it); a drain leaves it be;
    /// back from the thread it responds as usual.
    @Test func requestOnAThread() {
        var m = machine()
        check(m.receivedHead(keepAlive: true, hasBody: false), true)
        m.applicationStarted()
        check(m.next(outputPending: true, partialHead: true, now: 0), .application)
        check(m.drain(.handOver), .wait)
        check(m.next(outputPending: false, partialHead: false, now: 0), .application)
        m.applicationReturned()
        check(m.next(outputPending: true, partialHead: false, now: 0), .write(timeout: 30))
        check(m.next(outputPending: false, partialHead: false, now: 0), .continueResponse)
        m.applicationStarted()
        m.applicationReturned()
        check(m.respondedCompletely(keepAlive: true, unreadInput: false), true)
        check(m.next(outputPending: false, partialHead: false, now: 0), .handOver)
    }

    @Test func requestWithBodyThenKeepAlive() {
        var m = machine()
        check(m.receivedHead(keepAlive: true, hasBody: true), true)
        check(m.next(outputPending: false, partialHead: false, now: 0), .read(timeout: 30))
        m.receivedBody()
        #expect(m.state == .responding(keepAlive: true))
        check(m.respondedCompletely(keepAlive: true, unreadInput: false), true)
        #expect(m.state == .idle)
        check(m.next(outputPending: true, partialHead: false, now: 0), .write(timeout: 30))
        check(m.next(outputPending: false, partialHead: false, now: 0), .read(timeout: 75))
    }

    /// A body that stops arriving gets 408 and the connection closes after it, lingering.
    @Test func stalledBodyIsRefused() {
        var m = machine()
        _ = m.receivedHead(keepAlive: true, hasBody: true)
        check(m.readTimedOut(now: 0), .refuse(HTTPError(408, "request body timeout")))
        check(m.next(outputPending: true, partialHead: false, now: 0), .write(timeout: 30))
        check(m.next(outputPending: false, partialHead: false, now: Self.second), .linger(timeout: 2))
        #expect(m.state == .lingering(deadline: 3 * Self.second))
        check(m.readTimedOut(now: 2 * Self.second), .wait)
        check(m.next(outputPending: false, partialHead: false, now: 2 * Self.second), .read(timeout: 1))
        check(m.readTimedOut(now: 3 * Self.second), .close)
    }

    /// A response still being produced waits for the output to drain, then continues; the
    /// application's choice to close (or HTTP/1.0 without keep-alive) closes after it, without
    /// lingering when nothing unread is buffered and with it when something is.
    @Test func streamingResponseThenClose() {
        var m = machine()
        check(m.receivedHead(keepAlive: true, hasBody: false), true)
        check(m.next(outputPending: true, partialHead: false, now: 0), .write(timeout: 30))
        check(m.next(outputPending: false, partialHead: false, now: 0), .continueResponse)
        check(m.respondedCompletely(keepAlive: false, unreadInput: false), false)
        check(m.next(outputPending: false, partialHead: false, now: 0), .close)

        var n = machine()
        check(n.receivedHead(keepAlive: false, hasBody: false), false)
        check(n.respondedCompletely(keepAlive: true, unreadInput: true), false)
        #expect(n.state == .closing(linger: true))
    }

    /// A refused head closes the connection after the error, lingering.
    @Test func refusedRequestCloses() {
        var m = machine()
        _ = m.next(outputPending: false, partialHead: true, now: 0)
        m.refused()
        check(m.next(outputPending: true, partialHead: false, now: 0), .write(timeout: 30))
        check(m.next(outputPending: false, partialHead: false, now: 0), .linger(timeout: 2))
    }

    /// A shutdown drain: an idle keep-alive connection waits briefly (drainIdle) for one more
    /// request, answered with `Connection: close`; a request under way finishes with a response
    /// that does not keep the connection; a new one waits for its first request as usual.
    @Test func shutdownDrain() {
        var idle = machine()
        check(idle.receivedHead(keepAlive: true, hasBody: false), true)
        check(idle.respondedCompletely(keepAlive: true, unreadInput: false), true)
        check(idle.drain(.shutdown), .wait)
        check(idle.next(outputPending: false, partialHead: false, now: 0), .read(timeout: 2))
        check(idle.receivedHead(keepAlive: true, hasBody: false), false)
        check(idle.respondedCompletely(keepAlive: true, unreadInput: false), false)
        check(idle.next(outputPending: false, partialHead: false, now: 0), .close)

        var quiet = machine()
        check(quiet.receivedHead(keepAlive: true, hasBody: false), true)
        check(quiet.respondedCompletely(keepAlive: true, unreadInput: false), true)
        check(quiet.drain(.shutdown), .wait)
        check(quiet.readTimedOut(now: 0), .close)

        var busy = machine()
        check(busy.receivedHead(keepAlive: true, hasBody: false), true)
        check(busy.drain(.shutdown), .wait)
        check(busy.respondedCompletely(keepAlive: true, unreadInput: false), false)
        check(busy.next(outputPending: false, partialHead: false, now: 0), .close)

        var fresh = machine()
        check(fresh.drain(.shutdown), .wait)
        check(fresh.next(outputPending: false, partialHead: false, now: 0), .read(timeout: 10))
    }

    /// A retirement (hand-over drain): an idle connection goes to another worker at once; a
    /// request under way is answered with keep-alive, then the connection is handed over; one
    /// with part of its next request buffered is answered first.
    @Test func handOverDrain() {
        var idle = machine()
        check(idle.drain(.handOver), .handOver)

        var busy = machine()
        check(busy.receivedHead(keepAlive: true, hasBody: false), true)
        check(busy.drain(.handOver), .wait)
        check(busy.respondedCompletely(keepAlive: true, unreadInput: false), true)
        check(busy.next(outputPending: true, partialHead: false, now: 0), .write(timeout: 30))
        check(busy.next(outputPending: false, partialHead: true, now: 0), .read(timeout: 10))
        check(busy.receivedHead(keepAlive: true, hasBody: false), true)
        check(busy.respondedCompletely(keepAlive: true, unreadInput: false), true)
        check(busy.next(outputPending: false, partialHead: false, now: 0), .handOver)

        // One handed over arrives kept alive: it waits with the keep-alive timeout.
        var kept = Machine(timeouts: Self.timeouts, keptAlive: true)
        check(kept.next(outputPending: false, partialHead: false, now: 0), .read(timeout: 75))
    }

    /// A replaced worker's TLS connection cannot move: it gets at most one more response, with
    /// `Connection: close`, an idle one waits `drainIdle` for it, and its WebSocket runs on.
    @Test func retireInPlaceDrain() {
        var idle = machine()
        check(idle.receivedHead(keepAlive: true, hasBody: false), true)
        check(idle.respondedCompletely(keepAlive: true, unreadInput: false), true)
        check(idle.drain(.retireInPlace), .wait)
        check(idle.next(outputPending: false, partialHead: false, now: 0), .read(timeout: 2))
        check(idle.receivedHead(keepAlive: true, hasBody: false), false)
        check(idle.respondedCompletely(keepAlive: true, unreadInput: false), false)
        check(idle.next(outputPending: false, partialHead: false, now: 0), .close)

        var busy = machine()
        check(busy.receivedHead(keepAlive: true, hasBody: false), true)
        check(busy.drain(.retireInPlace), .wait)
        check(busy.respondedCompletely(keepAlive: true, unreadInput: false), false)
        check(busy.next(outputPending: false, partialHead: false, now: 0), .close)

        var ws = machine()
        check(ws.receivedHead(keepAlive: true, hasBody: false), true)
        ws.upgraded()
        check(ws.drain(.retireInPlace), .keepWebSocket)
    }

    /// A WebSocket: its own rules decide what to wait for; a drain asks it to close with
    /// 1001; once it is finished, the connection closes after its last frames.
    @Test func webSocket() {
        var m = machine()
        _ = m.receivedHead(keepAlive: false, hasBody: false)
        m.upgraded()
        check(m.next(outputPending: true, partialHead: false, now: 0), .webSocket)
        check(m.drain(.handOver), .keepWebSocket)
        check(m.drain(.shutdown), .closeWebSocket)
        m.webSocketFinished()
        check(m.next(outputPending: false, partialHead: false, now: 0), .linger(timeout: 2))
    }

    /// The client's close ends everything.
    @Test func connectionEnded() {
        var m = machine()
        _ = m.receivedHead(keepAlive: true, hasBody: true)
        m.connectionEnded()
        #expect(m.state == .closed)
        check(m.next(outputPending: true, partialHead: true, now: 0), .nothing)
    }
}
