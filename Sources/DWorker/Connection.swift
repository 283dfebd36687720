internal import DPosix
internal import DEventLoop
internal import DHTTP1
internal import DWSGI
internal import DWebSocket

/// One client connection in a worker: reads and parses requests, runs the application for each
/// in order (pipelining), frames and writes responses, keeps the connection alive or closes it.
/// Nothing here waits on the client while Python runs: a request body is received on the event
/// loop before the application is called (in memory, or decoded into a temporary file when it
/// is larger than --body-buffer-size), and a response iterable is driven from the loop one step
/// at a time, as the client takes the bytes (`WSGIResponse`).
final class Connection: WSGITransport {
    let fd: OwnedFD
    unowned let worker: WorkerProcess
    let info: WSGIConnectionInfo
    /// Allocated when bytes arrive, given back when the connection is idle; grows for large
    /// heads and bodies.
    let input = InputBuffer()
    let output = OutputBuffer()
    var outputSent = 0
    var parser: RequestHeadParser
    var head = RequestHead()
    var readWatcher: Watcher! = nil
    /// Made when a response first cannot be written at once (rare: most never need it).
    lazy var writeWatcher = Watcher(loop: worker.loop, kind: .write(fd.raw), persist: true) { [unowned self] what in
        self.onWritable(what)
    }
    var hasWriteWatcher = false

    /// Start of the current request in `input`.
    var start = 0
    var closeAfterFlush = false
    /// Keep reading (and dropping) after the response before closing, so that unread request
    /// bytes do not turn the close into a reset that destroys the response.
    var lingerOnClose = false
    var lingering = false
    var closed = false
    var inRequest = false

    // The current request's body, as the application reads it.
    var headEnd = 0
    var bodyPos = 0
    var bodyRemaining = 0
    var chunkedDecoder: ChunkedDecoder? = nil
    var bodyDone = true
    /// End of the current request's bytes in `input` (after its body, when that is in memory).
    var requestEnd = 0
    /// The body, when it went to a temporary file.
    var spool: BodySpool? = nil
    /// Content-Length bytes still to come into the spool.
    var spoolRemaining = 0
    /// When the request head being received must be complete (monotonic ns; 0: none yet).
    var headDeadline: UInt64 = 0
    /// The head is parsed and its body is being received on the loop before the app runs.
    var awaitingBody = false
    /// How far that body has been checked: a chunked body is decoded once, as it arrives.
    var probe = ChunkedDecoder()
    var probeOffset = 0  // from `start`, so compaction leaves it valid
    var probeTotal = 0

    /// A response still being produced.
    var response: WSGIResponse? = nil
    /// A file being sent with sendfile after its head: a file_wrapper file, or a static file
    /// (`owner` keeps it open).
    struct FileBody {
        let fd: CInt
        var offset: Int
        var remaining: Int
        var sent = 0
        let owner: OpenFile?
    }
    var fileBody: FileBody? = nil
    var requestStartTime: UInt64 = 0
    /// Set for a request with a valid WebSocket handshake; the connection is a WebSocket once
    /// the application answered it.
    var webSocket: WebSocketChannel? = nil
    var isDirty = false

    /// Between requests: nothing buffered or half-parsed, nothing owed to the client.
    var isIdle: Bool {
        !inRequest && !awaitingBody && start == input.count && parser.isIdle && output.bytes.isEmpty && fileBody == nil
    }

    init(fd: consuming OwnedFD, worker: WorkerProcess, info: WSGIConnectionInfo) {
        let raw = fd.raw
        self.fd = fd
        self.worker = worker
        self.info = info
        parser = RequestHeadParser(limits: worker.config.limits)
        readWatcher = Watcher(loop: worker.loop, kind: .read(raw), persist: true) { [unowned self] what in
            self.onReadable(what)
        }
    }

    // MARK: - Event handlers

