internal import DConfig
internal import DEventLoop
internal import DHTTP1
internal import DPosix
internal import DStatic
internal import DWSGI

/// Static files (--static-map), answered by the worker before the application is consulted.
extension Connection {
    /// The map a request's path is under, the path (still percent-encoded) and its query.
    func staticTarget(_ statics: StaticFiles) -> (Int, [UInt8], [UInt8])? {
        let target = input.bytes(start..<input.count)[head.target]
        guard target.first == UInt8(ascii: "/") else { return nil }  // origin-form only
        let q = target.firstIndex(of: UInt8(ascii: "?")) ?? target.endIndex
        let path = UnsafeRawBufferPointer(rebasing: target[target.startIndex..<q])
        guard let index = statics.map(for: path) else { return nil }
        return (index, Array(path), Array(target[q...]))
    }

    /// Answers a request under a static map. False: the application should answer it instead
    /// (the file does not exist and --static-fallthrough is on).
    func serveStatic(_ statics: StaticFiles, _ mapIndex: Int, _ path: [UInt8], _ query: [UInt8]) -> Bool {
        let config = statics.config
        let isHead = head.methodKind == .head
        guard head.methodKind == .get || isHead else {
            if config.fallThrough { return false }
            return refuseStatic(405, fields: "Allow: GET, HEAD\r\n")
        }
        let map = config.maps[mapIndex]
        let relative: String
        switch StaticPath.segments(path, prefix: Array(map.prefix.utf8), allowDotfiles: config.dotfiles) {
        case .success(let segments): relative = segments.joined(separator: "/")
        case .failure(.badRequest): return refuseStatic(400)
        case .failure(.forbidden): return refuseStatic(403)
        case .failure(.notFound): return refuseStatic(404)
        }
        let now = MonotonicClock.nanoseconds()
        var name = relative
        var found = statics.lookup(map: mapIndex, relative: relative, now: now)
        if case .directory = found {
            switch StaticPolicy.directory(path: path, query: query, relative: relative, index: config.index) {
            case .forbidden:
                return refuseStatic(403)
            case .redirect(let location):
                return finishStatic(status: 301, extra: "Location: \(location)\r\n", text: "")
            case .index(let indexName):
                name = indexName
                found = statics.lookup(map: mapIndex, relative: name, now: now)
                if case .directory = found { return refuseStatic(403) }
            }
        }
        switch found {
        case .missing:
            if config.fallThrough { return false }
            return refuseStatic(404)
        case .forbidden, .directory:
            return refuseStatic(403)
        case .file(let original):
            // A precompressed sibling, when the client takes it (Accept-Encoding is parsed only
            // for files that have one).
            var variants: [String: OpenFile] = [:]
            for (coding, suffix) in StaticPolicy.variants {
                if case .file(let variant) = statics.lookup(map: mapIndex, relative: name + suffix, now: now) {
                    variants[coding] = variant
                }
            }
            guard !variants.isEmpty else {
                return respondFile(
                    original, name: name, encoding: nil, vary: false, expires: map.expires, isHead: isHead)
            }
            let accepted = StaticPolicy.acceptedEncodings(headerValues("accept-encoding"))
            let encoding = StaticPolicy.encoding(available: Array(variants.keys), accepted: accepted)
            return respondFile(
                encoding.flatMap { variants[$0] } ?? original, name: name, encoding: encoding, vary: true,
                expires: map.expires, isHead: isHead)
        }
    }

    func respondFile(_ file: OpenFile, name: String, encoding: String?, vary: Bool, expires: Int?, isHead: Bool) -> Bool
    {
        var request = StaticResponse.Request()
        request.ifNoneMatch = headerValues("if-none-match").first
        request.ifModifiedSince = headerValues("if-modified-since").first
        request.range = headerValues("range").first
        request.ifRange = headerValues("if-range").first
        let size = file.info.size
        var fields = "ETag: \(file.etag)\r\nLast-Modified: \(file.lastModified)\r\n"
        if let expires { fields += "Cache-Control: public, max-age=\(expires)\r\n" }
        if vary { fields += "Vary: Accept-Encoding\r\n" }
        switch StaticResponse.decide(request, size: size, mtime: file.info.mtimeSeconds, etag: file.etag) {
        case .notModified:
            return finishStatic(status: 304, extra: fields, text: nil)
        case .unsatisfiable:
            return finishStatic(status: 416, extra: fields + "Content-Range: bytes */\(size)\r\n", text: "")
        case .full:
            return sendFileResponse(
                file, status: 200, fields: fields, name: name, encoding: encoding, first: 0, count: size, isHead: isHead
            )
        case .partial(let first, let last):
            return sendFileResponse(
                file, status: 206, fields: fields + "Content-Range: bytes \(first)-\(last)/\(size)\r\n",
                name: name, encoding: encoding, first: first, count: last - first + 1, isHead: isHead)
        }
    }

    func sendFileResponse(
        _ file: OpenFile, status: Int, fields: String, name: String, encoding: String?,
        first: Int, count: Int, isHead: Bool
    ) -> Bool {
        var extra = "Content-Type: \(MIMETypes.type(forPath: name))\r\nAccept-Ranges: bytes\r\n" + fields
        if let encoding { extra += "Content-Encoding: \(encoding)\r\n" }
        let keepAlive = beginStatic()
        ServerResponse.appendHead(
            &output.bytes, status: status, fields: extra, length: count,
            keepAlive: keepAlive, versionMinor: head.versionMinor, date: worker.date.imfFixdate)
        let bytes = isHead ? 0 : count
        if !isHead && count > 0 {
            if let body = file.body {
                output.bytes.append(contentsOf: body[first..<(first + count)])
            } else {
                // The head goes first; the request ends once the file is out.
                request.file = FileBody(fd: file.fd.raw, offset: first, remaining: count, owner: file)
                request.staticEnding = (status, bytes, keepAlive)
                return true
            }
        }
        endRequest(status: status, bytes: bytes, keepAlive: keepAlive)
        return true
    }

    /// An error with the usual text body ("404 Not Found").
    func refuseStatic(_ status: Int, fields: String = "") -> Bool {
        finishStatic(status: status, extra: fields, text: "\(status) \(ResponseHeadWriter.reasonPhrase(status))\n")
    }

    /// A short response (an error, a redirect, 304): `text` is its body (nil: none allowed).
    func finishStatic(status: Int, extra: String = "", text: String?) -> Bool {
        let keepAlive = beginStatic()
        let bytes = ServerResponse.appendText(
            &output.bytes, status: status, fields: extra, text: text,
            isHead: head.methodKind == .head, keepAlive: keepAlive,
            versionMinor: head.versionMinor, date: worker.date.imfFixdate)
        endRequest(status: status, bytes: bytes, keepAlive: keepAlive)
        return true
    }

    /// Begins a static request. A body on it is not read: the connection closes after the
    /// answer.
    func beginStatic() -> Bool {
        beginRequest(keepAlive: head.keepAlive, hasBody: false) && !head.hasBody
    }
}
