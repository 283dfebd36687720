internal import CDPython

#if canImport(Glibc)
    internal import Glibc
#endif

/// What a `dispatchd._Socket` object points at: the connection, while it lasts.
final class SocketLink {
    weak var endpoint: WebSocketEndpoint?

    init(_ endpoint: WebSocketEndpoint) {
        self.endpoint = endpoint
    }
}

/// `dispatchd._Socket`: the native half of a WebSocket for the Python API (environ's
/// `dispatchd.websocket`). The Python classes in dispatchd_websocket.py wrap it.
enum SocketObject {
    static func link(_ obj: PyObj?) -> SocketLink {
        Unmanaged<SocketLink>.fromOpaque(CDPy_BoxGet(obj!)!).takeUnretainedValue()
    }

    static func make(_ endpoint: WebSocketEndpoint, type: PyObj) -> PyObj {
        let retained = Unmanaged.passRetained(SocketLink(endpoint)).toOpaque()
        return CDPy_BoxAlloc(UnsafeMutableRawPointer(type).assumingMemoryBound(to: PyTypeObject.self), retained)!
    }

    /// The endpoint of a task's socket (`task.sock`), if the connection still exists. An
    /// attribute read runs no Python code, so no pending signal handler runs here: the request
    /// timeout's exception must be raised in a handler step, not lost in this lookup.
    static func endpoint(ofTask task: PyObj, runtime: PythonRuntime) -> WebSocketEndpoint? {
        guard let sock = PyObject_GetAttrString(task, "sock") else {
            PyErr_Clear()
            return nil
        }
        defer { Py_DECREF(sock) }
        guard UnsafeMutableRawPointer(CDPy_Type(sock)) == UnsafeMutableRawPointer(runtime.socketType) else {
            return nil
        }
        return link(sock).endpoint
    }

    /// A call that only the WebSocket's handler may make, made on another thread.
    static func handlerOnly(_ what: String) -> PyObj? {
        raise(CDPy_ExcRuntimeError(), "\(what) is only available in the WebSocket's handler")
        return nil
    }

    /// A query made on a thread other than the loop's is answered there.
    static func ask(_ obj: PyObj?, _ question: @escaping (WebSocketEndpoint) -> Bool) -> PyObj? {
        let link = SocketObject.link(obj)
        let runtime = PythonRuntime.shared!
        let answer =
            runtime.offLoop
            ? runtime.onLoop { link.endpoint.map(question) ?? false } : link.endpoint.map(question) ?? false
        return CDPy_NewBool(answer ? 1 : 0)
    }

    static func closedError() -> PyObj? {
        raise(PythonRuntime.shared!.webSocketClosed, "the WebSocket is closed")
        return nil
    }

