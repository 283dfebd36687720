internal import CDPython
internal import DPosix

/// `--threads N`: the Python threads a worker runs WSGI calls on, while its event loop stays on
/// the main thread. The loop submits a request's first job (`submit`): a free thread runs it,
/// or it waits in arrival order (`ThreadAssignments`, kept under this pool's lock). A job runs
/// with the GIL held and returns what the loop does afterwards, which `post` hands to the loop.
/// A thread whose job left a response in progress keeps it, and gets its next steps and its
/// close() (`run(on:)`): the same thread serves a request from the application call to the end
/// of its response, so the application's thread-local state behaves as under gunicorn's gthread
/// worker. A thread done with its request takes the next waiting one itself, without a round
/// trip through the loop.
public final class RequestThreads {
    /// Runs on request thread `thread` with the GIL held.
    public typealias Job = (_ thread: Int) -> JobEnd

    /// What a job leaves: the loop's part, and whether the thread stays with the request (its
    /// response goes on) or is free for the next.
    public struct JobEnd {
        public var onLoop: () -> Void
        public var keepsThread: Bool
        public init(keepsThread: Bool, onLoop: @escaping () -> Void) {
            self.onLoop = onLoop
            self.keepsThread = keepsThread
        }
    }

    let lock: ConditionLock
    /// Under `lock`: which thread runs what; each thread's next job and its wake-up.
    var assignments: ThreadAssignments<Job>
    var mailboxes: [Job?]
    let conditions: [Condition]
    let post: (@escaping () -> Void) -> Void
    /// Told, under the lock, since when no thread has been free (0: one is).
    let allBusy: (UInt64) -> Void
    /// Each thread's `threading.get_ident()`, for raising an exception in it.
    private(set) var idents: [UInt] = []
    /// Threads given RequestTimeout (read and written with the GIL held): a thread clears it
    /// before its next job, which it must not hit.
    var interrupted: [Bool]
    /// The threads of this process (the native function Python's threads start in finds them).
    nonisolated(unsafe) static var shared: RequestThreads?

    /// Starts `count` threads; the GIL is held. `post` hands a closure to the event loop's thread,
    /// and `allBusy` publishes since when no thread is free; both are called on request threads.
    public init(
        runtime: PythonRuntime, count: Int, post: @escaping (@escaping () -> Void) -> Void,
        allBusy: @escaping (UInt64) -> Void
    ) throws(WSGIError) {
        let lock = ConditionLock()
        self.lock = lock
        assignments = ThreadAssignments(threads: count)
        mailboxes = Array(repeating: nil, count: count)
        conditions = (0..<count).map { _ in lock.makeCondition() }
        interrupted = Array(repeating: false, count: count)
        self.post = post
        self.allBusy = allBusy
        // Set before the threads start: they look it up first thing.
        Self.shared = self
        let dict = PyModule_GetDict(runtime.module)!
        let run = PyCFunction_NewEx(Self.makeRunDef(), nil, nil)!
        defer { Py_DECREF(run) }
        let n = PyLong_FromLong(count)!
        defer { Py_DECREF(n) }
        guard let list = call(PyDict_GetItemString(dict, "_start_request_threads")!, n, run) else {
            PyErr_PrintEx(0)
            throw WSGIError(.interpreter, "cannot start \(count) request threads")
        }
        defer { Py_DECREF(list) }
        for i in 0..<CDPy_ListSize(list) { idents.append(UInt(PyLong_AsUnsignedLong(CDPy_ListGet(list, i)!))) }
    }

    public var count: Int { mailboxes.count }

    /// Threads that have a request (running it, or holding it until its response ends).
    public var taken: Int { lock.withLock { assignments.taken } }

    /// A request's first job: on a free thread now, or when one is free (in arrival order).
    /// Called on the loop.
    public func submit(_ job: @escaping Job, now: UInt64) {
        lock.lock()
        let before = assignments.allBusySince
        if let thread = assignments.request(job, now: now) { give(job, to: thread) }
        if assignments.allBusySince != before { allBusy(assignments.allBusySince) }
        lock.unlock()
    }

    /// The next job of the request `thread` keeps (a response's next step, its close()).
    public func run(on thread: Int, _ job: @escaping Job) {
        lock.withLock { give(job, to: thread) }
    }

    /// Under the lock.
    func give(_ job: @escaping Job, to thread: Int) {
        precondition(mailboxes[thread] == nil, "Internal inconsistency: request thread \(thread) given two jobs")
        mailboxes[thread] = job
        conditions[thread].signal()
    }

    /// --timeout: raises `dispatchd.RequestTimeout`, at its next bytecode (a call blocked in C,
    /// such as time.sleep, finishes first), in each thread whose job `overdue` says is past its
    /// time. Called on the loop without the GIL; the check is made with the GIL held, while no
    /// thread can move on to another job.
    public func interruptOverdue(runtime: PythonRuntime, _ overdue: (Int) -> Bool) {
        runtime.acquireGIL()
        for thread in 0..<count where overdue(thread) {
            interrupted[thread] = true
            _ = PyThreadState_SetAsyncExc(idents[thread], runtime.requestTimeout)
        }
        runtime.releaseGIL()
    }

    /// `thread`'s life, from Python (GIL held): wait for a job without the GIL, run it with the
    /// GIL, give the loop its part; a thread set free takes the next waiting request at once.
    func serve(_ thread: Int) {
        var job: Job? = nil
        while true {
            if job == nil {
                let state = PyEval_SaveThread()
                lock.lock()
                while mailboxes[thread] == nil { conditions[thread].wait() }
                job = mailboxes[thread]
                mailboxes[thread] = nil
                lock.unlock()
                PyEval_RestoreThread(state)
            }
            if interrupted[thread] {
                interrupted[thread] = false
                _ = PyThreadState_SetAsyncExc(idents[thread], nil)
            }
            let end = job!(thread)
            // Dropped before the loop gets its part: the objects the job holds (a connection)
            // must be released last on the loop's thread, never here.
            job = nil
            if !end.keepsThread {
                // Free before the loop hears of it (a leaving worker exits once none is taken).
                lock.lock()
                let before = assignments.allBusySince
                job = assignments.release(thread)
                if assignments.allBusySince != before { allBusy(assignments.allBusySince) }
                lock.unlock()
            }
            post(end.onLoop)
        }
    }

    static func makeRunDef() -> UnsafeMutablePointer<PyMethodDef> {
        let fn: PyCFunction = { _, index in
            guard let index, let threads = RequestThreads.shared else { return CDPy_NewNone() }
            threads.serve(PyLong_AsLong(index))
            return CDPy_NewNone()
        }
        let def = UnsafeMutablePointer<PyMethodDef>.allocate(capacity: 1)
        def.pointee = PyMethodDef(ml_name: strdup("_run"), ml_meth: fn, ml_flags: CDPy_METH_O(), ml_doc: nil)
        return def
    }
}
