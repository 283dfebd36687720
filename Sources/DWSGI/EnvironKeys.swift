internal import CDPython
internal import DHTTP1

/// Interned environ keys and frequent values, created once per process, plus a bounded cache
/// of HTTP_* keys by header name.
final class EnvironKeys {
    let requestMethod = intern("REQUEST_METHOD")
    let scriptName = intern("SCRIPT_NAME")
    let pathInfo = intern("PATH_INFO")
    let queryString = intern("QUERY_STRING")
    let rawURI = intern("RAW_URI")
    let requestURI = intern("REQUEST_URI")
    let serverProtocol = intern("SERVER_PROTOCOL")
    let serverName = intern("SERVER_NAME")
    let serverPort = intern("SERVER_PORT")
    let remoteAddr = intern("REMOTE_ADDR")
    let remotePort = intern("REMOTE_PORT")
    let contentType = intern("CONTENT_TYPE")
    let contentLength = intern("CONTENT_LENGTH")
    let wsgiInput = intern("wsgi.input")
    let close = intern("close")
    let http11 = intern("HTTP/1.1")
    let http10 = intern("HTTP/1.0")
    let empty = intern("")
    let urlScheme = intern("wsgi.url_scheme")
    let https = intern("https")
    let httpsFlag = intern("HTTPS")
    let on = intern("on")
    let httpHost = intern("HTTP_HOST")
    let httpXRequestID = intern("HTTP_X_REQUEST_ID")
    let methods: [(String, PyObj)] = ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"].map {
        ($0, intern($0))
    }

    static func intern(_ s: String) -> PyObj { PyUnicode_InternFromString(s)! }

    struct Entry {
        var name: [UInt8]
        var key: PyObj
    }

    var table: [Entry?] = Array(repeating: nil, count: 512)
    var entries = 0

    /// The environ key for a header field name (lower-cased in the cache): a new reference.
    func httpKey(_ name: UnsafeRawBufferPointer) -> PyObj {
        var h: UInt32 = 2_166_136_261
        for b in name { h = (h ^ UInt32(b | 0x20)) &* 16_777_619 }
        var slot = Int(h & 511)
        for _ in 0..<8 {
            guard let e = table[slot] else { break }
            if e.name.count == name.count && zip(e.name, name).allSatisfy({ $0 == ($1 | 0x20) }) {
                Py_INCREF(e.key)
                return e.key
            }
            slot = (slot + 1) & 511
        }
        let key = EnvironMapping.httpKey(name)
        var obj = key.withUnsafeBufferPointer {
            PyUnicode_FromStringAndSize(
                UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), $0.count)!
        }
        if entries < 256 && table[slot] == nil {
            var interned: PyObj? = obj
            PyUnicode_InternInPlace(&interned)
            obj = interned!
            table[slot] = Entry(name: name.map { $0 | 0x20 }, key: obj)
            entries += 1
            Py_INCREF(obj)
        }
        return obj
    }
}
