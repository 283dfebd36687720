internal import DPosix
internal import DEventLoop
internal import DHTTP1
internal import DWSGI

/// One client connection in a worker: reads and parses requests, runs the application for each
/// in order (pipelining), frames and writes responses, keeps the connection alive or closes it.
/// Bodies up to 1 MiB are read on the loop before the application runs; a larger body, and a
/// large response, go through the WSGITransport calls, which block (with the GIL released) up to
/// the body and write timeouts.
final class Connection: WSGITransport {
    let fd: OwnedFD
    unowned let worker: WorkerProcess
    let info: WSGIConnectionInfo
    let input = InputBuffer(capacity: 16 * 1024)
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

    // The current request's body.
    var headEnd = 0
    var bodyPos = 0
    var bodyRemaining = 0
    var chunkedDecoder: ChunkedDecoder? = nil
    var bodyDone = true
    var bodyError: WSGIError? = nil
    var continuePending = false
    var responseStarted = false
    var outputMark = 0
    /// Unread body of the last request, being dropped before the next request is parsed.
    var discarding = false
    var discardBudget = 0
    /// Decoded bytes of the current chunked body, against the body limit.
    var chunkedReceived = 0
    /// When the request head being received must be complete (monotonic ns; 0: none yet).
    var headDeadline: UInt64 = 0
    /// The head is parsed and its body is being read on the loop before the app runs.
    var awaitingBody = false
    /// How far that body has been checked: a chunked body is decoded once, as it arrives.
    var probe = ChunkedDecoder()
    var probeOffset = 0  // from `start`, so compaction leaves it valid
    var probeTotal = 0

    /// Between requests: nothing buffered or half-parsed, no body to drop, nothing owed to the
    /// client.
    var isIdle: Bool {
        !inRequest && start == input.count && parser.isIdle && !discarding && output.bytes.isEmpty
    }

    /// Bodies up to this size (and chunked bodies, until they reach it) are read on the event
    /// loop before the application is called, so a slow upload never holds the worker.
    static let preBufferLimit = 1 << 20

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
        guard flushSome() else { return }
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
        if isIdle {
            close()  // idle keep-alive connection
        } else if discarding {
            close()  // the rest of an unread body never came; its response was already sent
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
        if input.capacity - input.count < 4096 {
            // Grow for a large head; a head over the limit is refused by the parser first.
            input.reserve(input.count + 16 * 1024)
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

    /// Parses and answers every complete request in the buffer, then flushes.
    func process() {
        loop: while !closeAfterFlush && !closed {
            if discarding {
                if !discardBody() { break loop }
                continue
            }
            if awaitingBody {
                guard bodyIsBuffered() else { break loop }
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
                } else if head.hasBody && !head.expectContinue && (head.chunked || head.contentLength! <= Self.preBufferLimit) {
                    awaitingBody = true
                    probe = ChunkedDecoder()
                    probeOffset = head.length
                    probeTotal = 0
                } else {
                    handleRequest()
                }
            }
        }
        finishBatch()
    }

    /// Whether the whole body of the parsed head is in the buffer (a chunked body: complete, or
    /// past the pre-buffer limit, after which the app streams the rest). A malformed or
    /// oversized chunked body is answered here, before any application code runs.
    func bodyIsBuffered() -> Bool {
        if !head.chunked {
            let bodyStart = start + head.length
            let length = head.contentLength ?? 0
            input.reserve(bodyStart + length + 1)
            return input.count - bodyStart >= length
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
                if probeTotal > Self.preBufferLimit { return true }
            case .needMore:
                probeOffset = input.count - start
            case .done:
                return true
            case .invalid(let error):
                worker.log("rejected the chunked body from \(info.remoteAddr): \(error.reason)")
                respondError(error)
                return false
            }
        }
        return false
    }

    /// Whether `total` decoded bytes of a chunked body cross --limit-request-body (logged).
    func chunkedBodyOverLimit(_ total: Int) -> Bool {
        guard let limit = worker.config.maxRequestBody, total > limit else { return false }
        worker.log("a chunked request body from \(info.remoteAddr) crossed the limit of \(limit) bytes")
        return true
    }

