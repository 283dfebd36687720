internal import DEventLoop
internal import DPosix
internal import DWSGI

/// The worker's cooperative scheduler for WebSocket handlers: tasks whose wait is over are
/// queued here and resumed together from the event loop (never from inside another task), and
/// sleeping tasks get a timer.
final class TaskRunner: TaskScheduler {
    unowned let worker: WorkerProcess
    var ready: [(PythonTask, Bool)] = []
    var sleepers: [Int: Watcher] = [:]
    var nextSleeper = 0
    lazy var trigger = Watcher(loop: worker.loop, kind: .timer, persist: false) { [unowned self] _ in
        self.run()
    }

    init(worker: WorkerProcess) {
        self.worker = worker
    }

    /// Resume `task` soon with `value` (true: what it waited for happened; false: timeout).
    func schedule(_ task: PythonTask, _ value: Bool) {
        ready.append((task, value))
        if !trigger.isArmed { trigger.arm(timeout: 0) }
    }

    func sleep(_ task: PythonTask, seconds: Double) {
        let id = nextSleeper
        nextSleeper += 1
        let timer = Watcher(loop: worker.loop, kind: .timer, persist: false) { [unowned self] _ in
            self.sleepers[id] = nil
            self.schedule(task, true)
        }
        sleepers[id] = timer
        timer.arm(timeout: seconds)
    }

    func run() {
        while !ready.isEmpty {
            let batch = ready
            ready = []
            let results: [(WebSocketEndpoint?, TaskState)]
            if worker.timesRequests {
                results = worker.app.resume(batch) { [unowned worker] in worker.enterHandlerStep($0) }
            } else {
                worker.enterApplication(MonotonicClock.nanoseconds())
                results = worker.app.resume(batch)
            }
            worker.leaveApplication()
            for (endpoint, state) in results where state != .suspended {
                (endpoint as? WebSocketChannel)?.handlerEnded(failed: state == .failed)
            }
            worker.flushDirty()
        }
    }
}
