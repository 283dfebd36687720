internal import DHTTP1
internal import DPosix
internal import DWSGI

/// The request a connection is receiving or answering, from its head to its response's end:
/// its fields mean something while the state machine is in `.body` or `.responding`, and are
/// cleared (the body's budget given back) when it ends. (A plain value rather than an optional:
/// the phase is the state machine's, and an optional of this struct costs generic copies on
/// the hot path.)
struct InFlight {
    /// End of its head in the input (the head is `start ..< headEnd`).
    var headEnd = 0
    /// When it began (monotonic nanoseconds), for the access log.
    var began: UInt64 = 0
    /// Whether its response may keep the connection open (the client allows it; no drain).
    var keepAlive = false
    /// Its body, when the head announced one.
    var body: RequestBody? = nil
    /// The application's response while it is produced step by step.
    var response: WSGIResponse? = nil
    /// A file being sent with sendfile after the head: a file_wrapper file, or a static file.
    var file: FileBody? = nil
    /// A static response whose file is being sent: what to log and keep once it is out.
    var staticEnding: (status: Int, bytes: Int, keepAlive: Bool)? = nil
    /// --threads: the request thread its response in progress keeps until its close()
    /// (Connection+Threads).
    var thread: Int? = nil
    /// The counter of the `X-Request-ID` the worker made for it (`RequestID`); 0: the client
    /// sent one that is kept.
    var madeRequestID: UInt64 = 0
}

extension Connection {
    // MARK: - Heads

    /// Parses the next request head and starts answering it; false when more bytes are needed.
    func parseHead() -> Bool {
        if speaksUWSGI && gatewayVars == nil {
            guard let parsed = translateUWSGIPacket() else { return false }
            if !parsed { return true }
        }
        switch parser.parse(input.bytes(start..<input.count), into: &head) {
        case .incomplete:
            return false
        case .invalid(let error):
            refuse(error, log: "rejected request from \(clientAddress): \(error.status) \(error.reason)")
        case .complete:
            dispatch()
        }
        return true
    }

    /// A complete head goes to the first that answers it: a refusal (a body over the limit),
    /// a static file, the application's WebSocket handler, or the application after its body.
    func dispatch() {
        if let limit = worker.config.maxRequestBody, let length = head.contentLength, length > limit {
            refuse(
                HTTPError(413, "request body too large"),
                log: "refused a \(length)-byte request body from \(clientAddress): the limit is \(limit)")
            return
        }
        if let statics = worker.statics, let (map, path, query) = staticTarget(statics),
            serveStatic(statics, map, path, query)
        {
            return
        }
        if head.upgrade && !head.hasBody {
            switch checkWebSocketHandshake() {
            case .notWebSocket: break
            case .refused: return
            case .valid(let handshake):
                upgradeRequest(handshake)
                return
            }
        }
        guard head.hasBody else {
            beginRequest(keepAlive: head.keepAlive, hasBody: false)
            callApplication()
            return
        }
        // The request moves to the front of the buffer, so its body's offsets hold while more of
        // it arrives (the head's ranges are relative to its start).
        if start > 0 {
            input.removePrefix(start)
            start = 0
        }
        beginRequest(keepAlive: head.keepAlive, hasBody: true)
        let body = RequestBody(
            framing: head.chunked ? .chunked : .length(head.contentLength!), start: request.headEnd,
            budget: worker.bodyBudget, limit: worker.config.maxRequestBody, bufferSize: worker.config.bodyBufferSize)
        request.body = body
        if case .refused(let error, let fields, let log)? = body.prepare(input) {
            refuse(error, fields: fields, log: log)
            return
        }
        // The client asked whether to send its body: it may (the limits were checked).
        if head.expectContinue { output.bytes.append(contentsOf: Self.continueLine) }
    }

    static let continueLine = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    // MARK: - The one beginning and the one end of every request

    /// Starts the current request (application, static file or WebSocket): the state machine
    /// moves on and the request's clock starts. Returns whether its response may keep the
    /// connection open.
    @discardableResult
    func beginRequest(keepAlive: Bool, hasBody: Bool) -> Bool {
        let offered = machine.receivedHead(keepAlive: keepAlive, hasBody: hasBody)
        output.reserveForResponse()
        request = InFlight(
            headEnd: start + head.length, began: MonotonicClock.nanoseconds(), keepAlive: offered,
            madeRequestID: head.clientRequestID == nil ? worker.nextRequestID() : 0)
        return offered
    }

    /// Ends the current request: its access log line, its body's memory and file given back,
    /// the next (pipelined) request's start, and whether the connection stays open (or becomes
    /// a WebSocket).
    func endRequest(status: Int, bytes: Int, keepAlive: Bool, upgraded: Bool = false, logged: [String?] = []) {
        logRequest(status: status, bytes: bytes, logged: logged)
        let began = request.began
        start = request.body?.end ?? request.headEnd
        request = InFlight()
        parser.reset()
        if upgraded {
            machine.upgraded()
        } else {
            machine.respondedCompletely(keepAlive: keepAlive, unreadInput: start < input.count)
            worker.requestAnswered(status: status, began: began)
        }
    }

    /// The connection closed under a request: a response in progress is abandoned (its
    /// iterable's close() runs) and logged; the body's budget goes back.
    func abandonRequest() {
        if let response = request.response {
            if let file = request.file { response.fileSent(file.sent) }
            if let thread = request.thread {
                abandonOnThread(response, thread)
                request = InFlight()
                return
            }
            let outcome = response.abort()
            logRequest(status: outcome.status, bytes: outcome.bodyBytes, logged: outcome.logged)
        } else if let ending = request.staticEnding {
            logRequest(status: ending.status, bytes: request.file.map { $0.sent } ?? ending.bytes)
        }
        request = InFlight()
    }

