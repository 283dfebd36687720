internal import DIPC

/// Decides which worker gets each accepted connection, and what to do when a worker exits.
/// Pure: no descriptors, no system calls; the scoreboard's readings and the time are passed in.
///
/// A worker's room is the smaller of two limits: the window of connections handed to it and
/// not yet taken off its channel (`received`), and what its descriptors allow (its announced
/// `admissionLimit`, the value of its received counter up to which it can hold connections).
public struct WorkerPool: Sendable {
    public enum State: Equatable, Sendable {
        /// No process (before the first spawn, or waiting for a respawn).
        case empty
        /// Spawned, loading the application.
        case starting(pid: Int32)
        /// Takes connections.
        case ready(pid: Int32)
        /// Told to finish its connections and exit.
        case draining(pid: Int32)
    }

    public enum ExitAction: Equatable, Sendable {
        /// Start a new worker in `slot` after `delay` nanoseconds.
        case respawn(slot: Int, delay: UInt64)
        /// The server cannot run: stop every worker and exit with `status`.
        case fatal(reason: String, status: Int32)
        /// Every worker is gone after a shutdown.
        case shutdownComplete
        case none
    }

    struct Slot: Sendable {
        var state: State = .empty
        /// Connections handed to the current process of this slot.
        var sent: UInt64 = 0
        var startedAt: UInt64 = 0
        var failures = 0
    }

    var slots: [Slot]
    var cursor = 0
    public private(set) var shuttingDown = false
    /// Most handed-off connections a worker may have not yet taken from its channel.
    public let window: UInt64
    /// A worker inside the application for longer than this gets no new connections.
    public let stuckAfter: UInt64
    /// A worker that exits within this time of starting counts as a failure.
    public let minimumLifetime: UInt64 = 1_000_000_000
    /// Consecutive failures of one slot before the server gives up.
    public let maxFailures = 8

    public init(workers: Int, window: Int = 128, stuckAfter: UInt64 = 50_000_000) {
        slots = Array(repeating: Slot(), count: workers)
        self.window = UInt64(window)
        self.stuckAfter = stuckAfter
    }

    public var count: Int { slots.count }

    public func pid(_ slot: Int) -> Int32? {
        switch slots[slot].state {
        case .empty: nil
        case .starting(let p), .ready(let p), .draining(let p): p
        }
    }

    /// The worker in `slot` has loaded the application and takes connections.
    public func isReady(_ slot: Int) -> Bool {
        if case .ready = slots[slot].state { return true }
        return false
    }

    public func slot(ofPid pid: Int32) -> Int? { slots.indices.first { self.pid($0) == pid } }

    public mutating func spawned(slot: Int, pid: Int32, now: UInt64) {
        slots[slot].state = .starting(pid: pid)
        slots[slot].sent = 0
        slots[slot].startedAt = now
    }

    public mutating func ready(slot: Int) {
        if case .starting(let pid) = slots[slot].state { slots[slot].state = .ready(pid: pid) }
    }

    public mutating func handedOff(slot: Int, count: Int = 1) { slots[slot].sent += UInt64(count) }

    /// How many more connections `slot` may be handed now: fewer than `window` in flight, and no
    /// more than its descriptors allow.
    public func room(slot: Int, received: UInt64, admissionLimit: UInt64) -> Int {
        let sent = slots[slot].sent
        let inFlight = sent &- received
        let byWindow = inFlight >= window ? 0 : window - inFlight
        let byDescriptors = admissionLimit > sent ? admissionLimit - sent : 0
        return Int(min(byWindow, byDescriptors))
    }

    /// The worker's channel is unusable (full or gone): no more hand-offs until it reports.
    public mutating func channelFailed(slot: Int) {
        if case .ready(let pid) = slots[slot].state { slots[slot].state = .starting(pid: pid) }
    }

    /// The next worker with room, round-robin: ready, with room (`room`), and not stuck in the
    /// application. nil when none has room.
    public mutating func nextWorker(
        received: (Int) -> UInt64, admissionLimit: (Int) -> UInt64, busySince: (Int) -> UInt64,
        now: UInt64
    ) -> Int? {
        guard let i = candidate(received: received, admissionLimit: admissionLimit, busySince: busySince, now: now)
        else { return nil }
        cursor = (i + 1) % slots.count
        return i
    }

    /// The worker `nextWorker` would choose, without moving the round-robin cursor.
    public func candidate(
        received: (Int) -> UInt64, admissionLimit: (Int) -> UInt64, busySince: (Int) -> UInt64, now: UInt64
    ) -> Int? {
        guard !shuttingDown else { return nil }
        for step in 0..<slots.count {
            let i = (cursor + step) % slots.count
            guard case .ready = slots[i].state else { continue }
            if room(slot: i, received: received(i), admissionLimit: admissionLimit(i)) == 0 { continue }
            let since = busySince(i)
            if since != 0 && now > since && now - since > stuckAfter { continue }
            return i
        }
        return nil
    }

    /// Starts a graceful shutdown; returns the slots whose workers must be told to drain.
    public mutating func beginShutdown() -> [Int] {
        shuttingDown = true
        var toDrain: [Int] = []
        for i in slots.indices {
            switch slots[i].state {
            case .starting(let pid), .ready(let pid):
                slots[i].state = .draining(pid: pid)
                toDrain.append(i)
            case .draining, .empty: break
            }
        }
        return toDrain
    }

    public var liveWorkers: Int { slots.indices.filter { pid($0) != nil }.count }

    /// A worker process exited with `exitStatus` (nil when killed by a signal).
    public mutating func exited(pid: Int32, exitStatus: Int32?, now: UInt64) -> ExitAction {
        guard let i = slot(ofPid: pid) else { return .none }
        let previous = slots[i].state
        slots[i].state = .empty
        if shuttingDown {
            return liveWorkers == 0 ? .shutdownComplete : .none
        }
        if case .starting = previous, let status = exitStatus,
            let reason = WorkerContract.ExitStatus(rawValue: status)?.fatalReason
        {
            return .fatal(reason: reason, status: status)
        }
        let lived = now &- slots[i].startedAt
        var neverReady = false
        if case .starting = previous { neverReady = true }
        if neverReady || lived < minimumLifetime {
            slots[i].failures += 1
        } else {
            slots[i].failures = 0
        }
        if slots[i].failures >= maxFailures {
            return .fatal(reason: "worker \(i) failed \(slots[i].failures) times in a row at start-up", status: 1)
        }
        return .respawn(slot: i, delay: Self.backoff(failures: slots[i].failures))
    }

    /// 0 for a worker that ran normally; then 100 ms, 200 ms, 400 ms... up to 10 s.
    public static func backoff(failures: Int) -> UInt64 {
        guard failures > 0 else { return 0 }
        let ms = min(100 << min(failures - 1, 10), 10_000)
        return UInt64(ms) * 1_000_000
    }
}
