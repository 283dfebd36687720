/// How many connections a worker can hold within its descriptor limit, and the number it
/// announces in the scoreboard so that the master never hands it more. Pure: the worker passes
/// in its limit and its counts.
///
/// A worker's descriptors are its own (stdio, the channel, the scoreboard, the event loop's,
/// whatever the application opened while it loaded: measured when it starts), one per
/// connection and one per static file or spooled request body it holds (counted as they open
/// and close, no system call), and what the application opens while it serves (files, sockets
/// to a database or a cache, its logs): not counted, so they must fit in the reserve. When they
/// do not, the kernel truncates a hand-off; the worker then counts its open descriptors and
/// keeps those it did not count in its baseline until a recount finds them closed.
public struct DescriptorBudget: Sendable, Equatable {
    /// Descriptors kept free for what the application opens while it serves: a database pool
    /// (SQLAlchemy's default is up to 15), a few log files and sockets to caches, files being
    /// read or streamed, modules imported late, with room to spare. At most a quarter of a small
    /// limit, so that a worker under a tiny hard limit still takes some connections.
    public static let maximumReserve = 64

    /// The soft RLIMIT_NOFILE.
    public let limit: Int
    public let reserve: Int
    /// The worker's own descriptors when it became ready.
    public private(set) var startBaseline: Int
    /// The worker's own descriptors as last known: the start-up count, or more after the kernel
    /// truncated a hand-off, until a recount finds them closed.
    public private(set) var baseline: Int

    public init(limit: Int, baseline: Int) {
        self.limit = limit
        reserve = min(Self.maximumReserve, limit / 4)
        startBaseline = baseline
        self.baseline = baseline
    }

    /// How many more connections fit while `held` descriptors are open for connections, static
    /// files and request bodies.
    public func room(held: Int) -> Int { max(0, limit - baseline - reserve - held) }

    /// What the worker publishes: the value of its received counter up to which it has
    /// descriptors for connections. Taking a connection off the channel raises `received` and
    /// `held` together, so the number moves only when descriptors are freed or found taken.
    /// Connections still on the channel are in the master's sent count but in neither of these,
    /// so the master's `limit - sent` counts each once.
    public func admissionLimit(received: UInt64, held: Int) -> UInt64 { received + UInt64(room(held: held)) }

    /// `open` descriptors are open, `held` of them counted: the rest are the worker's own (never
    /// fewer than at start-up, when they were measured).
    public mutating func measured(open: Int, held: Int) {
        baseline = max(startBaseline, open - held)
    }

    /// The worker opened (`delta` > 0) or closed descriptors of its own that it keeps (its
    /// channel bus), after they were measured.
    public mutating func ownChanged(by delta: Int) {
        startBaseline += delta
        baseline += delta
    }

    /// A measurement found more of the worker's own descriptors than at start-up: they should
    /// be counted again until they are closed.
    public var needsRecount: Bool { baseline > startBaseline }
}