    func onReadable(_ what: Readiness) {
        if what.contains(.timeout) {
            onTimeout()
            return
        }
        switch readSome() {
        case .data:
            if lingering {
                input.count = 0
                return
            }
            process()
        case .wouldBlock:
            if !readWatcher.isArmed {
                headDeadline = MonotonicClock.nanoseconds() + UInt64(worker.config.headerTimeout * 1e9)
                readWatcher.arm(timeout: worker.config.headerTimeout)
            }
        case .eof, .error:
            // The client is done: answer nothing more (it cannot read it), drop the connection.
            close()
        }
    }

    func onWritable(_ what: Readiness) {
        if what.contains(.timeout) {
            worker.log("client \(info.remoteAddr) did not read its response for \(Int(worker.config.writeTimeout)) s; connection closed")
            close()
            return
        }
        if let ws = webSocket, ws.isUpgraded {
            let flushed = flushSome()
            guard !closed else { return }
            ws.drained()
            if flushed {
                writeWatcher.disarm()
                finishWebSocketBatch()
            }
            return
        }
        guard flushSome() else { return }
        if fileBody != nil {
            guard sendFileBody() else { return }
        }
        if response != nil {
            stepResponse()
            return
        }
        writeWatcher.disarm()
        if closeAfterFlush {
            finishClose()
        } else {
            process()
        }
    }

    func onTimeout() {
        if lingering {
            close()
            return
        }
        if let ws = webSocket, ws.isUpgraded {
            if ws.keepaliveTick() {
                finishWebSocketBatch()
            } else {
                close()
            }
            return
        }
        if isIdle {
            close()  // idle keep-alive connection
        } else if awaitingBody {
            worker.log("client \(info.remoteAddr) stopped sending its request body for \(Int(worker.config.bodyTimeout)) s")
            respondError(HTTPError(408, "request body timeout"))
            finishBatch()
        } else if headDeadline > MonotonicClock.nanoseconds() {
            finishBatch()  // bytes arrived meanwhile; the deadline is later
        } else {
            worker.log("client \(info.remoteAddr) sent no complete request within \(Int(worker.config.headerTimeout)) s")
            respondError(HTTPError(408, "request head timeout"))
            finishBatch()
        }
    }

    enum ReadOutcome { case data, wouldBlock, eof, error }

    func readSome() -> ReadOutcome {
        if input.capacity - input.count < 1024 {
            // Allocate, or grow for a large head (a head over the limit is refused by the
            // parser first).
            input.reserve(input.count + (input.capacity == 0 ? InputBuffer.initialCapacity : 16 * 1024))
        }
        do {
            switch try Posix.read(fd.raw, input.freeSpace) {
            case .done(0): return .eof
            case .done(let n):
                input.count += n
                return .data
            case .wouldBlock: return .wouldBlock
            }
        } catch {
            return .error
        }
    }

    // MARK: - Requests

    /// Parses and answers every complete request in the buffer, then flushes. Stops at a
    /// response that is still being produced: later (pipelined) requests wait for it.
    func process() {
        loop: while !closeAfterFlush && !closed && response == nil && fileBody == nil {
            if let ws = webSocket, ws.isUpgraded {
                processWebSocket(ws)
                return
            }
            if awaitingBody {
                guard receiveBody() else { break loop }
                awaitingBody = false
                handleRequest()
                continue
            }
            let available = input.bytes(start..<input.count)
            switch parser.parse(available, into: &head) {
            case .incomplete:
                break loop
            case .invalid(let error):
                worker.log("rejected request from \(info.remoteAddr): \(error.status) \(error.reason)")
                respondError(error)
            case .complete:
                if let limit = worker.config.maxRequestBody, let length = head.contentLength, length > limit {
                    worker.log("refused a \(length)-byte request body from \(info.remoteAddr): the limit is \(limit)")
                    respondError(HTTPError(413, "request body too large"))
                } else if let statics = worker.statics, let (mapIndex, path, query) = staticTarget(statics), serveStatic(statics, mapIndex, path, query) {
                    continue
                } else if head.upgrade && !head.hasBody, let handshake = webSocketHandshake() {
                    upgradeRequest(handshake)
                } else if head.hasBody {
                    startBody()
                } else {
                    requestEnd = start + head.length
                    handleRequest()
                }
            }
        }
        finishBatch()
        // The app may have sent to WebSocket connections (a broadcast from an ordinary request).
        if !worker.dirty.isEmpty { worker.flushDirty() }
    }

