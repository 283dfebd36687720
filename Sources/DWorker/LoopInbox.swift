internal import DEventLoop
internal import DPosix

/// Work other threads hand to the worker's event loop (--threads: what a request thread's job
/// leaves for the loop to do). `post` may be called on any thread; the closures run on the loop,
/// in order, and are released there.
final class LoopInbox {
    let wakeUp: WakeUp
    let lock = ConditionLock()
    var pending: [() -> Void] = []
    /// The last batch's array, emptied and reused: no allocation per batch.
    var running: [() -> Void] = []
    var watcher: Watcher? = nil
    /// Runs after each batch.
    let afterBatch: () -> Void

    init(loop: EventLoop, afterBatch: @escaping () -> Void) throws(SystemError) {
        wakeUp = try WakeUp()
        self.afterBatch = afterBatch
        watcher = Watcher(loop: loop, kind: .read(wakeUp.fd.raw), persist: true) { [unowned self] _ in
            self.runPending()
        }
        watcher!.arm()
    }

    func post(_ work: @escaping () -> Void) {
        lock.lock()
        let wasEmpty = pending.isEmpty
        pending.append(work)
        lock.unlock()
        // A non-empty list has a wake-up on its way already (the loop consumes it before it
        // takes the list).
        if wasEmpty { wakeUp.signal() }
    }

    func runPending() {
        wakeUp.consume()
        lock.lock()
        swap(&pending, &running)
        lock.unlock()
        for work in running { work() }
        running.removeAll(keepingCapacity: true)
        afterBatch()
    }
}
