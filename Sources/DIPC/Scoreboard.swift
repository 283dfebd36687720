public import DPosix

/// Per-worker counters in memory shared by the master and the workers, read without any
/// message: how many handed-off connections a worker has taken off its channel (so the master
/// knows how many are still in flight), how many it has descriptors for (so the master never
/// hands it more than its descriptor limit lets it hold), and since when it has been inside the
/// application (so a worker stuck in a slow request gets no new connections), and which request
/// that is (so the master can name a request that runs past --timeout).
public final class Scoreboard: @unchecked Sendable {
    /// 576 bytes per row (nine cache lines), so workers never share a line.
    static let slotSize = 576
    static let receivedOffset = 0
    static let busySinceOffset = 8
    static let drainingOffset = 16
    static let admissionLimitOffset = 24
    static let answeredOffset = 32
    /// Connections the worker holds now (a gauge, published with its admission limit): the
    /// master hands the next connection to the worker with the fewest.
    static let heldOffset = 40
    /// Requests by status class (1xx to 5xx), the duration histogram's buckets (one per bound
    /// and one past the last), and the durations' sum in microseconds (--stats).
    static let classOffset = 192
    static let bucketOffset = 232
    static let durationSumOffset = 232 + 8 * 12
    /// The queue-time histogram's buckets (from the master's accept to the worker's taking
    /// the connection) and its sum in microseconds; open WebSockets (a gauge), WebSocket
    /// messages received and sent, and bytes read from and written to clients (--stats).
    static let queueBucketOffset = 336
    static let queueSumOffset = 336 + 8 * 12
    static let webSocketsOpenOffset = 440
    static let messagesInOffset = 448
    static let messagesOutOffset = 456
    static let bytesInOffset = 464
    static let bytesOutOffset = 472
    /// Connections the worker accepted from the listening sockets itself (--accept-mode shared).
    static let acceptedOffset = 480
    /// dispatchd.channels: messages published in the worker, deliveries to its subscribers,
    /// and subscribers closed because their send queue was full.
    static let channelPublishedOffset = 488
    static let channelDeliveredOffset = 496
    static let channelOverflowedOffset = 504
    /// dispatchd.channels subscriptions held now (a gauge: a WebSocket in 3 channels is 3).
    static let subscriptionsOffset = 512
    /// The request line's length (as the request has it, before truncation), then its first
    /// `requestCapacity` bytes, in 8-byte words.
    static let requestOffset = 64
    public static let requestCapacity = 120

    public let memory: SharedMemory
    public let slots: Int
    /// --threads: with more than one, each slot's row is followed by a row per request thread
    /// and one for the event loop's thread (`thread(threads, of:)`: WebSocket handler steps),
    /// whose `busySince` and request line are that thread's (for --timeout), while the slot's
    /// own `busySince` says since when none of its request threads has been free (for the
    /// hand-off).
    public let threads: Int
    let rowsPerSlot: Int

    /// Creates a zeroed board for `slots` workers of `threads` request threads (master side).
    public init(slots: Int, threads: Int = 1) throws(SystemError) {
        self.threads = threads
        self.rowsPerSlot = threads > 1 ? 2 + threads : 1
        self.memory = try SharedMemory(
            size: max(slots, 1) * rowsPerSlot * Self.slotSize, name: "dispatchd-scoreboard")
        self.slots = slots
    }

    /// Maps a board inherited as `fd` (worker side), made for `threads`.
    public init(mapping fd: CInt, threads: Int = 1) throws(SystemError) {
        self.memory = try SharedMemory(mapping: fd)
        self.threads = threads
        self.rowsPerSlot = threads > 1 ? 2 + threads : 1
        self.slots = memory.size / (Self.slotSize * rowsPerSlot)
    }

    @inline(__always) func offset(_ slot: Int, _ field: Int) -> Int { slot * rowsPerSlot * Self.slotSize + field }

    /// The row of `thread` in `slot` (threads > 1; `threads` itself is the event loop's).
    public func thread(_ thread: Int, of slot: Int) -> Row {
        precondition(threads > 1 && thread <= threads, "Internal inconsistency: thread row \(thread) of \(threads)")
        return Row(index: slot * rowsPerSlot + 1 + thread)
    }

    /// A row of the board: a slot's (`rowsPerSlot` apart) or one of its threads'.
    public struct Row: Sendable, Equatable {
        let index: Int
    }