    /// The head of a request with a body passed its checks: receive the body before the app.
    func startBody() {
        awaitingBody = true
        probe = ChunkedDecoder()
        probeOffset = head.length
        probeTotal = 0
        // The client asked whether to send its body: it may (the limits were checked above).
        if head.expectContinue { output.bytes.append(contentsOf: Self.continueLine) }
        if !head.chunked && head.contentLength! > worker.config.bodyBufferSize {
            guard openSpool() else { return }
            spoolRemaining = head.contentLength!
        }
    }

    func openSpool() -> Bool {
        do {
            spool = try BodySpool(directory: worker.config.bodySpoolDirectory)
            return true
        } catch {
            spoolFailed(error)
            return false
        }
    }

    /// The temporary file for a body cannot be made or written: 503.
    func spoolFailed(_ error: SystemError) {
        worker.log("cannot buffer a request body in \(worker.config.bodySpoolDirectory): \(error)")
        respondError(HTTPError(503, "cannot buffer the request body"))
        spool = nil
        awaitingBody = false
    }

    /// A chunked body that breaks the rules: its status, before any application code runs.
    func rejectChunkedBody(_ error: HTTPError) {
        worker.log("rejected the chunked body from \(info.remoteAddr): \(error.reason)")
        respondError(error)
        spool = nil
    }

    /// Takes in what has arrived of the body; true when all of it is here. A malformed or
    /// oversized chunked body is answered here, before any application code runs.
    func receiveBody() -> Bool {
        if spool != nil { return spoolBody() }
        if !head.chunked {
            let bodyStart = start + head.length
            let length = head.contentLength!
            input.reserve(bodyStart + length + 1)
            guard input.count - bodyStart >= length else { return false }
            requestEnd = bodyStart + length
            return true
        }
        while start + probeOffset < input.count {
            let offset = start + probeOffset
            switch probe.step(input.bytes(offset..<input.count)) {
            case .data(let s, let c):
                probeTotal += c
                probeOffset += s + c
                if chunkedBodyOverLimit(probeTotal) {
                    respondError(HTTPError(413, "request body too large"))
                    return false
                }
            case .needMore:
                probeOffset = input.count - start
            case .done(let consumed):
                probeOffset += consumed
                requestEnd = start + probeOffset
                return true
            case .invalid(let error):
                rejectChunkedBody(error)
                return false
            }
            if probeOffset - head.length > worker.config.bodyBufferSize {
                // Too large for memory: decode it again from its start, into a file.
                guard openSpool() else { return false }
                probe = ChunkedDecoder()
                probeOffset = head.length
                probeTotal = 0
                return spoolBody()
            }
        }
        return false
    }

    /// Moves the body bytes that have arrived from `input` into the spool; true at the end.
    func spoolBody() -> Bool {
        let bodyStart = start + head.length
        var taken = 0
        var complete = false
        do {
            if !head.chunked {
                let n = min(spoolRemaining, input.count - bodyStart)
                try spool!.append(input.bytes(bodyStart..<(bodyStart + n)))
                taken = n
                spoolRemaining -= n
                complete = spoolRemaining == 0
            } else {
                decode: while bodyStart + taken < input.count {
                    switch probe.step(input.bytes((bodyStart + taken)..<input.count)) {
                    case .data(let s, let c):
                        try spool!.append(input.bytes((bodyStart + taken + s)..<(bodyStart + taken + s + c)))
                        taken += s + c
                        probeTotal += c
                        if chunkedBodyOverLimit(probeTotal) {
                            respondError(HTTPError(413, "request body too large"))
                            spool = nil
                            return false
                        }
                    case .needMore:
                        taken = input.count - bodyStart
                    case .done(let consumed):
                        taken += consumed
                        complete = true
                        break decode
                    case .invalid(let error):
                        rejectChunkedBody(error)
                        return false
                    }
                }
            }
        } catch {
            spoolFailed(error)
            return false
        }
        input.removeRange(bodyStart..<(bodyStart + taken))
        if complete { requestEnd = bodyStart }
        return complete
    }

