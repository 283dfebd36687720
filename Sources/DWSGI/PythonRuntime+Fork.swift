internal import CDPython

/// --preload: the zygote forks workers off an interpreter that has imported the application.
extension PythonRuntime {
    /// Calls `fork` (a system call that returns 0 in the new process, its pid in this one)
    /// between CPython's before- and after-fork steps: its locks are taken across the fork and
    /// reset in the new process, whose `os.register_at_fork` hooks run (the `random` module
    /// reseeds). The caller holds the GIL. `fork` returns -1 on failure (and keeps
    /// the failure).
    public func fork(_ fork: () -> CInt) -> CInt {
        PyOS_BeforeFork()
        let pid = fork()
        if pid == 0 { PyOS_AfterFork_Child() } else { PyOS_AfterFork_Parent() }
        return pid
    }

    /// Before the first fork (`_freeze_for_forks`): the imported objects leave the collector's
    /// view, so that the workers' collections do not copy the pages they share.
    public func freezeForForks() {
        let dict = PyModule_GetDict(module)!
        guard let result = PyObject_CallNoArgs(PyDict_GetItemString(dict, "_freeze_for_forks")!) else {
            PyErr_Print()
            return
        }
        Py_DECREF(result)
    }

    /// The names of the Python threads besides the main one (`threading.enumerate()`).
    public func otherThreadNames() -> String {
        let dict = PyModule_GetDict(module)!
        guard let result = PyObject_CallNoArgs(PyDict_GetItemString(dict, "_threads_at_fork")!) else {
            PyErr_Clear()
            return ""
        }
        defer { Py_DECREF(result) }
        return PyUnicode_AsUTF8(result).map { String(cString: $0) } ?? ""
    }
}
