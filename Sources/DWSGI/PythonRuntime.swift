internal import CDPython
internal import DPosix

#if canImport(Glibc)
    internal import Glibc
#endif

typealias PyObj = UnsafeMutablePointer<PyObject>

/// The embedded interpreter of one worker process. Created once; the GIL is released while the
/// worker waits in its event loop, so the application's own threads run then.
public final class PythonRuntime {
    /// The `dispatchd` module (dispatchd_core.py and dispatchd_websocket.py run in its namespace).
    let module: PyObj
    let fileWrapperType: PyObj
    let clientDisconnected: PyObj
    /// `dispatchd.RequestTimeout`, raised in a request that ran past --timeout.
    let requestTimeout: PyObj
    /// With --timeout: the time the current request has run, when it is past the timeout
    /// (PythonRuntime+Timeout).
    var overdue: (() -> Double?)? = nil
    let inputType: PyObj
    var startResponseDef: UnsafeMutablePointer<PyMethodDef>
    var writeDef: UnsafeMutablePointer<PyMethodDef>
    var threadState: UnsafeMutablePointer<PyThreadState>?
    // WebSockets (dispatchd_websocket.py, SocketObject).
    let socketType: PyObj
    let nothing: PyObj
    let webSocketClosed: PyObj
    let startUpgrade: PyObj
    let resumeTask: PyObj
    /// Timers for `dispatchd.sleep`, provided by the worker. Background tasks spawned before it
    /// exists (at the app's import) start once it does.
    public weak var scheduler: TaskScheduler? {
        didSet {
            guard let scheduler else { return }
            for task in pendingTasks { scheduler.schedule(task, true) }
            pendingTasks = []
        }
    }
    var pendingTasks: [PythonTask] = []
    /// dispatchd.channels' publishing, provided by the worker.
    public weak var channels: ChannelPublisher? = nil
    /// Hands work to the event loop's thread (the worker's inbox): WebSocket calls made on
    /// another thread (a request thread, or one the application started) run there.
    /// The CPython the binary was built against (its headers; the libpython it loads is checked
    /// against it at start-up).
    public static let builtVersion: String = PY_VERSION

    public var loopPost: ((@escaping () -> Void) -> Void)? = nil
    /// The thread that made the runtime: the event loop's.
    let loopThread = pthread_self()
    /// The runtime of this process (native functions called from Python find it here).
    nonisolated(unsafe) static var shared: PythonRuntime?

    /// Starts the interpreter.
    /// - Parameters:
    ///   - virtualenv: a venv directory; its `bin/python` becomes the program name, so that
    ///     the venv's site-packages are used (pyvenv.cfg).
    ///   - pythonPath: directories put in front of `sys.path`.
    public init(virtualenv: String?, pythonPath: [String]) throws(WSGIError) {
        var errorMessage: UnsafeMutablePointer<CChar>? = nil
        let programName = virtualenv.map { $0.hasSuffix("/") ? "\($0)bin/python" : "\($0)/bin/python" }
        if CDPy_Initialize(programName, &errorMessage) != 0 {
            let message = errorMessage.map { String(cString: $0) } ?? "unknown"
            free(errorMessage)
            throw WSGIError(.interpreter, "cannot start Python: \(message)")
        }
        let compiled = CDPy_CompiledVersion()!
        let running = String(cString: Py_GetVersion()!).prefix { $0 != " " }
        if String(cString: compiled) != running {
            throw WSGIError(
                .interpreter,
                "dispatchd was built against Python \(String(cString: compiled)) but is running Python \(running); rebuild with PYTHON set to the interpreter you want (rm -rf .build first)"
            )
        }
        guard let module = PyImport_AddModule("dispatchd") else {
            throw WSGIError(.interpreter, "cannot create the dispatchd module")
        }
        Py_INCREF(module)
        self.module = module
        let dict = PyModule_GetDict(module)!
        guard EmbeddedPython.core.run(in: dict) else {
            PyErr_PrintEx(0)
            throw WSGIError(.interpreter, "the dispatchd bootstrap code failed (\(EmbeddedPython.core.filename))")
        }
        fileWrapperType = PyDict_GetItemString(dict, "FileWrapper")!
        clientDisconnected = PyDict_GetItemString(dict, "ClientDisconnected")!
        requestTimeout = PyDict_GetItemString(dict, "RequestTimeout")!
        Py_INCREF(fileWrapperType)
        Py_INCREF(clientDisconnected)
        Py_INCREF(requestTimeout)
        inputType = InputStream.makeType()
        socketType = SocketObject.makeType()
        PyDict_SetItemString(dict, "_Socket", socketType)
        Self.setNew(PyCFunction_NewEx(SocketObject.makeSleepDef(), nil, nil)!, as: "_sleep", in: dict)
        // The modules made on import (dispatchd.flask, flask_uwsgi_websocket, uwsgidecorators)
        // are compiled now, run later; the other files run in the module now.
        try Self.setCompiled(EmbeddedPython.flask, as: "_flask_code", in: dict, what: "the dispatchd.flask code")
        try Self.setCompiled(
            EmbeddedPython.flaskUWSGIWebSocket, as: "_fuws_code", in: dict, what: "the flask_uwsgi_websocket code")
        try Self.run(EmbeddedPython.webSocket, in: dict, what: "the dispatchd WebSocket bootstrap code")
        try Self.run(EmbeddedPython.flaskExt, in: dict, what: "the flask.ext finder")
        Self.setNew(PyCFunction_NewEx(SocketObject.makeScheduleDef(), nil, nil)!, as: "_schedule", in: dict)
        for (name, def) in ChannelFunctions.makeDefs() {
            Self.setNew(PyCFunction_NewEx(def, nil, nil)!, as: name, in: dict)
        }
        try Self.run(EmbeddedPython.channels, in: dict, what: "the dispatchd.channels code")
        Self.setNew(CDPy_NewBool(ServerLog.writes(.error) ? 1 : 0)!, as: "_errors_shown", in: dict)
        try Self.setCompiled(
            EmbeddedPython.uwsgiDecorators, as: "_uwsgidecorators_code", in: dict, what: "the uwsgidecorators code")
        try Self.run(EmbeddedPython.lifecycle, in: dict, what: "the dispatchd life-cycle code")
        func retained(_ name: String) -> PyObj {
            let o = PyDict_GetItemString(dict, name)!
            Py_INCREF(o)
            return o
        }
        nothing = retained("_NOTHING")
        webSocketClosed = retained("WebSocketClosed")
        startUpgrade = retained("_start")
        resumeTask = retained("_resume")
        startResponseDef = StartResponse.makeStartResponseDef()
        writeDef = StartResponse.makeWriteDef()

        PythonRuntime.shared = self

        // sys.path: the working directory first (as gunicorn does), then --pythonpath entries.
        let sysPath = PySys_GetObject("path")!
        for dir in ([""] + pythonPath).reversed() {
            let s = PyUnicode_FromString(dir)!
            PyList_Insert(sysPath, 0, s)
            Py_DECREF(s)
        }
    }

