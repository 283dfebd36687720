internal import DIPC

/// The master's decisions about its workers: which one gets each accepted connection, what to
/// do when one exits, and how one is replaced without losing a request. Pure: no descriptors,
/// no system calls; the scoreboard's readings and the time are passed in.
///
/// The server runs `workers` workers (positions 0..<workers). Each runs in a slot (a scoreboard
/// row and a channel); there are `surge` more slots than positions, so that a replacement can
/// start beside the worker it replaces. The one way to replace a worker, whatever the reason
/// (a reload, recycling, a lifetime): start the replacement in a free slot; once it has said
/// it is ready, the old one retires (no new connections; it finishes what it has, hands its
/// idle keep-alive connections back, and exits). Until then the old one serves.
///
/// A worker's room is the smaller of two limits: the window of connections handed to it and
/// not yet taken off its channel (`received`), and what its descriptors allow (its announced
/// `admissionLimit`, the value of its received counter up to which it can hold connections).
public struct WorkerPool: Sendable {
    public enum State: Equatable, Sendable {
        /// No process.
        case empty
        /// Held for a worker that starts after a back-off.
        case waiting
        /// Spawned, loading the application.
        case starting(pid: Int32)
        /// Takes connections.
        case ready(pid: Int32)
        /// Replaced: takes no connections, finishes its own and exits.
        case retiring(pid: Int32)
        /// Told to finish its connections and exit (the server stops).
        case draining(pid: Int32)
    }

    public enum Action: Equatable, Sendable {
        /// Start a worker in `slot` after `delay` nanoseconds.
        case spawn(slot: Int, delay: UInt64)
        /// The worker in `slot` has been replaced: tell it to retire.
        case retire(slot: Int)
        /// The server cannot run: stop every worker and exit with `status`.
        case fatal(reason: String, status: Int32)
        /// Every worker is gone after a shutdown.
        case shutdownComplete
        /// A reload replaced every worker.
        case reloadFinished(replaced: Int)
        /// A reload stopped: the replacement for `position` exited before it was ready (with
        /// `status`; nil: a signal). The workers not yet replaced keep serving.
        case reloadAbandoned(position: Int, status: Int32?)
        /// A replacement asked for outside a reload exited before it was ready; the worker it
        /// was to replace keeps serving, and another attempt follows (the `spawn` with it).
        case replacementFailed(position: Int, status: Int32?)
        /// The worker in `slot` said it has no connection left: it may exit now.
        case release(slot: Int)
    }

    struct Slot: Sendable {
        var state: State = .empty
        /// The position this slot's worker serves.
        var position = 0
        /// While starting (or waiting): the slot whose worker it replaces once ready.
        var replacing: Int? = nil
        /// Connections handed to this slot's current process.
        var sent: UInt64 = 0
        var startedAt: UInt64 = 0
        var exit = WorkerExit.running
        /// The reload generation when the process was spawned.
        var generation = 0
    }

    /// A rolling reload in progress.
    struct Reload: Sendable {
        /// Positions still to replace, in order.
        var queue: [Int]
        /// The slots of the reload's own replacements under way (at most `reloadBatch`;
        /// recycling's replacements go on beside them).
        var running: Set<Int> = []
        /// Replaced so far.
        var replaced = 0
    }
    /// Counts reloads: a worker spawned since the last one began runs the current code.
    var generation = 0

    var slots: [Slot]
    public let workers: Int
    /// Replacements a reload runs at once.
    public let reloadBatch: Int
    /// Consecutive failed starts of each position.
    var failures: [Int]
    /// Whether each position has had a ready worker since the server started: an application
    /// that cannot load stops the server only at its first start.
    var everReady: [Bool]
    var reload: Reload? = nil
    /// Slots whose replacement was asked for while no slot was free, oldest first.
    var replaceQueue: [Int] = []
    var cursor = 0
    public private(set) var shuttingDown = false
    /// Most handed-off connections a worker may have not yet taken from its channel.
    public let window: UInt64
    /// A worker inside the application for longer than this gets no new connections.
    public let stuckAfter: UInt64
    /// A worker that exits within this time of starting counts as a failure.
    public let minimumLifetime: UInt64 = 1_000_000_000
    /// Consecutive failures of one position before the server gives up.
    public let maxFailures = 8

