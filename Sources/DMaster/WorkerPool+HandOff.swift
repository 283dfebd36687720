internal import DIPC

/// The hand-off's decisions: which worker gets the next accepted connection, and how many
/// it may be handed now.
extension WorkerPool {
    public mutating func handedOff(slot: Int, count: Int = 1) {
        slots[slot].sent += UInt64(count)
        if slots[slot].exit == .drained { slots[slot].exit = .running }  // it has connections again
    }

    /// Connections handed to `slot` that it has not taken off its channel yet.
    public func inChannel(slot: Int, received: UInt64) -> Int {
        Int(truncatingIfNeeded: slots[slot].sent &- received)
    }

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

    /// The next worker with room: ready, with room (`room`), and not stuck in the application;
    /// of those, the one with the fewest connections (those it `held` and those handed to it
    /// and still in its channel), round-robin among equals. nil when none has room.
    ///
    /// Fewest connections, not plain round-robin, so that long-lived connections (WebSockets,
    /// a proxy's keep-alive pool) end up evenly spread: a worker that fell behind during a burst
    /// (busy in the application, or given less CPU) gets the next connections until it has caught
    /// up, where round-robin would leave it behind for good. Short requests on new connections see
    /// round-robin: each worker holds none or a few.
    public mutating func nextWorker(
        received: (Int) -> UInt64, admissionLimit: (Int) -> UInt64, busySince: (Int) -> UInt64,
        now: UInt64, held: (Int) -> UInt64 = { _ in 0 }
    ) -> Int? {
        guard
            let i = candidate(
                received: received, admissionLimit: admissionLimit, busySince: busySince, now: now, held: held)
        else { return nil }
        cursor = (i + 1) % slots.count
        return i
    }

    /// The worker `nextWorker` would choose, without moving the round-robin cursor.
    public func candidate(
        received: (Int) -> UInt64, admissionLimit: (Int) -> UInt64, busySince: (Int) -> UInt64, now: UInt64,
        held: (Int) -> UInt64 = { _ in 0 }
    ) -> Int? {
        guard !shuttingDown else { return nil }
        var best: Int? = nil
        var bestLoad = UInt64.max
        for step in 0..<slots.count {
            let i = (cursor + step) % slots.count
            guard case .ready = slots[i].state else { continue }
            let got = received(i)
            if room(slot: i, received: got, admissionLimit: admissionLimit(i)) == 0 { continue }
            let since = busySince(i)
            if since != 0 && now > since && now - since > stuckAfter { continue }
            let sent = slots[i].sent
            let load = held(i) &+ (sent > got ? sent - got : 0)
            if load < bestLoad {
                best = i
                bestLoad = load
            }
        }
        return best
    }
}
