internal import CDPython

#if canImport(Glibc)
    internal import Glibc
#endif

/// The `wsgi.input` type: a file-like object over the request body with read(), readline(),
/// readlines() and iteration. Each instance holds a retained RequestContext. A body that ends
/// before its declared length raises `dispatchd.ClientDisconnected` (an OSError).
enum InputStream {
    static func context(_ obj: PyObj?) -> RequestContext {
        Unmanaged<RequestContext>.fromOpaque(CDPy_BoxGet(obj!)!).takeUnretainedValue()
    }

    static func make(_ ctx: RequestContext, type: PyObj) -> PyObj {
        let retained = Unmanaged.passRetained(ctx).toOpaque()
        return CDPy_BoxAlloc(UnsafeMutableRawPointer(type).assumingMemoryBound(to: PyTypeObject.self), retained)!
    }

    /// An optional size argument: absent, None or negative mean "all".
    static func sizeArgument(_ args: PyObj?) -> Int?? {
        guard let args, CDPy_TupleSize(args) > 0 else { return .some(nil) }
        if CDPy_TupleSize(args) > 1 {
            raise(CDPy_ExcTypeError(), "expected at most 1 argument")
            return nil
        }
        let a = CDPy_TupleGet(args, 0)!
        if a == CDPy_None() { return .some(nil) }
        guard CDPy_LongCheck(a) != 0 else {
            raise(CDPy_ExcTypeError(), "size must be an integer or None")
            return nil
        }
        let v = PyLong_AsSsize_t(a)
        if v == -1 && PyErr_Occurred() != nil { return nil }
        return .some(v < 0 ? nil : v)
    }

    /// Sets the Python exception for a failed body read (the body is received before the app
    /// runs, so only a temporary file that cannot be read back gets here).
    static func raiseRead(_ ctx: RequestContext, _ error: WSGIError) {
        raise(CDPy_ExcOSError(), error.message)
    }

    static func read(_ ctx: RequestContext, size: Int?) -> PyObj? {
        do {
            if let size {
                while ctx.pendingCount < size {
                    if try !ctx.fill(max: Swift.max(size - ctx.pendingCount, 8192)) { break }
                }
            } else {
                while try ctx.fill(max: 65536) {}
            }
        } catch {
            raiseRead(ctx, error)
            return nil
        }
        let n = Swift.min(size ?? ctx.pendingCount, ctx.pendingCount)
        let result = ctx.pending.withUnsafeBytes { raw in
            PyBytes_FromStringAndSize(
                raw.baseAddress.map { $0.assumingMemoryBound(to: CChar.self) + ctx.pendingStart }, n)
        }
        ctx.pendingStart += n
        return result
    }

    static func readline(_ ctx: RequestContext, size: Int?) -> PyObj? {
        var scanned = 0
        do {
            while true {
                let available = ctx.pendingCount
                let limit = Swift.min(size ?? Int.max, available)
                let found = ctx.pending.withUnsafeBytes { raw -> Int? in
                    var i = ctx.pendingStart + scanned
                    let end = ctx.pendingStart + limit
                    while i < end {
                        if raw[i] == 10 { return i - ctx.pendingStart + 1 }
                        i += 1
                    }
                    return nil
                }
                if let found { return take(ctx, found) }
                scanned = limit
                if let size, available >= size { return take(ctx, size) }
                if try !ctx.fill(max: 8192) { return take(ctx, ctx.pendingCount) }
            }
        } catch {
            raiseRead(ctx, error)
            return nil
        }
    }

    static func take(_ ctx: RequestContext, _ n: Int) -> PyObj? {
        let result = ctx.pending.withUnsafeBytes { raw in
            PyBytes_FromStringAndSize(
                raw.baseAddress.map { $0.assumingMemoryBound(to: CChar.self) + ctx.pendingStart }, n)
        }
        ctx.pendingStart += n
        return result
    }

    /// Builds the heap type once per process.
    static func makeType() -> PyObj {
        let readFn: PyCFunction = { obj, args in
            guard let size = InputStream.sizeArgument(args) else { return nil }
            return InputStream.read(InputStream.context(obj), size: size)
        }
        let readlineFn: PyCFunction = { obj, args in
            guard let size = InputStream.sizeArgument(args) else { return nil }
            return InputStream.readline(InputStream.context(obj), size: size)
        }
        let readlinesFn: PyCFunction = { obj, args in
            guard let hint = InputStream.sizeArgument(args) else { return nil }
            let ctx = InputStream.context(obj)
            let list = PyList_New(0)!
            var total = 0
            while true {
                guard let line = InputStream.readline(ctx, size: nil) else {
                    Py_DECREF(list)
                    return nil
                }
                let n = CDPy_BytesSize(line)
                if n == 0 {
                    Py_DECREF(line)
                    break
                }
                PyList_Append(list, line)
                Py_DECREF(line)
                total += n
                if let hint, hint > 0, total >= hint { break }
            }
            return list
        }
        let methods = UnsafeMutablePointer<PyMethodDef>.allocate(capacity: 4)
        methods[0] = PyMethodDef(ml_name: strdup("read"), ml_meth: readFn, ml_flags: CDPy_METH_VARARGS(), ml_doc: nil)
        methods[1] = PyMethodDef(
            ml_name: strdup("readline"), ml_meth: readlineFn, ml_flags: CDPy_METH_VARARGS(), ml_doc: nil)
        methods[2] = PyMethodDef(
            ml_name: strdup("readlines"), ml_meth: readlinesFn, ml_flags: CDPy_METH_VARARGS(), ml_doc: nil)
        methods[3] = PyMethodDef(ml_name: nil, ml_meth: nil, ml_flags: 0, ml_doc: nil)

        let dealloc: @convention(c) (PyObj?) -> Void = { obj in
            if let p = CDPy_BoxGet(obj!) { Unmanaged<RequestContext>.fromOpaque(p).release() }
            CDPy_BoxFree(obj)
        }
        let iternext: @convention(c) (PyObj?) -> PyObj? = { obj in
            guard let line = InputStream.readline(InputStream.context(obj), size: nil) else { return nil }
            if CDPy_BytesSize(line) == 0 {
                Py_DECREF(line)
                return nil
            }
            return line
        }
        let selfIter: @convention(c) (PyObj?) -> PyObj? = { obj in CDPy_SelfIter(obj) }
        let slots = UnsafeMutablePointer<PyType_Slot>.allocate(capacity: 5)
        slots[0] = PyType_Slot(slot: CDPy_tp_dealloc(), pfunc: unsafeBitCast(dealloc, to: UnsafeMutableRawPointer.self))
        slots[1] = PyType_Slot(slot: CDPy_tp_methods(), pfunc: UnsafeMutableRawPointer(methods))
        slots[2] = PyType_Slot(slot: CDPy_tp_iter(), pfunc: unsafeBitCast(selfIter, to: UnsafeMutableRawPointer.self))
        slots[3] = PyType_Slot(
            slot: CDPy_tp_iternext(), pfunc: unsafeBitCast(iternext, to: UnsafeMutableRawPointer.self))
        slots[4] = PyType_Slot(slot: 0, pfunc: nil)
        let spec = UnsafeMutablePointer<PyType_Spec>.allocate(capacity: 1)
        spec.pointee = PyType_Spec(
            name: strdup("dispatchd.Input"),
            basicsize: Int32(CDPy_BoxSize()),
            itemsize: 0,
            flags: UInt32(CDPy_TPFLAGS_DEFAULT()),
            slots: slots
        )
        return PyType_FromSpec(spec)!
    }
}
