internal import CDPython
internal import DPosix

/// `--threads N`: the Python threads a worker runs WSGI calls on, while its event loop stays on
/// the main thread. The loop gives a thread one job at a time (`run`); the job runs with the GIL
/// held and returns what the loop does once it is over, which `post` hands to the loop. A
/// thread stays with one request from the application call to its response's close() (the
/// worker decides which thread runs what: `ThreadAssignments`), so the application's
/// thread-local state behaves as under gunicorn's gthread worker.
public final class RequestThreads {
    /// One thread's mailbox; its lock orders the loop's writes before the thread's reads and
    /// the other way round.
    final class Mailbox {
        let lock = ConditionLock()
        var job: Job? = nil
    }

    /// Runs on a request thread with the GIL held; returns the loop's part.
    public typealias Job = () -> () -> Void

    let mailboxes: [Mailbox]
    let post: (@escaping () -> Void) -> Void
    /// Each thread's `threading.get_ident()`, for raising an exception in it.
    private(set) var idents: [UInt] = []
    /// Threads given RequestTimeout (read and written with the GIL held): a thread whose
    /// request ended before the exception was raised clears it before its next job, which it
    /// must not hit.
    var interrupted: [Bool]
    /// The threads of this process (the native function Python's threads start in finds them).
    nonisolated(unsafe) static var shared: RequestThreads?

    /// Starts `count` threads; the GIL is held. `post` hands a closure to the event loop's thread
    /// (it is called on a request thread).
    public init(
        runtime: PythonRuntime, count: Int, post: @escaping (@escaping () -> Void) -> Void
    )
        throws(WSGIError)
    {
        mailboxes = (0..<count).map { _ in Mailbox() }
        interrupted = Array(repeating: false, count: count)
        self.post = post
        // Set before the threads start: they look it up first thing.
        Self.shared = self
        let dict = PyModule_GetDict(runtime.module)!
        let run = PyCFunction_NewEx(Self.makeRunDef(), nil, nil)!
        defer { Py_DECREF(run) }
        let n = PyLong_FromLong(count)!
        defer { Py_DECREF(n) }
        guard let list = call(PyDict_GetItemString(dict, "_start_request_threads")!, n, run)
        else {
            PyErr_PrintEx(0)
            throw WSGIError(.interpreter, "cannot start \(count) request threads")
        }
        defer { Py_DECREF(list) }
        for i in 0..<CDPy_ListSize(list) { idents.append(UInt(PyLong_AsUnsignedLong(CDPy_ListGet(list, i)!))) }
    }

    public var count: Int { mailboxes.count }

    /// Gives `thread` (idle) its next job; called on the loop.
    public func run(on thread: Int, _ job: @escaping Job) {
        let mailbox = mailboxes[thread]
        mailbox.lock.withLock {
            precondition(mailbox.job == nil, "Internal inconsistency: request thread \(thread) given two jobs")
            mailbox.job = job
        }
        mailbox.lock.signal()
    }

    /// --timeout: raises `dispatchd.RequestTimeout` in `thread` at its next bytecode (a call
    /// blocked in C, such as time.sleep, finishes first); called on the loop, without the GIL.
    public func interruptForTimeout(_ thread: Int, runtime: PythonRuntime) {
        runtime.acquireGIL()
        interrupted[thread] = true
        _ = PyThreadState_SetAsyncExc(idents[thread], runtime.requestTimeout)
        runtime.releaseGIL()
    }

    /// `thread`'s life, from Python (GIL held): wait for a job without the GIL, run it with the
    /// GIL, give the loop its part.
    func serve(_ thread: Int) {
        let mailbox = mailboxes[thread]
        while true {
            let state = PyEval_SaveThread()
            mailbox.lock.lock()
            while mailbox.job == nil { mailbox.lock.wait() }
            var job = mailbox.job
            mailbox.job = nil
            mailbox.lock.unlock()
            PyEval_RestoreThread(state)
            if interrupted[thread] {
                interrupted[thread] = false
                _ = PyThreadState_SetAsyncExc(idents[thread], nil)
            }
            let finish = job!()
            // Dropped before the loop gets its part: the objects the job holds (a connection)
            // must be released last on the loop's thread, never here.
            job = nil
            post(finish)
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