    /// Connections the worker in `slot` has received since the slot was reset.
    public func received(_ slot: Int) -> UInt64 { memory.load(offset(slot, Self.receivedOffset)) }
    public func addReceived(_ slot: Int, _ n: Int) { memory.add(offset(slot, Self.receivedOffset), UInt64(n)) }

    /// HTTP requests the worker in `slot` has answered since the slot was reset (the master's
    /// requests per second).
    public func answered(_ slot: Int) -> UInt64 { memory.load(offset(slot, Self.answeredOffset)) }

    /// The upper bounds (seconds) of the request-duration histogram's buckets.
    public static let durationBounds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    static let durationBoundsNanoseconds: [UInt64] = durationBounds.map { UInt64($0 * 1e9) }

    /// A response ended: its status class and how long the request took.
    public func recordRequest(_ slot: Int, status: Int, nanoseconds: UInt64) {
        memory.add(offset(slot, Self.answeredOffset), 1)
        let cls = min(max(status / 100, 1), 5) - 1
        memory.add(offset(slot, Self.classOffset + 8 * cls), 1)
        var bucket = Self.durationBoundsNanoseconds.count
        for (i, bound) in Self.durationBoundsNanoseconds.enumerated() where nanoseconds <= bound {
            bucket = i
            break
        }
        memory.add(offset(slot, Self.bucketOffset + 8 * bucket), 1)
        memory.add(offset(slot, Self.durationSumOffset), nanoseconds / 1000)
    }

    /// The upper bounds (seconds) of the queue-time histogram's buckets.
    public static let queueBounds: [Double] = [
        0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10,
    ]
    static let queueBoundsNanoseconds: [UInt64] = queueBounds.map { UInt64($0 * 1e9) }

    /// `count` connections the master accepted `nanoseconds` ago were taken off the channel.
    public func recordQueued(_ slot: Int, count: Int, nanoseconds: UInt64) {
        var bucket = Self.queueBoundsNanoseconds.count
        for (i, bound) in Self.queueBoundsNanoseconds.enumerated() where nanoseconds <= bound {
            bucket = i
            break
        }
        memory.add(offset(slot, Self.queueBucketOffset + 8 * bucket), UInt64(count))
        memory.add(offset(slot, Self.queueSumOffset), UInt64(count) &* (nanoseconds / 1000))
    }

    /// A WebSocket opened (+1) or closed (-1).
    public func addWebSocketsOpen(_ slot: Int, _ delta: Int) {
        memory.add(offset(slot, Self.webSocketsOpenOffset), UInt64(bitPattern: Int64(delta)))
    }

    /// WebSocket messages received from and sent to clients.
    public func addMessages(_ slot: Int, received: Int = 0, sent: Int = 0) {
        if received != 0 { memory.add(offset(slot, Self.messagesInOffset), UInt64(received)) }
        if sent != 0 { memory.add(offset(slot, Self.messagesOutOffset), UInt64(sent)) }
    }

    /// Bytes read from clients and written to them (after TLS: what HTTP carried): counters a
    /// worker adds to on every read and write.
    public func bytesCounters(_ slot: Int) -> (in: SharedMemory.Counter, out: SharedMemory.Counter) {
        (memory.counter(at: offset(slot, Self.bytesInOffset)), memory.counter(at: offset(slot, Self.bytesOutOffset)))
    }

    /// A worker accepted `n` connections itself (--accept-mode shared).
    public func addAccepted(_ slot: Int, _ n: Int) { memory.add(offset(slot, Self.acceptedOffset), UInt64(n)) }

    /// dispatchd.channels' counts (see `channelPublishedOffset`).
    public func addChannelMessages(_ slot: Int, published: Int = 0, delivered: Int = 0, overflowed: Int = 0) {
        if published != 0 { memory.add(offset(slot, Self.channelPublishedOffset), UInt64(published)) }
        if delivered != 0 { memory.add(offset(slot, Self.channelDeliveredOffset), UInt64(delivered)) }
        if overflowed != 0 { memory.add(offset(slot, Self.channelOverflowedOffset), UInt64(overflowed)) }
    }

    public func addSubscriptions(_ slot: Int, _ delta: Int) {
        memory.add(offset(slot, Self.subscriptionsOffset), UInt64(bitPattern: Int64(delta)))
    }