    /// Whether `total` decoded bytes of a chunked body cross --limit-request-body (logged).
    func chunkedBodyOverLimit(_ total: Int) -> Bool {
        guard let limit = worker.config.maxRequestBody, total > limit else { return false }
        worker.log("a chunked request body from \(info.remoteAddr) crossed the limit of \(limit) bytes")
        return true
    }

    /// Calls the application for the parsed request, whose body (if any) is all here.
    func handleRequest() {
        headDeadline = 0
        headEnd = start + head.length
        bodyPos = headEnd
        if spool != nil || !head.hasBody {
            chunkedDecoder = nil
            bodyDone = true
        } else if head.chunked {
            chunkedDecoder = ChunkedDecoder()
            bodyDone = false
        } else {
            chunkedDecoder = nil
            bodyRemaining = head.contentLength!
            bodyDone = bodyRemaining == 0
        }
        let keepAlive = head.keepAlive && !worker.draining
        inRequest = true
        requestStartTime = MonotonicClock.nanoseconds()
        worker.enterApplication(requestStartTime)
        let progress = worker.app.handle(
            head: head, buffer: input.bytes(start..<headEnd), info: info, transport: self, output: output,
            keepAlive: keepAlive, date: worker.date.imfFixdate
        )
        worker.leaveApplication()
        advance(progress)
    }

    /// Takes the next step of a response: done, or more to come once the output drains.
    func advance(_ progress: WSGIProgress) {
        switch progress {
        case .done(let outcome):
            response = nil
            completeRequest(outcome)
        case .more(let r):
            response = r
        case .sendFile(let r, let fd, let offset, let count):
            response = r
            fileBody = FileBody(fd: fd, offset: offset, remaining: count, owner: nil)
        }
    }

    /// The access log line of the current request (its head is `start..<headEnd`).
    func logRequest(status: Int, bytes: Int) {
        guard let log = worker.accessLog else { return }
        let seconds = Double(MonotonicClock.nanoseconds() - requestStartTime) / 1e9
        log.record(remote: info.remoteAddr, date: worker.date.commonLog, head: head, request: input.bytes(start..<headEnd),
                   status: status, bytes: bytes, seconds: seconds)
    }

    /// The current response is complete in the output buffer: log it, move to the next request.
    func completeRequest(_ outcome: WSGIOutcome) {
        inRequest = false
        spool = nil
        logRequest(status: outcome.status, bytes: outcome.bodyBytes)
        if !outcome.keepAlive { closeAfterFlush = true }
        if closeAfterFlush && requestEnd < input.count { lingerOnClose = true }
        start = requestEnd
        parser.reset()
    }

    /// Sends what the socket takes of the file body. True when it is all sent (a file_wrapper
    /// response is told how much went); false while the client is slow (the write watcher is
    /// armed) or when the connection closed.
    func sendFileBody() -> Bool {
        guard var f = fileBody else { return true }
        while f.remaining > 0 {
            let result: Posix.IOResult
            do {
                result = try Posix.sendfile(fd.raw, f.fd, offset: &f.offset, count: f.remaining)
            } catch {
                fileBody = f
                close()
                return false
            }
            switch result {
            case .done(0):
                // The file shrank under us. A static response cannot be completed; a WSGI one
                // ends short, and the bridge closes the connection after it.
                guard response != nil else {
                    fileBody = nil
                    close()
                    return false
                }
                f.remaining = 0
            case .done(let n):
                f.sent += n
                f.remaining -= n
            case .wouldBlock:
                fileBody = f
                if !writeWatcher.isArmed {
                    readWatcher.disarm()
                    hasWriteWatcher = true
                    writeWatcher.arm(timeout: worker.config.writeTimeout)
                }
                return false
            }
        }
        fileBody = nil
        response?.fileSent(f.sent)
        return true
    }