    public init(workers: Int, surge: Int = 1, window: Int = 128, stuckAfter: UInt64 = 50_000_000) {
        self.workers = workers
        reloadBatch = max(1, surge)
        slots = Array(repeating: Slot(), count: workers + max(1, surge))
        for i in 0..<workers { slots[i].position = i }
        failures = Array(repeating: 0, count: workers)
        everReady = Array(repeating: false, count: workers)
        self.window = UInt64(window)
        self.stuckAfter = stuckAfter
    }

    /// Slots, including the surge.
    public var count: Int { slots.count }

    /// The first workers, one per position.
    public mutating func start() -> [Action] {
        (0..<workers).map { i in
            slots[i].state = .waiting
            return .spawn(slot: i, delay: 0)
        }
    }

    // MARK: - Reading

    public func pid(_ slot: Int) -> Int32? {
        switch slots[slot].state {
        case .empty, .waiting: nil
        case .starting(let p), .ready(let p), .retiring(let p), .draining(let p): p
        }
    }

    public func state(_ slot: Int) -> State { slots[slot].state }

    /// The position the worker in `slot` serves (the number the log calls it by).
    public func position(_ slot: Int) -> Int { slots[slot].position }

    /// While `slot` starts as a replacement: the slot it replaces.
    public func replacing(_ slot: Int) -> Int? { slots[slot].replacing }

    /// The worker in `slot` has loaded the application and takes connections.
    public func isReady(_ slot: Int) -> Bool {
        if case .ready = slots[slot].state { return true }
        return false
    }

    /// A worker finishing its connections because the server stops.
    public func isDraining(_ slot: Int) -> Bool {
        if case .draining = slots[slot].state { return true }
        return false
    }

    public func slot(ofPid pid: Int32) -> Int? { slots.indices.first { self.pid($0) == pid } }

    public var liveWorkers: Int { slots.indices.filter { pid($0) != nil }.count }

    public var isReloading: Bool { reload != nil }

    // MARK: - Events of a worker's life

    public mutating func spawned(slot: Int, pid: Int32, now: UInt64) {
        slots[slot].state = .starting(pid: pid)
        slots[slot].sent = 0
        slots[slot].startedAt = now
        slots[slot].exit = .running
        slots[slot].generation = generation
    }

    /// The worker in `slot` has no connection left (it is leaving). Outside a shutdown (a
    /// retirement, or a worker told to stop by a signal of its own) it is released at once;
    /// during one, every live worker is released together once all of them have drained.
    public mutating func drained(slot: Int) -> [Action] {
        guard pid(slot) != nil, slots[slot].exit != .released else { return [] }
        slots[slot].exit = .drained
        guard shuttingDown else {
            slots[slot].exit = .released
            return [.release(slot: slot)]
        }
        return releaseIfAllDrained()
    }

    mutating func releaseIfAllDrained() -> [Action] {
        let live = slots.indices.filter { pid($0) != nil }
        guard live.allSatisfy({ slots[$0].exit != .running }) else { return [] }
        return live.filter { slots[$0].exit == .drained }.map { slot in
            slots[slot].exit = .released
            return .release(slot: slot)
        }
    }

    /// The graceful timeout: the workers that have drained are released (the others are
    /// killed).
    public mutating func releaseDrained() -> [Action] {
        slots.indices.filter { pid($0) != nil && slots[$0].exit == .drained }.map { slot in
            slots[slot].exit = .released
            return .release(slot: slot)
        }
    }

    public func isReleased(_ slot: Int) -> Bool { slots[slot].exit == .released }

    /// Whether `slot`'s worker may still be handed connections during a shutdown.
    public func takesConnectionsWhileStopping(_ slot: Int) -> Bool {
        guard case .draining = slots[slot].state else { return false }
        return slots[slot].exit != .released
    }