    /// The access log line of the current request (its head is `start ..< request.headEnd`).
    func logRequest(status: Int, bytes: Int, logged: [String?] = []) {
        logRequest(
            status: status, bytes: bytes, began: request.began, headEnd: request.headEnd,
            madeRequestID: request.madeRequestID, logged: logged)
    }

    func logRequest(status: Int, bytes: Int, began: UInt64, headEnd: Int, madeRequestID: UInt64, logged: [String?]) {
        guard let log = worker.accessLog else { return }
        log.record(
            AccessLog.Entry(
                remote: clientAddress, head: head, request: input.bytes(start..<headEnd), status: status, bytes: bytes,
                nanoseconds: MonotonicClock.nanoseconds() &- began, madeRequestID: requestID(madeRequestID),
                logged: logged),
            date: worker.date)
    }

    /// The made `X-Request-ID` of the current request, for the environ; nil: the client's.
    var madeRequestID: RequestID? { requestID(request.madeRequestID) }

    /// The made ID of a request's `counter`; nil for 0 (the client's is kept).
    func requestID(_ counter: UInt64) -> RequestID? {
        counter == 0 ? nil : RequestID(prefix: requestIDPrefix, counter: counter)
    }

    // MARK: - Bodies and refusals

    /// Takes in what has arrived of the body; true when the request moved on (the body is all
    /// here and the application was called, or it was refused).
    func receiveBody() -> Bool {
        switch request.body!.receive(input) {
        case .needMore:
            // The last read filled the buffer (the head's first 4 KiB, usually): the rest of the
            // body is likely in the socket already, and is read now rather than after a
            // registration with the loop and a wake-up.
            guard lastReadFilled else { return false }
            switch readSome() {
            case .data: return true
            case .wouldBlock: return false
            case .eof, .error:
                close()
                return false
            }
        case .complete:
            machine.receivedBody()
            callApplication()
        case .refused(let error, let fields, let log):
            refuse(error, fields: fields, log: log)
        }
        return true
    }

    /// Refuses the request before any application code runs: the error response is the last one
    /// on the connection.
    func refuse(_ error: HTTPError, fields: String = "", log message: String) {
        worker.log(message)
        machine.refused()
        queueRefusal(error, fields: fields)
    }

    /// Queues a refusal's response (the state machine has moved already); the request, if one
    /// began, is dropped with its body.
    func queueRefusal(_ error: HTTPError, fields: String = "") {
        request = InFlight()
        ServerResponse.appendRefusal(&output.bytes, error, fields: fields, date: worker.date.imfFixdate)
    }

    // MARK: - The application

    /// Calls the application for the current request, whose body (if any) is all here.
    func callApplication() {
        if let threads = worker.threads {
            callApplicationOnThread(threads)
            return
        }
        worker.enterApplication(MonotonicClock.nanoseconds(), head: head, buffer: input.bytes(start..<request.headEnd))
        func handle(_ info: WSGIConnectionInfo) -> WSGIProgress {
            worker.app.handle(
                head: head, buffer: input.bytes(start..<request.headEnd), info: info, transport: self, output: output,
                keepAlive: request.keepAlive, date: worker.date.imfFixdate)
        }
        let progress = proxied == nil ? handle(info) : handle(proxied!)
        worker.leaveApplication()
        advance(progress)
    }

    /// Where the application's response stands: complete (the request ends), or more to come
    /// once the output drains (a step, or a file first).
    func advance(_ progress: WSGIProgress) {
        switch progress {
        case .done(let outcome):
            endRequest(
                status: outcome.status, bytes: outcome.bodyBytes, keepAlive: outcome.keepAlive, logged: outcome.logged)
        case .more(let response):
            request.response = response
        case .sendFile(let response, let fd, let offset, let count):
            request.response = response
            request.file = FileBody(fd: fd, offset: offset, remaining: count, owner: nil)
        }
    }

    /// The output is out and a response is still in progress: its file goes on, then its next
    /// step (or, for a static file, its end); then later requests.
    func continueResponse() {
        guard sendFile() else { return }
        if let response = request.response {
            if let thread = request.thread {
                resumeOnThread(response, thread)
                return
            }
            worker.enterApplication(
                MonotonicClock.nanoseconds(), head: head, buffer: input.bytes(start..<request.headEnd))
            let progress = response.resume(head, input.bytes(start..<request.headEnd))
            worker.leaveApplication()
            advance(progress)
        } else if let ending = request.staticEnding {
            endRequest(status: ending.status, bytes: ending.bytes, keepAlive: ending.keepAlive)
        }
        process()
    }

    // MARK: - Request fields

    /// Every value of a request header field (`name` in lowercase).
    func headerValues(_ name: String) -> [String] {
        let buffer = input.bytes(start..<input.count)
        return head.fields.compactMap { f in
            let n = UnsafeRawBufferPointer(rebasing: buffer[f.name])
            guard n.count == name.utf8.count, zip(n, name.utf8).allSatisfy({ ($0 | 0x20) == $1 || $0 == $1 }) else {
                return nil
            }
            return String(decoding: UnsafeRawBufferPointer(rebasing: buffer[f.value]), as: UTF8.self)
        }
    }
}