    /// `import uwsgi` gives the dispatchd module (its websocket_* functions): with `force`
    /// (--uwsgi-compat) always, otherwise when no real uwsgi module is importable. Call before
    /// the application loads (GIL held).
    public func installUWSGICompat(force: Bool) {
        let dict = PyModule_GetDict(module)!
        let flag = CDPy_NewBool(force ? 1 : 0)
        defer { Py_DECREF(flag) }
        if let r = PyObject_CallOneArg(PyDict_GetItemString(dict, "_install_uwsgi_compat")!, flag) {
            Py_DECREF(r)
        } else {
            PyErr_PrintEx(0)
        }
    }

    /// Loads the WSGI callable. On failure the Python traceback is printed to stderr.
    /// `multithread`: requests run on several threads at once (wsgi.multithread).
    public func loadApplication(
        module: String?, callable: String, wsgiFile: String?, multithread: Bool = false
    ) throws(WSGIError) -> WSGIApplication {
        let dict = PyModule_GetDict(self.module)!
        let loader = PyDict_GetItemString(dict, "_load_app")!
        let args = PyTuple_New(3)!
        PyTuple_SetItem(args, 0, module.map { PyUnicode_FromString($0) } ?? CDPy_NewNone())
        PyTuple_SetItem(args, 1, PyUnicode_FromString(callable))
        PyTuple_SetItem(args, 2, wsgiFile.map { PyUnicode_FromString($0) } ?? CDPy_NewNone())
        let app = PyObject_Call(loader, args, nil)
        Py_DECREF(args)
        guard let app else {
            PyErr_PrintEx(0)
            let what = wsgiFile ?? "\(module ?? "?"):\(callable)"
            throw WSGIError(.appLoad, "failed to load the WSGI application \(what)")
        }
        return WSGIApplication(runtime: self, app: app, multithread: multithread)
    }

    /// The source files of the application's modules (not the standard library's, installed
    /// packages' or dispatchd's own), for --reload; the GIL must not be held.
    public func applicationFiles() -> [String] {
        acquireGIL()
        defer { releaseGIL() }
        let dict = PyModule_GetDict(module)!
        guard let list = PyObject_CallNoArgs(PyDict_GetItemString(dict, "_app_files")!) else {
            PyErr_PrintEx(0)
            return []
        }
        defer { Py_DECREF(list) }
        return (0..<CDPy_ListSize(list)).compactMap { i in
            PyUnicode_AsUTF8(CDPy_ListGet(list, i)!).map { String(cString: $0) }
        }
    }

    /// How many modules are imported (cheap: a module imported later changes it); the GIL must
    /// not be held.
    public func importedModuleCount() -> Int {
        acquireGIL()
        defer { releaseGIL() }
        return PyDict_Size(PySys_GetObject("modules")!)
    }

    /// Gives up the GIL (the worker is about to wait in its event loop).
    public func releaseGIL() {
        precondition(threadState == nil, "Internal inconsistency: GIL released twice")
        threadState = PyEval_SaveThread()
    }