    /// Channel subscriptions held in the worker of `slot` now.
    public func subscriptions(_ slot: Int) -> Int {
        Int(Int64(bitPattern: memory.load(offset(slot, Self.subscriptionsOffset))))
    }

    /// What the worker in `slot` has counted (since its slot was reset).
    public struct Counts: Sendable, Equatable {
        /// Requests by status class, 1xx first.
        public var classes = [UInt64](repeating: 0, count: 5)
        /// Per bucket (not cumulative), the last one past every bound.
        public var buckets = [UInt64](repeating: 0, count: Scoreboard.durationBounds.count + 1)
        public var durationMicroseconds: UInt64 = 0
        /// The queue-time histogram, the same way.
        public var queueBuckets = [UInt64](repeating: 0, count: Scoreboard.queueBounds.count + 1)
        public var queueMicroseconds: UInt64 = 0
        public var messagesIn: UInt64 = 0
        public var messagesOut: UInt64 = 0
        public var bytesIn: UInt64 = 0
        public var bytesOut: UInt64 = 0
        /// Connections it accepted itself (--accept-mode shared).
        public var accepted: UInt64 = 0
        /// dispatchd.channels: published, delivered, subscribers closed over their send queue.
        public var channelPublished: UInt64 = 0
        public var channelDelivered: UInt64 = 0
        public var channelOverflowed: UInt64 = 0
        public init() {}

        public mutating func add(_ other: Counts) {
            for i in classes.indices { classes[i] &+= other.classes[i] }
            for i in buckets.indices { buckets[i] &+= other.buckets[i] }
            durationMicroseconds &+= other.durationMicroseconds
            for i in queueBuckets.indices { queueBuckets[i] &+= other.queueBuckets[i] }
            queueMicroseconds &+= other.queueMicroseconds
            messagesIn &+= other.messagesIn
            messagesOut &+= other.messagesOut
            bytesIn &+= other.bytesIn
            bytesOut &+= other.bytesOut
            accepted &+= other.accepted
            channelPublished &+= other.channelPublished
            channelDelivered &+= other.channelDelivered
            channelOverflowed &+= other.channelOverflowed
        }
    }

    public func counts(_ slot: Int) -> Counts {
        var c = Counts()
        for i in c.classes.indices { c.classes[i] = memory.load(offset(slot, Self.classOffset + 8 * i)) }
        for i in c.buckets.indices { c.buckets[i] = memory.load(offset(slot, Self.bucketOffset + 8 * i)) }
        c.durationMicroseconds = memory.load(offset(slot, Self.durationSumOffset))
        for i in c.queueBuckets.indices {
            c.queueBuckets[i] = memory.load(offset(slot, Self.queueBucketOffset + 8 * i))
        }
        c.queueMicroseconds = memory.load(offset(slot, Self.queueSumOffset))
        c.messagesIn = memory.load(offset(slot, Self.messagesInOffset))
        c.messagesOut = memory.load(offset(slot, Self.messagesOutOffset))
        c.bytesIn = memory.load(offset(slot, Self.bytesInOffset))
        c.bytesOut = memory.load(offset(slot, Self.bytesOutOffset))
        c.accepted = memory.load(offset(slot, Self.acceptedOffset))
        c.channelPublished = memory.load(offset(slot, Self.channelPublishedOffset))
        c.channelDelivered = memory.load(offset(slot, Self.channelDeliveredOffset))
        c.channelOverflowed = memory.load(offset(slot, Self.channelOverflowedOffset))
        return c
    }

    /// WebSockets open in the worker of `slot` now (a live worker's; its exit closes them).
    public func webSocketsOpen(_ slot: Int) -> Int {
        Int(Int64(bitPattern: memory.load(offset(slot, Self.webSocketsOpenOffset))))
    }

    /// The value of the received counter up to which the worker in `slot` has descriptors for
    /// connections (DescriptorBudget): the master hands it at most this minus what it has sent.
    /// 0 until the worker has measured its descriptors, before it reports ready.
    public func admissionLimit(_ slot: Int) -> UInt64 { memory.load(offset(slot, Self.admissionLimitOffset)) }

