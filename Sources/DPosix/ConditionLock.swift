#if canImport(Glibc)
    internal import Glibc
#endif

/// A mutex with a condition variable (pthread), for the few places where threads hand work to
/// each other: the worker's event loop and its request threads.
public final class ConditionLock: @unchecked Sendable {
    let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }

    /// Waits for `signal` (the lock is held, and held again on return; wake-ups may be spurious).
    public func wait() { pthread_cond_wait(condition, mutex) }
    public func signal() { pthread_cond_signal(condition) }

    /// Another condition variable on this lock's mutex (to wake one chosen waiter).
    public func makeCondition() -> Condition { Condition(lock: self) }

    public func withLock<R>(_ body: () throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// A condition variable on a `ConditionLock`'s mutex.
public final class Condition: @unchecked Sendable {
    let lock: ConditionLock
    let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init(lock: ConditionLock) {
        self.lock = lock
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
    }

    /// Waits for `signal` (the lock is held, and held again on return; wake-ups may be spurious).
    public func wait() { pthread_cond_wait(condition, lock.mutex) }
    public func signal() { pthread_cond_signal(condition) }
}
