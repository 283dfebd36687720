internal import CDPython

#if canImport(Glibc)
    internal import Glibc
#endif

/// PEP 3333's start_response(status, response_headers, exc_info=None) and the write(data)
/// callable it returns. Both are bound to the request's wsgi.input object, which carries the
/// RequestContext.
enum StartResponse {
    static func makeStartResponseDef() -> UnsafeMutablePointer<PyMethodDef> {
        let fn: @convention(c) (PyObj?, PyObj?, PyObj?) -> PyObj? = { obj, args, kwargs in
            let ctx = InputStream.context(obj)
            guard let args else { return nil }
            let argc = CDPy_TupleSize(args)
            var excInfo: PyObj? = argc >= 3 ? CDPy_TupleGet(args, 2) : nil
            if let kwargs, let e = PyDict_GetItemString(kwargs, "exc_info") { excInfo = e }
            guard argc >= 2 && argc <= 3 else {
                raise(
                    CDPy_ExcTypeError(),
                    "start_response() takes 2 or 3 arguments (status, response_headers, exc_info=None)")
                return nil
            }
            if excInfo == CDPy_None() { excInfo = nil }
            if let excInfo {
                if ctx.headersSent {
                    // PEP 3333: re-raise the original exception; the headers cannot change now.
                    guard CDPy_TupleCheck(excInfo) != 0, CDPy_TupleSize(excInfo) == 3 else {
                        raise(CDPy_ExcTypeError(), "exc_info must be a sys.exc_info() tuple")
                        return nil
                    }
                    let type = CDPy_TupleGet(excInfo, 0)!
                    let value = CDPy_TupleGet(excInfo, 1)!
                    let tb = CDPy_TupleGet(excInfo, 2)!
                    Py_INCREF(type)
                    Py_INCREF(value)
                    Py_INCREF(tb)
                    PyErr_Restore(type, value, tb == CDPy_None() ? nil : tb)
                    if tb == CDPy_None() { Py_DECREF(tb) }
                    return nil
                }
            } else if ctx.started {
                raise(CDPy_ExcAssertionError(), "start_response() called a second time without exc_info")
                return nil
            }
            if let message = ctx.record(status: CDPy_TupleGet(args, 0)!, headers: CDPy_TupleGet(args, 1)!) {
                raise(CDPy_ExcValueError(), message)
                return nil
            }
            return PyCFunction_NewEx(ctx.app.runtime.writeDef, obj, nil)
        }
        let def = UnsafeMutablePointer<PyMethodDef>.allocate(capacity: 1)
        def.pointee = PyMethodDef(
            ml_name: strdup("start_response"),
            ml_meth: unsafeBitCast(fn, to: PyCFunction.self),
            ml_flags: CDPy_METH_VARARGS() | CDPy_METH_KEYWORDS(),
            ml_doc: nil
        )
        return def
    }

    static func makeWriteDef() -> UnsafeMutablePointer<PyMethodDef> {
        let fn: PyCFunction = { obj, data in
            let ctx = InputStream.context(obj)
            guard let data, CDPy_BytesCheck(data) != 0 else {
                raise(CDPy_ExcTypeError(), "write() argument must be bytes")
                return nil
            }
            guard ctx.started else {
                raise(CDPy_ExcAssertionError(), "write() called before start_response()")
                return nil
            }
            do throws(WSGIError) {
                ctx.writeBody(UnsafeRawBufferPointer(start: CDPy_BytesData(data), count: CDPy_BytesSize(data)))
                try ctx.pushWritten()
            } catch {
                ctx.failed = true
                raise(ctx.app.runtime.clientDisconnected, "client disconnected: \(error.message)")
                return nil
            }
            return CDPy_NewNone()
        }
        let def = UnsafeMutablePointer<PyMethodDef>.allocate(capacity: 1)
        def.pointee = PyMethodDef(ml_name: strdup("write"), ml_meth: fn, ml_flags: CDPy_METH_O(), ml_doc: nil)
        return def
    }
}
