internal import CDPython

#if canImport(Glibc)
    internal import Glibc
#endif

/// The native half of `dispatchd.channels` (dispatchd_channels.py wraps it):
/// `_channel_subscribe(sock, name)`, `_channel_unsubscribe(sock, name)` and
/// `_channel_publish(name, message)`. Called on a request thread, they run on the event loop's.
enum ChannelFunctions {
    /// The longest channel name, in bytes of UTF-8 (the bus's limit).
    static let maxName = 1024

    /// A channel name argument: a non-empty str of at most `maxName` bytes; nil with the
    /// exception set.
    static func name(_ obj: PyObj?) -> String? {
        guard let obj, CDPy_UnicodeCheck(obj) != 0 else {
            raise(CDPy_ExcTypeError(), "a channel name is a str")
            return nil
        }
        var size = 0
        guard let utf8 = PyUnicode_AsUTF8AndSize(obj, &size) else { return nil }
        guard size > 0, size <= maxName else {
            raise(CDPy_ExcValueError(), "a channel name has 1 to \(maxName) bytes of UTF-8 (got \(size))")
            return nil
        }
        return String(decoding: UnsafeRawBufferPointer(start: utf8, count: size), as: UTF8.self)
    }

    /// The two arguments of subscribe and unsubscribe: the socket (a `_Socket`) and the name.
    static func socketAndName(_ args: PyObj?, _ what: String) -> (SocketLink, String)? {
        guard let args, CDPy_TupleSize(args) == 2 else {
            raise(CDPy_ExcTypeError(), "\(what)(sock, name)")
            return nil
        }
        let sock = CDPy_TupleGet(args, 0)!
        guard UnsafeMutableRawPointer(CDPy_Type(sock)) == UnsafeMutableRawPointer(PythonRuntime.shared!.socketType)
        else {
            raise(CDPy_ExcTypeError(), "\(what): not a WebSocket")
            return nil
        }
        guard let name = name(CDPy_TupleGet(args, 1)) else { return nil }
        return (SocketObject.link(sock), name)
    }

    /// Runs `body` on the event loop's thread: here, or from a request thread through the loop.
    static func onLoop<T>(_ body: @escaping () -> T) -> T {
        let runtime = PythonRuntime.shared!
        return runtime.offLoop ? runtime.onLoop(body) : body()
    }

    static func makeDefs() -> [(String, UnsafeMutablePointer<PyMethodDef>)] {
        let subscribe: PyCFunction = { _, args in
            guard let (link, name) = ChannelFunctions.socketAndName(args, "subscribe") else { return nil }
            let subscribed = ChannelFunctions.onLoop { link.endpoint?.subscribe(name) ?? false }
            return subscribed ? CDPy_NewNone() : SocketObject.closedError()
        }
        let unsubscribe: PyCFunction = { _, args in
            guard let (link, name) = ChannelFunctions.socketAndName(args, "unsubscribe") else { return nil }
            ChannelFunctions.onLoop { link.endpoint?.unsubscribe(name) }
            return CDPy_NewNone()
        }
        let publish: PyCFunction = { _, args in
            guard let args, CDPy_TupleSize(args) == 2 else {
                raise(CDPy_ExcTypeError(), "publish(name, message)")
                return nil
            }
            guard let name = ChannelFunctions.name(CDPy_TupleGet(args, 0)) else { return nil }
            let message = CDPy_TupleGet(args, 1)!
            guard let publisher = PythonRuntime.shared?.channels else {
                raise(CDPy_ExcRuntimeError(), "dispatchd.channels works in a dispatchd worker once it serves")
                return nil
            }
            let payload: UnsafeRawBufferPointer
            let binary: Bool
            if CDPy_UnicodeCheck(message) != 0 {
                var size = 0
                guard let utf8 = PyUnicode_AsUTF8AndSize(message, &size) else { return nil }
                payload = UnsafeRawBufferPointer(start: utf8, count: size)
                binary = false
            } else if CDPy_BytesCheck(message) != 0 {
                payload = UnsafeRawBufferPointer(start: CDPy_BytesData(message), count: CDPy_BytesSize(message))
                binary = true
            } else {
                raise(CDPy_ExcTypeError(), "a channel message is a str (text) or bytes (binary)")
                return nil
            }
            if PythonRuntime.shared!.offLoop {
                // The caller holds the message (immutable) until the loop has run this.
                PythonRuntime.shared!.onLoop { publisher.publish(name, payload: payload, binary: binary) }
            } else {
                publisher.publish(name, payload: payload, binary: binary)
            }
            return CDPy_NewNone()
        }
        return [
            ("_channel_subscribe", def("_channel_subscribe", subscribe)),
            ("_channel_unsubscribe", def("_channel_unsubscribe", unsubscribe)),
            ("_channel_publish", def("_channel_publish", publish)),
        ]
    }

    static func def(_ name: String, _ fn: PyCFunction) -> UnsafeMutablePointer<PyMethodDef> {
        let def = UnsafeMutablePointer<PyMethodDef>.allocate(capacity: 1)
        def.pointee = PyMethodDef(ml_name: strdup(name), ml_meth: fn, ml_flags: CDPy_METH_VARARGS(), ml_doc: nil)
        return def
    }
}
