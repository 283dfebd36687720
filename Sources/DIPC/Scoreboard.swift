public import DPosix

/// Per-worker counters in memory shared by the master and the workers, read without any
/// message: how many handed-off connections a worker has taken off its channel (so the master
/// knows how many are still in flight), how many it has descriptors for (so the master never
/// hands it more than its descriptor limit lets it hold), and since when it has been inside the
/// application (so a worker stuck in a slow request gets no new connections).
public final class Scoreboard: @unchecked Sendable {
    /// 64 bytes per slot (one cache line), so workers never share a line.
    static let slotSize = 64
    static let receivedOffset = 0
    static let busySinceOffset = 8
    static let drainingOffset = 16
    static let admissionLimitOffset = 24

    public let memory: SharedMemory
    public let slots: Int

    /// Creates a zeroed board for `slots` workers (master side).
    public init(slots: Int) throws(SystemError) {
        self.memory = try SharedMemory(size: max(slots, 1) * Self.slotSize, name: "dispatchd-scoreboard")
        self.slots = slots
    }

    /// Maps a board inherited as `fd` (worker side).
    public init(mapping fd: CInt) throws(SystemError) {
        self.memory = try SharedMemory(mapping: fd)
        self.slots = memory.size / Self.slotSize
    }

    @inline(__always) func offset(_ slot: Int, _ field: Int) -> Int { slot * Self.slotSize + field }

    /// Connections the worker in `slot` has received since the slot was reset.
    public func received(_ slot: Int) -> UInt64 { memory.load(offset(slot, Self.receivedOffset)) }
    public func addReceived(_ slot: Int, _ n: Int) { memory.add(offset(slot, Self.receivedOffset), UInt64(n)) }

    /// The value of the received counter up to which the worker in `slot` has descriptors for
    /// connections (DescriptorBudget): the master hands it at most this minus what it has sent.
    /// 0 until the worker has measured its descriptors, before it reports ready.
    public func admissionLimit(_ slot: Int) -> UInt64 { memory.load(offset(slot, Self.admissionLimitOffset)) }
    public func setAdmissionLimit(_ slot: Int, _ limit: UInt64) {
        memory.store(offset(slot, Self.admissionLimitOffset), limit)
    }

    /// Monotonic nanoseconds at which the worker entered the application; 0 when it is not in it.
    public func busySince(_ slot: Int) -> UInt64 { memory.load(offset(slot, Self.busySinceOffset)) }
    public func setBusySince(_ slot: Int, _ t: UInt64) { memory.store(offset(slot, Self.busySinceOffset), t) }

    /// Set by the master before it tells the worker to drain, so that a response being produced
    /// right now already says `Connection: close`.
    public func isDraining(_ slot: Int) -> Bool { memory.load(offset(slot, Self.drainingOffset)) != 0 }
    public func setDraining(_ slot: Int) { memory.store(offset(slot, Self.drainingOffset), 1) }

    /// Clears a slot before a new worker process takes it.
    public func reset(_ slot: Int) {
        memory.store(offset(slot, Self.receivedOffset), 0)
        memory.store(offset(slot, Self.busySinceOffset), 0)
        memory.store(offset(slot, Self.drainingOffset), 0)
        memory.store(offset(slot, Self.admissionLimitOffset), 0)
    }
}