    static func makeType() -> PyObj {
        let handshake: PyCFunction = { obj, proto in
            if PythonRuntime.shared!.offLoop { return SocketObject.handlerOnly("the handshake") }
            guard let endpoint = SocketObject.link(obj).endpoint else { return SocketObject.closedError() }
            var name: String? = nil
            if let proto, proto != CDPy_None() {
                guard CDPy_UnicodeCheck(proto) != 0, let s = PyUnicode_AsUTF8(proto) else {
                    raise(CDPy_ExcTypeError(), "the subprotocol must be a str")
                    return nil
                }
                name = String(cString: s)
            }
            if let error = endpoint.acceptHandshake(subprotocol: name) {
                raise(CDPy_ExcOSError(), error)
                return nil
            }
            return CDPy_NewNone()
        }
        let upgraded: PyCFunction = { obj, _ in SocketObject.ask(obj) { $0.isUpgraded } }
        let connected: PyCFunction = { obj, _ in SocketObject.ask(obj) { $0.isConnected } }
        let backlogged: PyCFunction = { obj, _ in SocketObject.ask(obj) { $0.isBacklogged } }
        let recvNowait: PyCFunction = { obj, _ in
            if PythonRuntime.shared!.offLoop { return SocketObject.handlerOnly("receiving") }
            guard let endpoint = SocketObject.link(obj).endpoint else { return CDPy_NewNone() }
            switch endpoint.receiveNow() {
            case .nothing:
                let nothing = PythonRuntime.shared!.nothing
                Py_INCREF(nothing)
                return nothing
            case .closed:
                return CDPy_NewNone()
            case .message(let binary, let payload):
                return payload.withUnsafeBytes { raw -> PyObj? in
                    let p = raw.baseAddress?.assumingMemoryBound(to: CChar.self)
                    return binary
                        ? PyBytes_FromStringAndSize(p, raw.count) : PyUnicode_DecodeUTF8(p, raw.count, "strict")
                }
            }
        }
        let send: PyCFunction = { obj, message in
            guard let message else { return nil }
            let runtime = PythonRuntime.shared!
            if runtime.offLoop {
                // Another thread (a request's, as in a broadcast from an ordinary route): the
                // message is copied and sent by the loop.
                var payload: [UInt8]
                let binary: Bool
                if CDPy_UnicodeCheck(message) != 0 {
                    var size = 0
                    guard let utf8 = PyUnicode_AsUTF8AndSize(message, &size) else { return nil }
                    payload = Array(UnsafeRawBufferPointer(start: utf8, count: size))
                    binary = false
                } else if CDPy_BytesCheck(message) != 0 {
                    payload = Array(
                        UnsafeRawBufferPointer(start: CDPy_BytesData(message), count: CDPy_BytesSize(message)))
                    binary = true
                } else {
                    raise(CDPy_ExcTypeError(), "a WebSocket message is a str (text) or bytes (binary)")
                    return nil
                }
                let link = SocketObject.link(obj)
                let sent = runtime.onLoop {
                    payload.withUnsafeBytes { link.endpoint?.send($0, binary: binary) ?? false }
                }
                return sent ? CDPy_NewNone() : SocketObject.closedError()
            }
            guard let endpoint = SocketObject.link(obj).endpoint else { return SocketObject.closedError() }
            var sent: Bool
            if CDPy_UnicodeCheck(message) != 0 {
                var size = 0
                guard let utf8 = PyUnicode_AsUTF8AndSize(message, &size) else { return nil }
                sent = endpoint.send(UnsafeRawBufferPointer(start: utf8, count: size), binary: false)
            } else if CDPy_BytesCheck(message) != 0 {
                sent = endpoint.send(
                    UnsafeRawBufferPointer(start: CDPy_BytesData(message), count: CDPy_BytesSize(message)), binary: true
                )
            } else {
                raise(CDPy_ExcTypeError(), "a WebSocket message is a str (text) or bytes (binary)")
                return nil
            }
            return sent ? CDPy_NewNone() : SocketObject.closedError()
        }
        let close: PyCFunction = { obj, args in
            var code = 1000
            var reason = ""
            if let args {
                if CDPy_TupleSize(args) > 0 { code = PyLong_AsLong(CDPy_TupleGet(args, 0)) }
                if PyErr_Occurred() != nil { return nil }
                if CDPy_TupleSize(args) > 1, let r = PyUnicode_AsUTF8(CDPy_TupleGet(args, 1)) {
                    reason = String(cString: r)
                }
                if PyErr_Occurred() != nil { return nil }
            }
            guard
                code == 1000 || (code >= 3000 && code <= 4999)
                    || (1001...1014).contains(code) && code != 1004 && code != 1005 && code != 1006
            else {
                raise(CDPy_ExcValueError(), "invalid close code \(code)")
                return nil
            }
            let link = SocketObject.link(obj)
            if PythonRuntime.shared!.offLoop {
                PythonRuntime.shared!.onLoop { link.endpoint?.close(code: UInt16(code), reason: reason) }
            } else {
                link.endpoint?.close(code: UInt16(code), reason: reason)
            }
            return CDPy_NewNone()
        }
        let wait: PyCFunction = { obj, args in
            if PythonRuntime.shared!.offLoop { return SocketObject.handlerOnly("waiting") }
            guard let args, CDPy_TupleSize(args) == 3 else {
                raise(CDPy_ExcTypeError(), "_wait(task, kind, timeout)")
                return nil
            }
            let task = CDPy_TupleGet(args, 0)!
            let kindObj = CDPy_TupleGet(args, 1)!
            let timeoutObj = CDPy_TupleGet(args, 2)!
            guard let kind = TaskWait(rawValue: PyLong_AsLong(kindObj)) else {
                raise(CDPy_ExcValueError(), "unknown wait")
                return nil
            }
            let timeout: Double? = timeoutObj == CDPy_None() ? nil : PyFloat_AsDouble(timeoutObj)
            if PyErr_Occurred() != nil { return nil }
            guard let endpoint = SocketObject.link(obj).endpoint, endpoint.isUpgraded else {
                raise(CDPy_ExcRuntimeError(), "waiting on a WebSocket before its handshake")
                return nil
            }
            endpoint.wait(PythonTask(task), for: kind, timeout: timeout)
            return CDPy_NewNone()
        }
        let defs: [(String, PyCFunction, Int32)] = [
            ("handshake", handshake, CDPy_METH_O()), ("upgraded", upgraded, CDPy_METH_NOARGS()),
            ("connected", connected, CDPy_METH_NOARGS()), ("backlogged", backlogged, CDPy_METH_NOARGS()),
            ("recv_nowait", recvNowait, CDPy_METH_NOARGS()), ("send", send, CDPy_METH_O()),
            ("close", close, CDPy_METH_VARARGS()), ("_wait", wait, CDPy_METH_VARARGS()),
        ]
        let methods = UnsafeMutablePointer<PyMethodDef>.allocate(capacity: defs.count + 1)
        for (i, d) in defs.enumerated() {
            methods[i] = PyMethodDef(ml_name: strdup(d.0), ml_meth: d.1, ml_flags: d.2, ml_doc: nil)
        }
        methods[defs.count] = PyMethodDef(ml_name: nil, ml_meth: nil, ml_flags: 0, ml_doc: nil)
        let dealloc: @convention(c) (PyObj?) -> Void = { obj in
            if let p = CDPy_BoxGet(obj!) { Unmanaged<SocketLink>.fromOpaque(p).release() }
            CDPy_BoxFree(obj)
        }
        let slots = UnsafeMutablePointer<PyType_Slot>.allocate(capacity: 3)
        slots[0] = PyType_Slot(slot: CDPy_tp_dealloc(), pfunc: unsafeBitCast(dealloc, to: UnsafeMutableRawPointer.self))
        slots[1] = PyType_Slot(slot: CDPy_tp_methods(), pfunc: UnsafeMutableRawPointer(methods))
        slots[2] = PyType_Slot(slot: 0, pfunc: nil)
        let spec = UnsafeMutablePointer<PyType_Spec>.allocate(capacity: 1)
        spec.pointee = PyType_Spec(
            name: strdup("dispatchd._Socket"), basicsize: Int32(CDPy_BoxSize()), itemsize: 0,
            flags: UInt32(CDPy_TPFLAGS_DEFAULT()), slots: slots)
        return PyType_FromSpec(spec)!
    }

