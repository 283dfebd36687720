internal import CDPython

/// A Python file of the bridge, from `Sources/DWSGI/Python`. SwiftPM embeds the files in the
/// binary at build time (`.embedInCode` in Package.swift generates `PackageResources`), so a
/// copied binary needs nothing beside it, while the code is still read, linted and tested as
/// Python. Each is compiled under its path in the source tree, so its tracebacks name the file
/// and line.
struct EmbeddedPython {
    /// The file's path in the source tree: the name tracebacks show.
    let filename: String
    let bytes: [UInt8]

    init(_ name: String, _ bytes: [UInt8]) {
        self.filename = "Sources/DWSGI/Python/" + name
        self.bytes = bytes
    }

    /// The `dispatchd` module's first part: the app loader, FileWrapper, ClientDisconnected.
    static let core = EmbeddedPython("dispatchd_core.py", PackageResources.dispatchd_core_py)
    /// The rest of `dispatchd`: WebSocket tasks and clients, uWSGI's API, the dispatchd.flask finder.
    static let webSocket = EmbeddedPython("dispatchd_websocket.py", PackageResources.dispatchd_websocket_py)
    /// `dispatchd.channels`: publish/subscribe across workers (run in the module, after the
    /// WebSocket part).
    static let channels = EmbeddedPython("dispatchd_channels.py", PackageResources.dispatchd_channels_py)
    /// `dispatchd.flask`: compiled at start-up, run when imported.
    static let flask = EmbeddedPython("dispatchd_flask.py", PackageResources.dispatchd_flask_py)
    /// The last part of `dispatchd`: worker start and stop hooks, background tasks.
    static let lifecycle = EmbeddedPython("dispatchd_lifecycle.py", PackageResources.dispatchd_lifecycle_py)
    /// `uwsgidecorators` (uWSGI's decorators, those that map onto the life cycle): compiled at
    /// start-up, run when imported.
    static let uwsgiDecorators = EmbeddedPython(
        "dispatchd_uwsgidecorators.py", PackageResources.dispatchd_uwsgidecorators_py)
    /// `flask_uwsgi_websocket` (Flask-uWSGI-WebSocket's API): compiled at start-up, run when
    /// imported.
    static let flaskUWSGIWebSocket = EmbeddedPython(
        "dispatchd_flask_uwsgi_websocket.py", PackageResources.dispatchd_flask_uwsgi_websocket_py)
    /// `flask.ext.NAME` as `flask_NAME` (Flask before 1.0): run at start-up in the `dispatchd`
    /// module (pip also installs it with a .pth line, for `python app.py`).
    static let flaskExt = EmbeddedPython("dispatchd_flask_ext.py", PackageResources.dispatchd_flask_ext_py)

    /// Compiles the file (GIL held): a new code object, or nil with the exception set.
    func compile() -> PyObj? {
        guard registerLines() else { return nil }
        // The compiler wants a NUL-terminated string; the embedded bytes have no terminator.
        return (bytes + [0]).withUnsafeBufferPointer { raw in
            raw.withMemoryRebound(to: CChar.self) {
                Py_CompileStringExFlags($0.baseAddress, filename, Py_file_input, nil, -1)
            }
        }
    }

    /// Runs the file in a module's namespace (GIL held), as PyRun_String would: false with the
    /// exception set.
    func run(in dict: PyObj) -> Bool {
        // PyRun_String gives a namespace without __builtins__ the interpreter's; PyEval_EvalCode
        // does not add it.
        if PyDict_GetItemString(dict, "__builtins__") == nil {
            PyDict_SetItemString(dict, "__builtins__", PyEval_GetBuiltins())
        }
        guard let code = compile() else { return false }
        defer { Py_DECREF(code) }
        guard let result = PyEval_EvalCode(code, dict, dict) else { return false }
        Py_DECREF(result)
        return true
    }

    /// Puts the file's lines in linecache under its name. The file is not on disk where the
    /// server runs, and Python's traceback module (logging, Flask's error handling) takes the
    /// source lines it shows from there. An entry without an mtime is never dropped as stale.
    func registerLines() -> Bool {
        guard let linecache = PyImport_ImportModule("linecache") else { return false }
        defer { Py_DECREF(linecache) }
        guard let cache = PyObject_GetAttrString(linecache, "cache") else { return false }
        defer { Py_DECREF(cache) }
        let text = bytes.withUnsafeBufferPointer { raw in
            raw.withMemoryRebound(to: CChar.self) { PyUnicode_DecodeUTF8($0.baseAddress, $0.count, nil) }
        }
        guard let text else { return false }
        defer { Py_DECREF(text) }
        guard let lines = PyUnicode_Splitlines(text, 1) else { return false }
        // linecache's entry: (size, mtime, lines, fullname).
        let entry = PyTuple_New(4)!
        PyTuple_SetItem(entry, 0, PyLong_FromSsize_t(bytes.count))
        PyTuple_SetItem(entry, 1, CDPy_NewNone())
        PyTuple_SetItem(entry, 2, lines)
        PyTuple_SetItem(entry, 3, PyUnicode_FromString(filename))
        defer { Py_DECREF(entry) }
        return PyObject_SetItem(cache, PyTuple_GetItem(entry, 3), entry) == 0
    }
}
