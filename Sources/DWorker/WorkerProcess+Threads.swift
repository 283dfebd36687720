internal import DHTTP1
internal import DIPC
internal import DPosix
internal import DWSGI

/// `--threads N` (N > 1): the worker's WSGI calls run on N Python threads while the loop, the
/// parsing, the bodies, static files and WebSockets stay on the main thread. A request whose
/// head and body are complete takes a free thread or waits for one in arrival order
/// (`ThreadAssignments`); the thread keeps it until its response ends. The scoreboard shows the
/// master since when no thread has been free (it then hands this worker nothing new after a
/// moment), and each thread's time in the application, for --timeout.
extension WorkerProcess {
    /// Starts the threads (GIL held), and the loop's inbox (also for WebSocket calls made on
    /// threads the application starts, with or without --threads); false when they cannot be
    /// started.
    func startRequestThreads() -> Bool {
        let count = config.threads
        do {
            let inbox = try LoopInbox(loop: loop) { [unowned self] in
                // A WebSocket send made on another thread queued output.
                if !self.dirty.isEmpty { self.flushDirty() }
            }
            self.inbox = inbox
            runtime.loopPost = { inbox.post($0) }
            guard count > 1 else { return true }
            threads = try RequestThreads(runtime: runtime, count: count) { inbox.post($0) }
        } catch {
            log("cannot start \(count) request threads: \(error)")
            return false
        }
        assignments = ThreadAssignments(threads: count)
        return true
    }

    /// `connection`'s request is ready for the application: on a free thread now, or when one
    /// is free.
    func requestThread(for connection: Connection) {
        if let thread = assignments.request(connection, now: MonotonicClock.nanoseconds()) {
            connection.startApplication(on: thread)
        }
        publishThreads()
    }

    /// `thread`'s request ended: the next waiting request takes it.
    func releaseThread(_ thread: Int) {
        if let next = assignments.release(thread) { next.startApplication(on: thread) }
        publishThreads()
        stopIfDone()
    }

    /// The master reads the slot's busySince as "no thread free since".
    func publishThreads() {
        let since = assignments.allBusySince
        if scoreboard.busySince(config.slot) != since { scoreboard.setBusySince(config.slot, since) }
    }

    /// A job of the request whose head is `head` in `buffer` begins on `thread`: its time in the
    /// application is published (and its request line, with --timeout).
    func threadEntered(_ thread: Int, head: RequestHead, buffer: UnsafeRawBufferPointer) {
        let row = scoreboard.thread(thread, of: config.slot)
        if timesRequests {
            scoreboard.setRequest(
                row, method: UnsafeRawBufferPointer(rebasing: buffer[head.method]),
                target: UnsafeRawBufferPointer(rebasing: buffer[head.target]))
        }
        scoreboard.setBusySince(row, MonotonicClock.nanoseconds())
    }

    func threadLeft(_ thread: Int) {
        scoreboard.setBusySince(scoreboard.thread(thread, of: config.slot), 0)
    }
}
