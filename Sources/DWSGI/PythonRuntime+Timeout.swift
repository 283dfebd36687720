internal import CDPython

#if canImport(Glibc)
    internal import Glibc
#endif

extension PythonRuntime {
    /// --timeout in a worker: what `signal` (sent by the master to the main thread of a worker
    /// whose request has run past the timeout) does. One C handler (CDPython's shim.c) runs two:
    /// faulthandler's, which writes the stack of every Python thread to stderr from the signal
    /// handler itself, so that it works while the code is inside C (time.sleep, a socket read,
    /// an extension); then Python's own, after which the main thread runs a Python handler at
    /// its next bytecode, or as soon as its blocking call fails with EINTR (the handler is
    /// installed without SA_RESTART, so even a socket read without a timeout returns). That
    /// handler raises `dispatchd.RequestTimeout` in the request when `overdue` says it is still
    /// past the timeout: a signal that arrives after its request ended must not hit the next.
    ///
    /// Call once, GIL held, on the main thread (where Python runs signal handlers), after the
    /// application is loaded, so that a handler the application installed for `signal` is
    /// replaced rather than replacing this one. Returns whether it replaced one.
    public func installRequestTimeout(
        signal: CInt, seconds: Double, overdue: @escaping () -> Double?
    ) throws(WSGIError) -> Bool {
        self.overdue = overdue
        let dict = PyModule_GetDict(module)!
        let signum = PyLong_FromLong(Int(signal))!
        defer { Py_DECREF(signum) }
        let overdueFunction = PyCFunction_NewEx(Self.makeOverdueDef(), nil, nil)!
        defer { Py_DECREF(overdueFunction) }
        let timeout = PyFloat_FromDouble(seconds)!
        defer { Py_DECREF(timeout) }
        let installHandler = PyDict_GetItemString(dict, "_install_timeout_handler")!
        let result = withUnsafeTemporaryAllocation(of: PyObj?.self, capacity: 3) { args in
            args[0] = signum
            args[1] = overdueFunction
            args[2] = timeout
            return PyObject_Vectorcall(installHandler, args.baseAddress, 3, nil)
        }
        guard let result else { throw failure("the Python handler of the timeout signal cannot be installed") }
        let replaced = result == CDPy_True()
        Py_DECREF(result)
        guard CDPy_TimeoutTakeHandler(signal, 0) == 0 else {
            throw WSGIError(.interpreter, "the Python handler of the timeout signal is not a plain C handler")
        }
        guard let registered = PyObject_CallOneArg(PyDict_GetItemString(dict, "_install_timeout_dump")!, signum)
        else { throw failure("faulthandler cannot be registered for the timeout signal") }
        Py_DECREF(registered)
        guard CDPy_TimeoutTakeHandler(signal, 1) == 0, CDPy_TimeoutInstall(signal) == 0 else {
            throw WSGIError(.interpreter, "the timeout signal's handler cannot be installed")
        }
        return replaced
    }

    /// --threads: the timeout signal also makes `fd` (an eventfd) readable, for the event loop to
    /// interrupt the request threads past their time.
    public func wakeOnTimeout(_ fd: CInt) {
        CDPy_TimeoutWake(fd)
    }

    /// Prints the Python exception that is set; the error to throw.
    func failure(_ message: String) -> WSGIError {
        PyErr_PrintEx(0)
        return WSGIError(.interpreter, message)
    }

    /// `overdue()` for the Python handler: the request's time so far in seconds, or None.
    static func makeOverdueDef() -> UnsafeMutablePointer<PyMethodDef> {
        let fn: PyCFunction = { _, _ in
            guard let elapsed = PythonRuntime.shared?.overdue?() else { return CDPy_NewNone() }
            return PyFloat_FromDouble(elapsed)
        }
        let def = UnsafeMutablePointer<PyMethodDef>.allocate(capacity: 1)
        def.pointee = PyMethodDef(ml_name: strdup("overdue"), ml_meth: fn, ml_flags: CDPy_METH_NOARGS(), ml_doc: nil)
        return def
    }
}
