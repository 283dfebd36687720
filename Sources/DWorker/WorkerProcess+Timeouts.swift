internal import DEventLoop
internal import DHTTP1
internal import DIPC
internal import DPosix
internal import DWSGI

/// --timeout in the worker: the master watches `busySince` on the scoreboard and signals a
/// request that runs too long (Supervisor+Timeouts). The worker names each request there for the
/// master's log, and handles the signal (PythonRuntime+Timeout): its stacks, then an exception in
/// the request if it is still the one that ran too long.
extension WorkerProcess {
    /// The handler of the master's signal, when --timeout is set (GIL held). False when it
    /// cannot be installed: the worker must not run, as a signal would then end it.
    func startRequestTimeouts() -> Bool {
        guard let timeout = config.requestTimeout else { return true }
        let nanoseconds = UInt64(timeout * 1e9)
        let slot = config.slot
        let scoreboard = self.scoreboard
        let loopRow = self.loopRow
        do {
            let replaced = try runtime.installRequestTimeout(signal: Posix.SIGUSR2, seconds: timeout) {
                // The request the master found past the timeout, if the worker is still in it;
                // a later one that is past it as well deserves the exception just the same.
                let since = loopRow.map { scoreboard.busySince($0) } ?? scoreboard.busySince(slot)
                let now = MonotonicClock.nanoseconds()
                guard since != 0, now > since, now - since >= nanoseconds else { return nil }
                return Double(now - since) / 1e9
            }
            if replaced { log("--timeout replaces the application's handler of SIGUSR2", level: .warning) }
            if threads != nil { try wakeOnTimeout(nanoseconds) }
            return true
        } catch {
            log("cannot handle --timeout: \(error)", level: .error)
            return false
        }
    }

    /// Entering the application for a request whose head is `head` in `buffer`: with --timeout,
    /// its `METHOD TARGET` is published first (only while busySince is 0, which is what lets the
    /// master tell a whole line from one being written).
    func enterApplication(_ now: UInt64, head: RequestHead, buffer: UnsafeRawBufferPointer) {
        if timesRequests {
            publishRequest(
                method: UnsafeRawBufferPointer(rebasing: buffer[head.method]),
                target: UnsafeRawBufferPointer(rebasing: buffer[head.target]))
        }
        enterApplication(now)
    }

    /// With --timeout, before each WebSocket handler step of a batch (GIL held): the step is
    /// timed on its own, and named after the handshake request of its connection.
    func enterHandlerStep(_ endpoint: WebSocketEndpoint?) {
        leaveApplication()
        let line = (endpoint as? WebSocketChannel)?.requestLine ?? Self.closedConnection
        Self.webSocket.withUnsafeBytes { kind in
            line.withUnsafeBytes { publishRequest(method: kind, target: $0) }
        }
        enterApplication(MonotonicClock.nanoseconds())
    }

    /// The loop thread's request line (its own row with --threads).
    func publishRequest(method: UnsafeRawBufferPointer, target: UnsafeRawBufferPointer) {
        if let loopRow {
            scoreboard.setRequest(loopRow, method: method, target: target)
        } else {
            scoreboard.setRequest(config.slot, method: method, target: target)
        }
    }

    /// --threads: the timeout signal also wakes the loop, which raises RequestTimeout in each
    /// request thread past its time (Python runs signal handlers on the main thread only).
    func wakeOnTimeout(_ timeout: UInt64) throws(SystemError) {
        let wake = try WakeUp()
        runtime.wakeOnTimeout(wake.fd.raw)
        let watcher = Watcher(loop: loop, kind: .read(wake.fd.raw), persist: true) { [unowned self] _ in
            wake.consume()
            self.interruptOverdueThreads(timeout)
        }
        watcher.arm()
        timeoutWatcher = watcher
    }

    func interruptOverdueThreads(_ timeout: UInt64) {
        guard let threads else { return }
        let now = MonotonicClock.nanoseconds()
        threads.interruptOverdue(runtime: runtime) { thread in
            let since = scoreboard.busySince(scoreboard.thread(thread, of: config.slot))
            return since != 0 && now > since && now - since >= timeout
        }
    }

    static let webSocket = Array("WebSocket".utf8)
    static let closedConnection = Array("handler (connection closed)".utf8)
}