    /// The output of a streaming response has drained: take its next step.
    func stepResponse() {
        worker.enterApplication(MonotonicClock.nanoseconds())
        let progress = response!.resume(head, input.bytes(start..<headEnd))
        worker.leaveApplication()
        advance(progress)
        process()
    }

    /// Takes body bytes that are already buffered: copies up to `max` into `dest` (or drops
    /// them when `dest` is nil) and advances `bodyPos`. Returns the number of body bytes.
    func consumeBody(into dest: UnsafeMutableRawBufferPointer?, max: Int) -> Int {
        var produced = 0
        while !bodyDone && produced < max && bodyPos < input.count {
            let available = input.bytes(bodyPos..<input.count)
            if chunkedDecoder == nil {
                let n = Swift.min(bodyRemaining, available.count, max - produced)
                if let dest { dest.baseAddress!.advanced(by: produced).copyMemory(from: available.baseAddress!, byteCount: n) }
                produced += n
                bodyPos += n
                bodyRemaining -= n
                if bodyRemaining == 0 { bodyDone = true }
            } else {
                switch chunkedDecoder!.step(available, maxData: max - produced) {
                case .data(let s, let c):
                    // Its size and syntax were checked when it arrived.
                    if let dest { dest.baseAddress!.advanced(by: produced).copyMemory(from: available.baseAddress! + s, byteCount: c) }
                    produced += c
                    bodyPos += s + c
                case .needMore:
                    bodyPos = input.count
                case .done(let consumed):
                    bodyPos += consumed
                    bodyDone = true
                case .invalid:
                    preconditionFailure("Internal inconsistency: a chunked body checked on arrival is invalid")
                }
            }
        }
        return produced
    }

    // MARK: - WSGITransport

    func readBody(into buffer: UnsafeMutableRawBufferPointer) throws(WSGIError) -> Int {
        if let spool {
            do {
                return try spool.read(into: buffer)
            } catch {
                throw WSGIError(.clientGone, "reading the buffered request body: \(error)")
            }
        }
        if bodyDone || buffer.isEmpty { return 0 }
        let n = consumeBody(into: buffer, max: buffer.count)
        if n == 0 && !bodyDone {
            // The whole body was received before the app ran: this cannot happen.
            preconditionFailure("Internal inconsistency: a request body was not all buffered")
        }
        return n
    }

    func keepAliveAllowed() -> Bool {
        !worker.drainRequested
    }

    static let continueLine = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    var unsentCount: Int { output.bytes.count - outputSent }

    func sendBuffered(wait: Bool) throws(WSGIError) {
        while outputSent < output.bytes.count {
            let result: Posix.IOResult
            do {
                result = try output.bytes.withUnsafeBytes { raw throws(SystemError) in
                    try Posix.send(fd.raw, UnsafeRawBufferPointer(rebasing: raw[outputSent...]))
                }
            } catch {
                throw WSGIError(.clientGone, "writing the response: \(error)")
            }
            switch result {
            case .done(let n):
                outputSent += n
            case .wouldBlock:
                guard wait else { return }
                let timeout = worker.config.writeTimeout
                let ready: Bool
                do {
                    ready = try Posix.poll(fd.raw, events: Posix.pollOut, timeoutMilliseconds: CInt(timeout * 1000))
                } catch {
                    throw WSGIError(.clientGone, "writing the response: \(error)")
                }
                if !ready { throw WSGIError(.timeout, "writing the response: the client read nothing for \(Int(timeout)) s") }
            }
        }
        output.bytes.removeAll(keepingCapacity: true)
        outputSent = 0
    }

    // MARK: - Output and closing

    func respondError(_ error: HTTPError, fields: String = "") {
        output.bytes.append(contentsOf: ResponseHeadWriter.errorResponse(error, date: worker.date.imfFixdate, fields: fields))
        closeAfterFlush = true
        lingerOnClose = true
    }