    /// The worker in `slot` has loaded the application. A replacement takes over: the worker it
    /// replaces retires; a reload goes on.
    public mutating func ready(slot: Int) -> [Action] {
        guard case .starting(let pid) = slots[slot].state else { return [] }
        slots[slot].state = .ready(pid: pid)
        let position = slots[slot].position
        everReady[position] = true
        var actions: [Action] = []
        if let old = slots[slot].replacing, case .ready(let oldPid) = slots[old].state {
            slots[old].state = .retiring(pid: oldPid)
            actions.append(.retire(slot: old))
        }
        slots[slot].replacing = nil
        if reload != nil {
            if reload!.running.remove(slot) != nil { reload!.replaced += 1 }
            actions += continueReload()
        }
        return actions
    }

    /// A worker process exited with `exitStatus` (nil when killed by a signal).
    public mutating func exited(pid: Int32, exitStatus: Int32?, now: UInt64) -> [Action] {
        guard let i = slot(ofPid: pid) else { return [] }
        return ended(i, exitStatus: exitStatus, now: now)
    }

    /// The worker for `slot` never got a process (--preload: the zygote that was to fork it
    /// exited first, with `exitStatus`, or could not fork): it fails as one that exited while
    /// starting does.
    public mutating func failedToStart(slot: Int, exitStatus: Int32?, now: UInt64) -> [Action] {
        guard case .waiting = slots[slot].state else { return [] }
        slots[slot].state = .starting(pid: 0)
        slots[slot].startedAt = now
        return ended(slot, exitStatus: exitStatus, now: now)
    }

    mutating func ended(_ i: Int, exitStatus: Int32?, now: UInt64) -> [Action] {
        let previous = slots[i].state
        let position = slots[i].position
        let replacing = slots[i].replacing
        slots[i].state = .empty
        slots[i].replacing = nil
        if shuttingDown {
            return liveWorkers == 0 ? [.shutdownComplete] : releaseIfAllDrained()
        }
        switch previous {
        case .retiring:
            return startQueuedReplacements()
        case .starting:
            failures[position] += 1
            if let old = replacing {
                return replacementFailed(replacing: old, position: position, status: exitStatus)
            }
            if let status = exitStatus, !everReady[position],
                let reason = WorkerContract.ExitStatus(rawValue: status)?.fatalReason
            {
                return [.fatal(reason: reason, status: status)]
            }
            return respawn(i, position: position)
        case .ready:
            let lived = now &- slots[i].startedAt
            if lived < minimumLifetime { failures[position] += 1 } else { failures[position] = 0 }
            // A replacement already on its way takes the position over; otherwise it is restarted.
            if let successor = slots.indices.first(where: { slots[$0].replacing == i }) {
                slots[successor].replacing = nil
                return []
            }
            return respawn(i, position: position)
        case .empty, .waiting, .draining:
            return []
        }
    }

    mutating func respawn(_ slot: Int, position: Int) -> [Action] {
        if failures[position] >= maxFailures {
            return [
                .fatal(reason: "worker \(position) failed \(failures[position]) times in a row at start-up", status: 1)
            ]
        }
        slots[slot].state = .waiting
        return [.spawn(slot: slot, delay: Self.backoff(failures: failures[position]))]
    }

    /// A replacement exited before it was ready: the old worker keeps serving. A reload stops
    /// there; another replacement is tried after a back-off (the code may be fixed by then).
    mutating func replacementFailed(replacing old: Int, position: Int, status: Int32?) -> [Action] {
        guard isReady(old) else { return startQueuedReplacements() }
        if reload != nil {
            reload = nil
            return [.reloadAbandoned(position: position, status: status)] + startQueuedReplacements()
        }
        guard let free = freeSlot() else {
            replaceQueue.append(old)
            return [.replacementFailed(position: position, status: status)]
        }
        prepare(free, replacing: old)
        return [
            .replacementFailed(position: position, status: status),
            .spawn(slot: free, delay: Self.backoff(failures: failures[position])),
        ]
    }

    // MARK: - Replacing

    /// Replace the worker in `slot` (recycling: its request count, its memory, its lifetime).
    /// Nothing happens while it is not a ready worker or its replacement is already under way.
    public mutating func replace(slot: Int) -> [Action] {
        guard !shuttingDown, isReady(slot), !isBeingReplaced(slot), !replaceQueue.contains(slot) else { return [] }
        guard let free = freeSlot() else {
            replaceQueue.append(slot)
            return []
        }
        prepare(free, replacing: slot)
        return [.spawn(slot: free, delay: 0)]
    }