    func handleRequest() {
        headDeadline = 0
        chunkedReceived = 0
        headEnd = start + head.length
        bodyPos = headEnd
        bodyError = nil
        if head.chunked {
            chunkedDecoder = ChunkedDecoder()
            bodyDone = false
        } else {
            chunkedDecoder = nil
            bodyRemaining = head.contentLength ?? 0
            bodyDone = bodyRemaining == 0
        }
        continuePending = head.expectContinue && !bodyDone
        responseStarted = false
        outputMark = output.bytes.count
        // The head must not move while the application runs: body reads use at most this room.
        if !bodyDone { input.reserve(input.count + Self.bodyReadSize) }
        let keepAlive = head.keepAlive && !worker.draining
        inRequest = true
        let startTime = MonotonicClock.nanoseconds()
        worker.enterApplication(startTime)
        let headBytes = input.bytes(start..<headEnd)
        let outcome = worker.app.handle(
            head: head, buffer: headBytes, info: info, transport: self, output: output,
            keepAlive: keepAlive, date: worker.date.imfFixdate
        )
        worker.leaveApplication()
        inRequest = false
        if let log = worker.accessLog {
            let seconds = Double(MonotonicClock.nanoseconds() - startTime) / 1e9
            log.record(remote: info.remoteAddr, date: worker.date.commonLog, head: head, request: input.bytes(start..<headEnd),
                       status: outcome.status, bytes: outcome.bodyBytes, seconds: seconds)
        }
        if !outcome.keepAlive { closeAfterFlush = true }
        if bodyError != nil {
            closeAfterFlush = true
        } else if !bodyDone {
            if continuePending {
                // The client was never told to send its body: it may or may not; close.
                closeAfterFlush = true
            } else {
                discarding = true
                discardBudget = worker.config.maxDiscardBody
            }
        }
        if closeAfterFlush && (!bodyDone || bodyPos < input.count) { lingerOnClose = true }
        start = bodyPos
        parser.reset()
    }

    static let bodyReadSize = 64 * 1024

