internal import CDPython
internal import DHTTP1

extension WSGIApplication {
    /// Builds the PEP 3333 environ for a request: a copy of the constant part, then the
    /// request's own keys. Header names with an underscore are dropped: they would map to the
    /// same key as a hyphenated name and let a client spoof a header set by a proxy.
    func buildEnviron(head: RequestHead, buffer b: UnsafeRawBufferPointer, info: WSGIConnectionInfo) -> PyObj {
        let env = PyDict_Copy(baseEnviron)!
        func set(_ key: PyObj, _ value: PyObj) {
            PyDict_SetItem(env, key, value)
            Py_DECREF(value)
        }
        func latin1(_ r: Range<Int>) -> PyObj {
            PyUnicode_DecodeLatin1(b.baseAddress!.assumingMemoryBound(to: CChar.self) + r.lowerBound, r.count, nil)!
        }
        func string(_ s: String) -> PyObj {
            var s = s
            return s.withUTF8 { PyUnicode_FromStringAndSize(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), $0.count)! }
        }

        // REQUEST_METHOD
        var method: PyObj? = nil
        if head.methodKind != .other {
            for (name, obj) in keys.methods where name.utf8.elementsEqual(b[head.method]) {
                method = obj
                Py_INCREF(obj)
                break
            }
        }
        set(keys.requestMethod, method ?? latin1(head.method))

        // PATH_INFO, QUERY_STRING, RAW_URI
        let target = head.target
        set(keys.rawURI, latin1(target))
        PyDict_SetItem(env, keys.requestURI, PyDict_GetItem(env, keys.rawURI))
        var pathStart = target.lowerBound
        if let afterAuthority = Self.absoluteFormPathStart(b, target) { pathStart = afterAuthority }
        var pathEnd = pathStart
        while pathEnd < target.upperBound && b[pathEnd] != 63 && b[pathEnd] != 35 { pathEnd += 1 }
        var queryRange = pathEnd..<pathEnd
        if pathEnd < target.upperBound && b[pathEnd] == 63 {
            var q = pathEnd + 1
            while q < target.upperBound && b[q] != 35 { q += 1 }
            queryRange = (pathEnd + 1)..<q
        }
        set(keys.pathInfo, percentDecoded(b, pathStart..<pathEnd))
        if queryRange.isEmpty {
            Py_INCREF(keys.empty)
            set(keys.queryString, keys.empty)
        } else {
            set(keys.queryString, latin1(queryRange))
        }

        let proto = head.versionMinor >= 1 ? keys.http11 : keys.http10
        Py_INCREF(proto)
        set(keys.serverProtocol, proto)
        set(keys.serverName, string(info.serverName))
        set(keys.serverPort, string(info.serverPort))
        set(keys.remoteAddr, string(info.remoteAddr))
        set(keys.remotePort, string(info.remotePort))

        for field in head.fields {
            let name = UnsafeRawBufferPointer(rebasing: b[field.name])
            if name.contains(95) { continue }
            let key: PyObj
            if name.count == 12 && name.equalsLowercase("content-type") {
                key = keys.contentType
                Py_INCREF(key)
            } else if name.count == 14 && name.equalsLowercase("content-length") {
                key = keys.contentLength
                Py_INCREF(key)
            } else {
                key = keys.httpKey(name)
            }
            let value = latin1(field.value)
            if let existing = PyDict_GetItem(env, key) {
                // Repeated fields are one comma-separated list (RFC 9110 §5.3); cookies use "; ".
                let separator = string(name.count == 6 && name.equalsLowercase("cookie") ? "; " : ", ")
                let joined = PyUnicode_Concat(existing, separator)!
                let full = PyUnicode_Concat(joined, value)!
                Py_DECREF(joined)
                Py_DECREF(separator)
                Py_DECREF(value)
                set(key, full)
            } else {
                set(key, value)
            }
            Py_DECREF(key)
        }
        if head.chunked, PyDict_GetItem(env, keys.contentLength) != nil {
            PyDict_DelItem(env, keys.contentLength)
        }
        return env
    }

    /// For an absolute-form target ("http://host/path"), where the path starts.
    static func absoluteFormPathStart(_ b: UnsafeRawBufferPointer, _ target: Range<Int>) -> Int? {
        guard target.count > 7, b[target.lowerBound] != 47 else { return nil }
        var i = target.lowerBound
        while i < target.upperBound && b[i] != 58 && b[i] != 47 { i += 1 }
        guard i + 2 < target.upperBound, b[i] == 58, b[i + 1] == 47, b[i + 2] == 47 else { return nil }
        i += 3
        while i < target.upperBound && b[i] != 47 && b[i] != 63 { i += 1 }
        return i
    }

    /// PATH_INFO: %XX sequences decoded, bytes as latin-1 (PEP 3333); "/" when empty after an
    /// absolute-form authority.
    func percentDecoded(_ b: UnsafeRawBufferPointer, _ r: Range<Int>) -> PyObj {
        scratch.removeAll(keepingCapacity: true)
        var i = r.lowerBound
        while i < r.upperBound {
            let c = b[i]
            if c == 37, i + 2 < r.upperBound, let h = hex(b[i + 1]), let l = hex(b[i + 2]) {
                scratch.append(h << 4 | l)
                i += 3
            } else {
                scratch.append(c)
                i += 1
            }
        }
        if scratch.isEmpty && r.lowerBound > 0 && b[r.lowerBound - 1] != 32 { scratch.append(47) }
        return scratch.withUnsafeBufferPointer {
            PyUnicode_DecodeLatin1(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), $0.count, nil)!
        }
    }

    @inline(__always)
    func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: c - 48
        case 65...70: c - 55
        case 97...102: c - 87
        default: nil
        }
    }
}