    /// After a batch of requests: compact the buffer, write what can be written, and wait for
    /// the next event.
    func finishBatch() {
        guard !closed else { return }
        if start > 0 && response == nil {
            input.removePrefix(start)
            requestEnd -= start
            start = 0
        }
        let flushed = flushSome()
        guard !closed else { return }  // the write failed: the client is gone
        if flushed && fileBody != nil {
            // The head is out: send the file now, then go on (the response's next step, or
            // later requests).
            guard sendFileBody() else { return }
            if response != nil {
                stepResponse()
                return
            }
            if !closeAfterFlush && start < input.count {
                process()
                return
            }
        }
        if !flushed || response != nil {
            // Wait until the client takes more (a streaming response continues then).
            readWatcher.disarm()
            hasWriteWatcher = true
            writeWatcher.arm(timeout: worker.config.writeTimeout)
            return
        }
        if hasWriteWatcher { writeWatcher.disarm() }
        if closeAfterFlush {
            finishClose()
            return
        }
        if worker.draining && isIdle {
            close()
            return
        }
        if awaitingBody {
            // The body may take a while, but must not stop for longer than the body timeout.
            readWatcher.arm(timeout: worker.config.bodyTimeout)
        } else if isIdle {
            headDeadline = 0
            input.release()
            readWatcher.arm(timeout: worker.config.keepAliveTimeout)
        } else {
            // The head must be complete by a fixed time after its first byte: a client
            // trickling a byte at a time does not extend it.
            let now = MonotonicClock.nanoseconds()
            if headDeadline == 0 { headDeadline = now + UInt64(worker.config.headerTimeout * 1e9) }
            readWatcher.arm(timeout: headDeadline > now ? Double(headDeadline - now) / 1e9 : 0.001)
        }
    }

    /// Writes what the socket takes now; true when nothing is left. A failed write closes.
    func flushSome() -> Bool {
        do throws(WSGIError) {
            try sendBuffered(wait: false)
        } catch {
            close()
            return false
        }
        return outputSent == 0 && output.bytes.isEmpty
    }

    /// Closes once the response is out: at once, or after a short lingering read.
    func finishClose() {
        guard lingerOnClose else {
            close()
            return
        }
        lingering = true
        Socket.shutdownWrite(fd.raw)
        input.count = 0
        readWatcher.arm(timeout: 2)
    }

    func close() {
        guard !closed else { return }
        closed = true
        webSocket?.connectionLost()
        readWatcher.disarm()
        if hasWriteWatcher { writeWatcher.disarm() }
        if let response {
            // The client left (or stopped reading) mid-response: close() the iterable, log.
            self.response = nil
            if let fileBody { response.fileSent(fileBody.sent) }
            completeRequest(response.abort())
        }
        spool = nil
        fileBody = nil
        worker.connectionClosed(self)
    }

    /// During a drain: an idle connection is closed now; a busy one after its response.
    func drain() {
        if let ws = webSocket, ws.isUpgraded {
            ws.close(code: 1001, reason: "server shutting down")
            finishWebSocketBatch()
        } else if isIdle {
            close()
        }
    }

    // MARK: - WebSocket

    /// Every value of a request header field (`name` in lowercase).
    func headerValues(_ name: String) -> [String] {
        let buffer = input.bytes(start..<input.count)
        return head.fields.compactMap { f in
            let n = UnsafeRawBufferPointer(rebasing: buffer[f.name])
            guard n.count == name.utf8.count, zip(n, name.utf8).allSatisfy({ ($0 | 0x20) == $1 || $0 == $1 }) else { return nil }
            return String(decoding: UnsafeRawBufferPointer(rebasing: buffer[f.value]), as: UTF8.self)
        }
    }

