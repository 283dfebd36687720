/// Which request thread runs what, decided on the worker's loop (`--threads`): a request whose
/// head and body are complete takes a free thread, or waits for one in arrival order; its thread
/// stays its own until its response ends. Also says since when no thread has been free, which
/// the master reads as the worker having no room. Pure: the glue passes the time in.
public struct ThreadAssignments<Waiter> {
    /// Free threads, the most recently freed last (its stack and caches are the warmest).
    var free: [Int]
    let threads: Int
    /// Requests waiting for a thread, oldest first from `head`.
    var waiting: [Waiter] = []
    var head = 0
    /// Monotonic nanoseconds since which every thread has been taken; 0 while one is free.
    public private(set) var allBusySince: UInt64 = 0

    public init(threads: Int) {
        precondition(threads > 0, "Internal inconsistency: no request threads")
        free = Array((0..<threads).reversed())
        self.threads = threads
    }

    /// Threads that have a request (running it, or holding it until its response ends).
    public var taken: Int { threads - free.count }

    /// Requests waiting for a thread.
    public var queued: Int { waiting.count - head }

    /// A request is ready for the application: the thread it runs on now, or nil when it waits.
    public mutating func request(_ waiter: Waiter, now: UInt64) -> Int? {
        guard let thread = free.popLast() else {
            waiting.append(waiter)
            return nil
        }
        if free.isEmpty { allBusySince = now }
        return thread
    }

    /// `thread`'s request ended: the next waiting request to run on it, if any (the thread stays
    /// taken), else the thread is free.
    public mutating func release(_ thread: Int) -> Waiter? {
        if head < waiting.count {
            let next = waiting[head]
            head += 1
            if head == waiting.count {
                waiting.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 64 && head * 2 >= waiting.count {
                waiting.removeFirst(head)
                head = 0
            }
            return next
        }
        free.append(thread)
        allBusySince = 0
        return nil
    }
}