    /// Connections the worker in `slot` holds now.
    public func held(_ slot: Int) -> UInt64 { memory.load(offset(slot, Self.heldOffset)) }
    public func setHeld(_ slot: Int, _ count: Int) { memory.store(offset(slot, Self.heldOffset), UInt64(count)) }
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
        memory.store(offset(slot, Self.answeredOffset), 0)
        memory.store(offset(slot, Self.heldOffset), 0)
        // Every count and gauge from the status classes to the channel subscriptions.
        for field in stride(from: Self.classOffset, through: Self.subscriptionsOffset, by: 8) {
            memory.store(offset(slot, field), 0)
        }
        memory.store(offset(slot, Self.requestOffset), 0)
        for t in 0..<(rowsPerSlot - 1) {
            let row = thread(t, of: slot)
            memory.store(row.index * Self.slotSize + Self.busySinceOffset, 0)
            memory.store(row.index * Self.slotSize + Self.requestOffset, 0)
        }
    }

    /// Publishes `METHOD TARGET` of the request the worker in `slot` is about to run, truncated
    /// to `requestCapacity` bytes. Call it only while the slot's `busySince` is 0, before
    /// setting it: that is what lets `request(_:busySince:)` tell a line from a half-written one.
    public func setRequest(_ slot: Int, method: UnsafeRawBufferPointer, target: UnsafeRawBufferPointer) {
        setRequest(row: slot * rowsPerSlot, method: method, target: target)
    }

    /// `setRequest` for a thread's row.
    public func setRequest(_ row: Row, method: UnsafeRawBufferPointer, target: UnsafeRawBufferPointer) {
        setRequest(row: row.index, method: method, target: target)
    }

    /// A thread's `busySince` (threads > 1): when its current request entered the application.
    public func busySince(_ row: Row) -> UInt64 { memory.load(row.index * Self.slotSize + Self.busySinceOffset) }
    public func setBusySince(_ row: Row, _ t: UInt64) {
        memory.store(row.index * Self.slotSize + Self.busySinceOffset, t)
    }

    /// `request(_:busySince:)` for a thread's row.
    public func request(_ row: Row, busySince: UInt64) -> String? {
        request(row: row.index, busySince: busySince, reading: { self.busySince(row) })
    }

    func setRequest(row: Int, method: UnsafeRawBufferPointer, target: UnsafeRawBufferPointer) {
        let length = method.count + 1 + target.count
        let kept = min(length, Self.requestCapacity)
        let base = row * Self.slotSize + Self.requestOffset + 8
        withUnsafeTemporaryAllocation(byteCount: Self.requestCapacity, alignment: 8) { line in
            let m = min(method.count, kept)
            if m > 0 { line.baseAddress!.copyMemory(from: method.baseAddress!, byteCount: m) }
            if kept > m { line[m] = 0x20 }
            let t = kept - m - 1
            if t > 0 { (line.baseAddress! + m + 1).copyMemory(from: target.baseAddress!, byteCount: t) }
            // Word by word with the board's atomic stores: the master may read the words at any
            // time, and its check of busySince afterwards says whether they belong together.
            let words = (kept + 7) / 8
            if kept % 8 != 0 {
                (line.baseAddress! + kept).initializeMemory(as: UInt8.self, repeating: 0, count: 8 - kept % 8)
            }
            for w in 0..<words { memory.store(base + w * 8, line.load(fromByteOffset: w * 8, as: UInt64.self)) }
        }
        memory.store(row * Self.slotSize + Self.requestOffset, UInt64(length))
    }

    /// The request line the worker in `slot` published for the time in the application that
    /// began at `busySince` (read from `busySince(slot)` before this call), with "..." when it
    /// was truncated; nil when the worker has left that request since (the line may then be
    /// the next one's, half written).
    public func request(_ slot: Int, busySince: UInt64) -> String? {
        request(row: slot * rowsPerSlot, busySince: busySince, reading: { self.busySince(slot) })
    }

    func request(row: Int, busySince: UInt64, reading current: () -> UInt64) -> String? {
        guard busySince != 0 else { return nil }
        let length = Int(memory.load(row * Self.slotSize + Self.requestOffset))
        let kept = min(length, Self.requestCapacity)
        let base = row * Self.slotSize + Self.requestOffset + 8
        let bytes = [UInt8](unsafeUninitializedCapacity: (kept + 7) / 8 * 8) { buffer, count in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            for w in 0..<(kept + 7) / 8 {
                raw.storeBytes(of: memory.load(base + w * 8), toByteOffset: w * 8, as: UInt64.self)
            }
            count = kept
        }
        guard current() == busySince else { return nil }
        return String(decoding: bytes, as: UTF8.self) + (length > kept ? "..." : "")
    }
}