    /// `dispatchd._schedule(task)`: starts a background task (`dispatchd.spawn`) on the
    /// worker's scheduler: at once on the loop's thread, through the loop's inbox from another
    /// thread, and once the scheduler exists when called before (at the app's import).
    static func makeScheduleDef() -> UnsafeMutablePointer<PyMethodDef> {
        let fn: PyCFunction = { _, task in
            guard let task, let runtime = PythonRuntime.shared else {
                raise(CDPy_ExcRuntimeError(), "_schedule(task) outside a worker")
                return nil
            }
            runtime.startTask(PythonTask(task))
            return CDPy_NewNone()
        }
        let def = UnsafeMutablePointer<PyMethodDef>.allocate(capacity: 1)
        def.pointee = PyMethodDef(ml_name: strdup("_schedule"), ml_meth: fn, ml_flags: CDPy_METH_O(), ml_doc: nil)
        return def
    }

    /// `dispatchd._sleep(task, seconds)`: the timer half of `dispatchd.sleep`.
    static func makeSleepDef() -> UnsafeMutablePointer<PyMethodDef> {
        let fn: PyCFunction = { _, args in
            guard let args, CDPy_TupleSize(args) == 2 else {
                raise(CDPy_ExcTypeError(), "_sleep(task, seconds)")
                return nil
            }
            let seconds = PyFloat_AsDouble(CDPy_TupleGet(args, 1))
            if PyErr_Occurred() != nil { return nil }
            guard let scheduler = PythonRuntime.shared?.scheduler else {
                raise(CDPy_ExcRuntimeError(), "no task scheduler")
                return nil
            }
            scheduler.sleep(PythonTask(CDPy_TupleGet(args, 0)!), seconds: max(0, seconds))
            return CDPy_NewNone()
        }
        let def = UnsafeMutablePointer<PyMethodDef>.allocate(capacity: 1)
        def.pointee = PyMethodDef(ml_name: strdup("_sleep"), ml_meth: fn, ml_flags: CDPy_METH_VARARGS(), ml_doc: nil)
        return def
    }
}
