internal import DHTTP1
internal import DIPC
internal import DPosix
internal import DWSGI

/// `--threads N` (N > 1): the worker's WSGI calls run on N Python threads while the loop, the
/// parsing, the bodies, static files and WebSockets stay on the main thread. A request whose
/// head and body are complete takes a free thread or waits for one in arrival order
/// (`RequestThreads`); the thread keeps it until its response ends. The scoreboard shows the
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
            let scoreboard = self.scoreboard
            let slot = config.slot
            // The master reads the slot's busySince as "no thread free since".
            threads = try RequestThreads(
                runtime: runtime, count: count, post: { inbox.post($0) },
                allBusy: { scoreboard.setBusySince(slot, $0) })
        } catch {
            log("cannot start \(count) request threads: \(error)", level: .critical)
            return false
        }
        return true
    }

    /// A job of the request whose head is `head` in `buffer` begins on `thread` (called there):
    /// its time in the application is published (and its request line, with --timeout).
    func threadEntered(_ thread: Int, head: RequestHead, buffer: UnsafeRawBufferPointer) {
        let row = scoreboard.thread(thread, of: config.slot)
        if timesRequests {
            scoreboard.setRequest(
                row, method: UnsafeRawBufferPointer(rebasing: buffer[head.method]),
                target: UnsafeRawBufferPointer(rebasing: buffer[head.target]))
        }
        scoreboard.setBusySince(row, MonotonicClock.nanoseconds())
    }

    /// The job ended (called on its thread).
    func threadLeft(_ thread: Int) {
        scoreboard.setBusySince(scoreboard.thread(thread, of: config.slot), 0)
    }
}
