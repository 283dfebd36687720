/// What the master does about requests that run too long (`--timeout`, `--timeout-grace`),
/// decided from the scoreboard's readings: a worker inside the application for `timeout` is
/// interrupted, once for that request; if it is still in that same request `grace` after the
/// interruption, it is killed. A request is one value of the worker's `busySince` (a WebSocket
/// handler step too): a new value is a new request, even if the master never saw the worker
/// idle in between. Pure: pids, readings and the time are passed in, as monotonic nanoseconds.
public struct RequestTimeouts: Sendable {
    public enum Action: Equatable, Sendable {
        /// Log the request, signal the worker (its stacks, and an exception in the request).
        case interrupt(slot: Int, pid: Int32, busySince: UInt64)
        /// The interrupted request has not returned within the grace: kill the worker.
        case kill(slot: Int, pid: Int32, busySince: UInt64)
    }

    /// The request of a slot that was interrupted (and maybe killed since).
    struct Interrupted: Sendable {
        var pid: Int32
        var busySince: UInt64
        var at: UInt64
        var killed = false
    }

    public let timeout: UInt64
    public let grace: UInt64
    var interrupted: [Int: Interrupted] = [:]
    /// Workers killed here and not yet reaped, so that their exit is told apart from a crash or
    /// an out-of-memory kill.
    var killed: Set<Int32> = []

    /// `timeout` and `grace` in seconds.
    public init(timeout: Double, grace: Double) {
        self.timeout = UInt64(timeout * 1e9)
        self.grace = UInt64(grace * 1e9)
    }

    /// Seconds between checks: a tenth of the timeout, so a request is interrupted within 10% of
    /// it, but no more than 4 times a second (the usual timeouts are tens of seconds) and no
    /// less often either.
    public var interval: Double { min(0.25, max(0.01, Double(timeout) / 1e9 / 10)) }

    /// The slot's reading at `now`: its worker (nil: none) and since when that worker has been
    /// in the application (0: it is not). At most one action per request and kind.
    public mutating func check(slot: Int, pid: Int32?, busySince: UInt64, now: UInt64) -> Action? {
        guard let pid, busySince != 0 else {
            interrupted[slot] = nil
            return nil
        }
        if let record = interrupted[slot] {
            if record.pid == pid && record.busySince == busySince {
                guard !record.killed, now >= record.at &+ grace else { return nil }
                interrupted[slot]?.killed = true
                killed.insert(pid)
                return .kill(slot: slot, pid: pid, busySince: busySince)
            }
            interrupted[slot] = nil  // that request ended; this one is another
        }
        // The worker may have read the clock a moment after the master did.
        guard now > busySince, now - busySince >= timeout else { return nil }
        interrupted[slot] = Interrupted(pid: pid, busySince: busySince, at: now)
        return .interrupt(slot: slot, pid: pid, busySince: busySince)
    }

    /// A worker process exited: whether it was killed here (it is forgotten either way).
    public mutating func exited(pid: Int32) -> Bool {
        killed.remove(pid) != nil
    }
}