    /// SIGHUP: replace every worker, `reloadBatch` at a time. A reload asked for during a reload
    /// starts over (the code may have changed again).
    public mutating func beginReload() -> [Action] {
        guard !shuttingDown else { return [] }
        generation += 1
        // Replacements of the reload that starts over are recycling's now: they may run the
        // code of before.
        reload = Reload(queue: Array(0..<workers))
        return continueReload()
    }

    /// Starts the next replacements of the reload, up to `reloadBatch` at once; the reload ends
    /// when every position runs a worker spawned since it began, and none of its own
    /// replacements is under way. Recycling goes on meanwhile: a replacement it started since
    /// the reload began counts for its position; one started before is waited for, then
    /// replaced.
    mutating func continueReload() -> [Action] {
        guard var r = reload else { return [] }
        var actions: [Action] = []
        var later: [Int] = []
        while r.running.count < reloadBatch, let position = r.queue.first {
            r.queue.removeFirst()
            // Counted as replaced: a position with no ready worker (the one that starts, a
            // respawn, runs the current code), one whose worker started since the reload began,
            // or one that recycling is replacing with a worker started since then.
            guard let current = readySlot(of: position), slots[current].generation != generation else {
                r.replaced += 1
                continue
            }
            if let successor = slots.indices.first(where: { slots[$0].replacing == current }) {
                if slots[successor].state == .waiting || slots[successor].generation == generation {
                    r.replaced += 1
                } else {
                    later.append(position)  // started before the reload: replaced once it is ready
                }
                continue
            }
            // No free slot: the next one comes when a retiring worker exits.
            guard let free = freeSlot() else {
                r.queue.insert(position, at: 0)
                break
            }
            prepare(free, replacing: current)
            r.running.insert(free)
            actions.append(.spawn(slot: free, delay: 0))
        }
        r.queue = later + r.queue
        if r.queue.isEmpty && r.running.isEmpty {
            reload = nil
            actions.append(.reloadFinished(replaced: r.replaced))
        } else {
            reload = r
        }
        return actions
    }

    /// Replacements that waited for a slot, now that one is free; and a reload's next step.
    mutating func startQueuedReplacements() -> [Action] {
        var actions: [Action] = []
        while !replaceQueue.isEmpty, let free = freeSlot() {
            let old = replaceQueue.removeFirst()
            guard isReady(old), !isBeingReplaced(old) else { continue }
            prepare(free, replacing: old)
            actions.append(.spawn(slot: free, delay: Self.backoff(failures: failures[slots[old].position])))
        }
        return actions + continueReload()
    }

    mutating func prepare(_ slot: Int, replacing old: Int) {
        slots[slot].state = .waiting
        slots[slot].position = slots[old].position
        slots[slot].replacing = old
    }

    func freeSlot() -> Int? { slots.indices.first { slots[$0].state == .empty } }

    func isBeingReplaced(_ slot: Int) -> Bool { slots.contains { $0.replacing == slot } }

    func readySlot(of position: Int) -> Int? {
        slots.indices.first { slots[$0].position == position && isReady($0) }
    }

    // MARK: - Stopping

    /// Starts a graceful shutdown; returns the slots whose workers must be told to drain
    /// (retiring ones are finishing already).
    public mutating func beginShutdown() -> [Int] {
        shuttingDown = true
        reload = nil
        replaceQueue.removeAll()
        var toDrain: [Int] = []
        for i in slots.indices {
            switch slots[i].state {
            case .starting(let pid), .ready(let pid):
                slots[i].state = .draining(pid: pid)
                toDrain.append(i)
            case .retiring(let pid):
                // It stops handing its idle connections over and answers them instead.
                slots[i].state = .draining(pid: pid)
                toDrain.append(i)
            case .waiting:
                slots[i].state = .empty
            case .draining, .empty: break
            }
        }
        return toDrain
    }

    /// 0 for a worker that ran normally; then 100 ms, 200 ms, 400 ms... up to 10 s.
    public static func backoff(failures: Int) -> UInt64 {
        guard failures > 0 else { return 0 }
        let ms = min(100 << min(failures - 1, 10), 10_000)
        return UInt64(ms) * 1_000_000
    }
}