    /// Takes the GIL back before calling into Python.
    public func acquireGIL() {
        precondition(threadState != nil, "Internal inconsistency: GIL acquired twice")
        PyEval_RestoreThread(threadState)
        threadState = nil
    }

    /// Puts `object` (a new reference, consumed) in the module's namespace as `name`.
    static func setNew(_ object: PyObj, as name: String, in dict: PyObj) {
        PyDict_SetItemString(dict, name, object)
        Py_DECREF(object)
    }

    /// Compiles `file` into the module's namespace as the code object `name`, run on import.
    static func setCompiled(_ file: EmbeddedPython, as name: String, in dict: PyObj, what: String) throws(WSGIError) {
        guard let code = file.compile() else {
            PyErr_PrintEx(0)
            throw WSGIError(.interpreter, "\(what) failed to compile (\(file.filename))")
        }
        setNew(code, as: name, in: dict)
    }

    /// Runs `file` in the module's namespace.
    static func run(_ file: EmbeddedPython, in dict: PyObj, what: String) throws(WSGIError) {
        guard file.run(in: dict) else {
            PyErr_PrintEx(0)
            throw WSGIError(.interpreter, "\(what) failed (\(file.filename))")
        }
    }

    /// A background task (`dispatchd.spawn`) starts on the scheduler, on the loop's thread.
    func startTask(_ task: PythonTask) {
        if offLoop {
            loopPost! { [self] in startTask(task) }
        } else if let scheduler {
            scheduler.schedule(task, true)
        } else {
            pendingTasks.append(task)
        }
    }

    /// Whether the caller runs on a thread other than the event loop's.
    var offLoop: Bool { loopPost != nil && pthread_equal(pthread_self(), loopThread) == 0 }

    /// Runs `body` on the event loop's thread and returns its result; the caller (on another
    /// thread, GIL held) waits for it without the GIL.
    func onLoop<T>(_ body: @escaping () -> T) -> T {
        let box = LoopResult<T>()
        loopPost! {
            let value = body()
            box.lock.withLock { box.result = value }
            box.lock.signal()
        }
        let state = PyEval_SaveThread()
        box.lock.lock()
        while box.result == nil { box.lock.wait() }
        let result = box.result!
        box.lock.unlock()
        PyEval_RestoreThread(state)
        return result
    }

    /// `dispatchd.on_worker_start` hooks (GIL held); false when one raised (it was logged).
    public func runStartHooks() -> Bool {
        let dict = PyModule_GetDict(module)!
        guard let result = PyObject_CallNoArgs(PyDict_GetItemString(dict, "_run_start_hooks")!) else {
            PyErr_Clear()
            return false
        }
        Py_DECREF(result)
        return true
    }

    /// The worker's last act (GIL held): background coroutines cancelled, `dispatchd.stopping`
    /// set, stop hooks and background threads waited for, `timeout` seconds in all.
    public func runStopSequence(timeout: Double) {
        let dict = PyModule_GetDict(module)!
        let args = PyTuple_New(1)!
        defer { Py_DECREF(args) }
        PyTuple_SetItem(args, 0, PyFloat_FromDouble(timeout)!)  // steals the float
        if let result = PyObject_Call(PyDict_GetItemString(dict, "_run_stop")!, args, nil) {
            Py_DECREF(result)
        } else {
            PyErr_PrintEx(0)
        }
    }

    /// Flushes Python's sys.stdout and sys.stderr (before the process exits).
    public func flushStdio() {
        for name in ["stdout", "stderr"] {
            if let stream = PySys_GetObject(name), let r = PyObject_CallMethod0(stream, "flush") { Py_DECREF(r) }
        }
        PyErr_Clear()
    }
}

/// What `onLoop` waits for.
final class LoopResult<T>: @unchecked Sendable {
    let lock = ConditionLock()
    var result: T? = nil
}

/// Calls `obj.name()`; a new reference or nil with an exception set. (Named after the C API
/// call it stands in for: CPython's variadic PyObject_CallMethod does not import.)
// swift-format-ignore: AlwaysUseLowerCamelCase
func PyObject_CallMethod0(_ obj: PyObj, _ name: String) -> PyObj? {
    let n = PyUnicode_FromString(name)!
    defer { Py_DECREF(n) }
    return PyObject_CallMethodNoArgs(obj, n)
}

/// The bytes of a str whose characters are all latin-1 (PEP 3333's "native strings"), or nil.
@inline(__always)
func withLatin1<R>(_ s: PyObj, _ body: (UnsafeRawBufferPointer) -> R) -> R? {
    guard CDPy_UnicodeCheck(s) != 0, CDPy_UnicodeKind(s) == 1 else { return nil }
    return body(UnsafeRawBufferPointer(start: CDPy_UnicodeData(s), count: CDPy_UnicodeLength(s)))
}

/// Raises `type(message)` in Python.
func raise(_ type: PyObj, _ message: String) {
    PyErr_SetString(type, message)
}