    /// Drops unread body bytes from the buffer. True when the body is over.
    func discardBody() -> Bool {
        let before = bodyPos
        _ = consumeBody(into: nil, max: discardBudget)
        discardBudget -= bodyPos - before
        start = bodyPos
        if bodyError != nil || (!bodyDone && discardBudget <= 0) {
            closeAfterFlush = true
            lingerOnClose = true
            discarding = false
            return false
        }
        if bodyDone {
            discarding = false
            return true
        }
        return false
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
                    chunkedReceived += c
                    if chunkedBodyOverLimit(chunkedReceived) {
                        bodyError = WSGIError(.bodyTooLarge, "the request body is larger than \(worker.config.maxRequestBody!) bytes")
                        return produced
                    }
                    if let dest { dest.baseAddress!.advanced(by: produced).copyMemory(from: available.baseAddress! + s, byteCount: c) }
                    produced += c
                    bodyPos += s + c
                case .needMore:
                    bodyPos = input.count
                case .done(let consumed):
                    bodyPos += consumed
                    bodyDone = true
                case .invalid(let error):
                    bodyError = WSGIError(.bodyTruncated, "invalid chunked body: \(error.reason)")
                    return produced
                }
            }
        }
        return produced
    }

    // MARK: - WSGITransport

    func readBody(into buffer: UnsafeMutableRawBufferPointer) throws(WSGIError) -> Int {
        if let bodyError { throw bodyError }
        if bodyDone || buffer.isEmpty { return 0 }
        if continuePending {
            continuePending = false
            if !responseStarted && output.bytes.count == outputMark {
                output.bytes.append(contentsOf: Self.continueLine)
                try flush(&output.bytes)
            }
        }
        while true {
            let n = consumeBody(into: buffer, max: buffer.count)
            if let bodyError { throw bodyError }
            if n > 0 || bodyDone { return n }
            // Everything buffered was consumed: reuse the room after the head.
            input.count = headEnd
            bodyPos = headEnd
            let space = UnsafeMutableRawBufferPointer(rebasing: input.freeSpace.prefix(Self.bodyReadSize))
            do throws(WSGIError) {
                let n = try blockingIO("reading the request body", waitFor: Posix.pollIn, timeout: worker.config.bodyTimeout) {
                    () throws(SystemError) in try Posix.read(fd.raw, space)
                }
                if n == 0 { throw WSGIError(.bodyTruncated, "the client closed the connection before the end of the request body") }
                input.count += n
            } catch {
                bodyError = error
                throw error
            }
        }
    }

    func keepAliveAllowed() -> Bool {
        !continuePending && bodyError == nil && !worker.drainRequested
    }

    static let continueLine = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    func flush(_ bytes: inout [UInt8]) throws(WSGIError) {
        responseStarted = true
        var offset = 0
        defer {
            bytes.removeAll(keepingCapacity: true)
            outputSent = 0
        }
        var failure: WSGIError? = nil
        bytes.withUnsafeBytes { raw in
            do throws(WSGIError) {
                while offset < raw.count {
                    offset += try writeBlocking(UnsafeRawBufferPointer(rebasing: raw[offset...]))
                }
            } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// One write, waiting (up to the I/O timeout) for the socket to take bytes.
    func writeBlocking(_ raw: UnsafeRawBufferPointer) throws(WSGIError) -> Int {
        try blockingIO("writing the response", waitFor: Posix.pollOut, timeout: worker.config.writeTimeout) {
            () throws(SystemError) in try Posix.send(fd.raw, raw)
        }
    }

    func sendFile(_ file: CInt, offset: Int, count: Int, after output: inout [UInt8]) throws(WSGIError) -> Int {
        try flush(&output)
        var position = offset
        var sent = 0
        while sent < count {
            let n = try blockingIO("sendfile", waitFor: Posix.pollOut, timeout: worker.config.writeTimeout) { () throws(SystemError) in
                try Posix.sendfile(fd.raw, file, offset: &position, count: count - sent)
            }
            if n == 0 { return sent }  // the file is shorter than it was
            sent += n
        }
        return sent
    }

    /// Runs a non-blocking call on the socket until it makes progress, waiting for `events`
    /// (readable or writable) up to `timeout` seconds at a time. Errors become WSGIErrors for the
    /// application.
    func blockingIO(_ what: String, waitFor events: Int16, timeout: Double,
                    _ call: () throws(SystemError) -> Posix.IOResult) throws(WSGIError) -> Int {
        while true {
            let result: Posix.IOResult
            do {
                result = try call()
                if case .done(let n) = result { return n }
                guard try Posix.poll(fd.raw, events: events, timeoutMilliseconds: CInt(timeout * 1000)) else {
                    throw WSGIError(.timeout, "\(what): the client made no progress for \(Int(timeout)) s")
                }
            } catch let error as SystemError {
                throw WSGIError(.clientGone, "\(what): \(error)")
            } catch let error as WSGIError {
                throw error
            } catch {
                throw WSGIError(.clientGone, "\(what): \(error)")
            }
        }
    }

    // MARK: - Output and closing

    func respondError(_ error: HTTPError) {
        output.bytes.append(contentsOf: ResponseHeadWriter.errorResponse(error, date: worker.date.imfFixdate))
        closeAfterFlush = true
        lingerOnClose = true
    }

    /// After a batch of requests: compact the buffer, write what can be written, and wait for
    /// the next event.
    func finishBatch() {
        guard !closed else { return }
        if start > 0 {
            input.removePrefix(start)
            // An unread body being discarded continues from the same byte.
            bodyPos -= start
            headEnd = max(0, headEnd - start)
            start = 0
        }
        if !flushSome() {
            guard !closed else { return }  // the write failed: the client is gone
            readWatcher.disarm()
            hasWriteWatcher = true
            writeWatcher.arm(timeout: worker.config.writeTimeout)
            return
        }
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
            readWatcher.arm(timeout: worker.config.keepAliveTimeout)
        } else {
            // The head (or the discarded body) must be complete by a fixed time after its first
            // byte: a client trickling a byte at a time does not extend it.
            let now = MonotonicClock.nanoseconds()
            if headDeadline == 0 { headDeadline = now + UInt64(worker.config.headerTimeout * 1e9) }
            readWatcher.arm(timeout: headDeadline > now ? Double(headDeadline - now) / 1e9 : 0.001)
        }
    }

    /// Writes what the socket takes now; true when nothing is left.
    func flushSome() -> Bool {
        while outputSent < output.bytes.count {
            let result: Posix.IOResult
            do {
                result = try output.bytes.withUnsafeBytes { raw in
                    try Posix.send(fd.raw, UnsafeRawBufferPointer(rebasing: raw[outputSent...]))
                }
            } catch {
                close()
                return false
            }
            switch result {
            case .done(let n): outputSent += n
            case .wouldBlock: return false
            }
        }
        output.bytes.removeAll(keepingCapacity: true)
        outputSent = 0
        return true
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
        readWatcher.disarm()
        if hasWriteWatcher { writeWatcher.disarm() }
        worker.connectionClosed(self)
    }

    /// During a drain: an idle connection is closed now; a busy one after its response.
    func drain() {
        if isIdle { close() }
    }
}
