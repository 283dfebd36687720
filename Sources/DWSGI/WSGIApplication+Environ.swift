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
            return s.withUTF8 {
                PyUnicode_FromStringAndSize(
                    UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), $0.count)!
            }
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
        let (path, query) = EnvironMapping.split(b, target: target)
        EnvironMapping.decodePath(b, path, target: target, into: &scratch)
        set(
            keys.pathInfo,
            scratch.withUnsafeBufferPointer {
                PyUnicode_DecodeLatin1(
                    UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), $0.count, nil)!
            })
        if query.isEmpty {
            Py_INCREF(keys.empty)
            set(keys.queryString, keys.empty)
        } else {
            set(keys.queryString, latin1(query))
        }

        let proto = head.versionMinor >= 1 ? keys.http11 : keys.http10
        Py_INCREF(proto)
        set(keys.serverProtocol, proto)
        set(keys.serverName, string(info.serverName))
        set(keys.serverPort, string(info.serverPort))
        set(keys.remoteAddr, string(info.remoteAddr))
        set(keys.remotePort, string(info.remotePort))
        if info.secure {
            PyDict_SetItem(env, keys.urlScheme, keys.https)
            PyDict_SetItem(env, keys.httpsFlag, keys.on)
        }

        // Made only when a trusted peer's request carries one of the fields.
        var forwarded: ForwardedHeaders.Fields? = nil
        for field in head.fields {
            let name = UnsafeRawBufferPointer(rebasing: b[field.name])
            if info.forwardedTrusted, let which = ForwardedHeaders.name(name) {
                if forwarded == nil { forwarded = ForwardedHeaders.Fields() }
                let value = String(decoding: UnsafeRawBufferPointer(rebasing: b[field.value]), as: UTF8.self)
                switch which {
                case .forwardedFor: forwarded!.forwardedFor.append(value)
                case .proto: forwarded!.proto.append(value)
                case .host: forwarded!.host.append(value)
                case .port: forwarded!.port.append(value)
                case .forwarded: forwarded!.forwarded.append(value)
                }
            }
            let key: PyObj
            switch EnvironMapping.key(forField: name) {
            case .dropped: continue
            case .contentType:
                key = keys.contentType
                Py_INCREF(key)
            case .contentLength:
                continue  // set once below, from the length the body was framed with
            case .http:
                key = keys.httpKey(name)
            }
            let value = latin1(field.value)
            if let existing = PyDict_GetItem(env, key) {
                // Repeated fields are one list (RFC 9110 §5.3).
                let sep = EnvironMapping.joinSeparator(forField: name)
                let separator = PyUnicode_FromStringAndSize(
                    UnsafeRawPointer(sep.utf8Start).assumingMemoryBound(to: CChar.self), sep.utf8CodeUnitCount)!
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
        if let length = EnvironMapping.contentLength(of: head) {
            set(keys.contentLength, string(length))
        }
        if let forwarded, let trust = forwardedTrust {
            applyForwarded(ForwardedHeaders.resolve(forwarded, isTrusted: trust), to: env, string: string)
        }
        return env
    }

    /// What a trusted proxy said about the client: REMOTE_ADDR (REMOTE_PORT is then unknown),
    /// the scheme (HTTPS on for https), HTTP_HOST and SERVER_NAME, SERVER_PORT.
    func applyForwarded(_ f: ForwardedHeaders, to env: PyObj, string: (String) -> PyObj) {
        func set(_ key: PyObj, _ value: PyObj) {
            PyDict_SetItem(env, key, value)
            Py_DECREF(value)
        }
        if let address = f.remoteAddr {
            set(keys.remoteAddr, string(address))
            set(keys.remotePort, string("0"))
        }
        if let scheme = f.scheme {
            if scheme == "https" {
                PyDict_SetItem(env, keys.urlScheme, keys.https)
                PyDict_SetItem(env, keys.httpsFlag, keys.on)
            } else {
                set(keys.urlScheme, string("http"))
                PyDict_DelItem(env, keys.httpsFlag) == 0 ? () : PyErr_Clear()
            }
        }
        if let host = f.host {
            set(keys.httpHost, string(host))
            let name = host.hasPrefix("[") ? String(host.prefix { $0 != "]" }) + "]" : String(host.prefix { $0 != ":" })
            set(keys.serverName, string(name))
        }
        if let port = f.port ?? (f.scheme.map { $0 == "https" ? "443" : "80" }) {
            set(keys.serverPort, string(port))
        }
    }

    /// The uwsgi protocol: every var the front server sent, as it sent it, over what the
    /// equivalent HTTP head gave (REMOTE_ADDR, SERVER_NAME, HTTPS, SCRIPT_NAME... are its);
    /// `wsgi.url_scheme` from UWSGI_SCHEME, else from HTTPS (on or 1), as uWSGI decides it.
    func setGatewayVars(_ vars: [UWSGIPacket.Request.Var], in env: PyObj) {
        var scheme: String? = nil
        var https = false
        for v in vars {
            let value = latin1String(v.value)
            PyDict_SetItemString(env, v.name, value)
            Py_DECREF(value)
            if v.name == "UWSGI_SCHEME" { scheme = v.value }
            if v.name == "HTTPS" { https = v.value.lowercased() == "on" || v.value == "1" }
        }
        if let scheme = scheme ?? (https ? "https" : nil) {
            let value = latin1String(scheme)
            PyDict_SetItem(env, keys.urlScheme, value)
            Py_DECREF(value)
        }
    }

    /// A str with the string's scalars as code points (its vars were decoded as latin-1).
    func latin1String(_ s: String) -> PyObj {
        let bytes = s.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) }
        return bytes.withUnsafeBufferPointer {
            PyUnicode_DecodeLatin1(
                UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), $0.count, nil)!
        }
    }
}