    /// The checked handshake of a request that asks for a WebSocket; nil when it does not ask
    /// (then it is an ordinary request) or when it was refused (the error is queued).
    func webSocketHandshake() -> WebSocketHandshake? {
        let values = headerValues
        guard WebSocketHandshake.tokensContain(values("upgrade"), "websocket") else { return nil }
        switch WebSocketHandshake.check(isGet: head.methodKind == .get, versionMinor: head.versionMinor, header: values) {
        case .success(let handshake):
            return handshake
        case .failure(.badRequest(let reason)):
            worker.log("refused a WebSocket handshake from \(info.remoteAddr): \(reason)")
            respondError(HTTPError(400, reason))
        case .failure(.unsupportedVersion):
            worker.log("refused a WebSocket handshake from \(info.remoteAddr): unsupported Sec-WebSocket-Version")
            respondError(HTTPError(426, "unsupported Sec-WebSocket-Version"), fields: "Sec-WebSocket-Version: 13\r\n")
        }
        return nil
    }

    /// Calls the application for a WebSocket request: it answers the handshake (the
    /// connection becomes a WebSocket) or returns an ordinary response.
    func upgradeRequest(_ handshake: WebSocketHandshake) {
        let channel = WebSocketChannel(connection: self, handshake: handshake, maxMessage: worker.config.webSocketMaxMessage)
        webSocket = channel
        headDeadline = 0
        headEnd = start + head.length
        requestEnd = headEnd
        bodyPos = headEnd
        bodyDone = true
        chunkedDecoder = nil
        inRequest = true
        requestStartTime = MonotonicClock.nanoseconds()
        worker.enterApplication(requestStartTime)
        let result = worker.app.handleUpgrade(
            head: head, buffer: input.bytes(start..<headEnd), info: info, transport: self, output: output,
            date: worker.date.imfFixdate, endpoint: channel
        )
        worker.leaveApplication()
        switch result {
        case .http(let progress):
            webSocket = nil
            advance(progress)
        case .webSocket(let state):
            inRequest = false
            logRequest(status: 101, bytes: 0)
            start = requestEnd
            parser.reset()
            if state != .suspended { channel.handlerEnded(failed: state == .failed) }
        }
    }

    /// Frames that arrived on a WebSocket.
    func processWebSocket(_ ws: WebSocketChannel) {
        let used = ws.receive(UnsafeMutableRawBufferPointer(start: input.base + start, count: input.count - start))
        start += used
        if start > 0 {
            input.removePrefix(start)
            start = 0
        }
        finishWebSocketBatch()
        worker.flushDirty()
    }

    /// Queues this connection's WebSocket output to be flushed when the handler code returns.
    func sendSoon() {
        guard !isDirty && !closed else { return }
        isDirty = true
        worker.dirty.append(self)
    }

    /// The handler took messages: reading may resume.
    func inboxDrained() {
        if !readWatcher.isArmed { sendSoon() }
    }

    /// A frame of `total` bytes is arriving: make room for it.
    func needInput(_ total: Int) {
        input.reserve(start + total)
    }

    /// Messages the handler has not taken yet stop the reading past this many bytes.
    static let inboxLimit = 4 << 20

    /// After WebSocket activity: flush, then wait for the client's next frames (with the
    /// keepalive timer), for it to read, or close.
    func finishWebSocketBatch() {
        isDirty = false
        guard !closed, let ws = webSocket else { return }
        let flushed = flushSome()
        guard !closed else { return }
        ws.drained()
        if !flushed {
            hasWriteWatcher = true
            writeWatcher.arm(timeout: worker.config.writeTimeout)
            return
        }
        if closeAfterFlush || ws.isFinished {
            lingerOnClose = true
            finishClose()
            return
        }
        if ws.inboxBytes > Self.inboxLimit {
            readWatcher.disarm()  // the handler is behind: let TCP slow the client down
            return
        }
        input.release()
        let timeout: Double
        switch ws.session.state {
        case .open: timeout = ws.awaitingPong ? worker.config.webSocketPingTimeout : worker.config.webSocketPingInterval
        default: timeout = Self.closeHandshakeTimeout
        }
        readWatcher.arm(timeout: timeout)
    }

    /// How long the server waits for the client's close frame after sending its own.
    static let closeHandshakeTimeout = 5.0
}
