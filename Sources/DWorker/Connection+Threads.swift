internal import DEventLoop
internal import DHTTP1
internal import DPosix
internal import DWSGI

/// `--threads`: the application's part of a request runs on a request thread. While a job runs
/// (`.inApplication`), the thread has the request's input, body and output, and the connection
/// neither reads nor writes; the job's end comes back to the loop (`threadReturned`), which
/// sends what the response produced and asks the same thread for more.
///
/// The closures a thread holds refer to the connection unretained (`this`): a thread that
/// released the last reference would run its deinit there, and its watchers belong to the
/// loop's thread. The loop keeps it alive meanwhile: in `connections` while a thread has its
/// request, in `abandoned` while its response's close() runs after it closed.
extension Connection {
    /// The current request (its body all here) goes to a request thread, now or when one is
    /// free.
    func callApplicationOnThread(_ threads: RequestThreads) {
        machine.applicationStarted()
        // The read watcher stays armed (a keep-alive client sends nothing until it is answered:
        // disarming and arming it again would cost two epoll_ctl per request); if it fires
        // meanwhile, it is disarmed then (`onReadable`).
        writeWatcher?.disarm()
        let head = self.head
        let buffer = input.bytes(start..<request.headEnd)
        let info = proxied ?? self.info
        let keepAlive = request.keepAlive
        let date = worker.date.imfFixdate
        let app = worker.app
        let output = self.output
        let worker = self.worker
        let this = Unmanaged.passUnretained(self)
        threads.submit(
            { thread in
                worker.threadEntered(thread, head: head, buffer: buffer)
                let progress = app.handle(
                    head: head, buffer: buffer, info: info, transport: this.takeUnretainedValue(), output: output,
                    keepAlive: keepAlive, date: date, holdingGIL: true)
                worker.threadLeft(thread)
                return Self.ended(progress) { this.takeUnretainedValue().threadReturned(thread, progress) }
            }, now: MonotonicClock.nanoseconds())
    }

    /// The output is out: the response's next step, on its thread.
    func resumeOnThread(_ response: WSGIResponse, _ thread: Int) {
        machine.applicationStarted()
        readWatcher.disarm()
        writeWatcher?.disarm()
        let head = self.head
        let buffer = input.bytes(start..<request.headEnd)
        let worker = self.worker
        let this = Unmanaged.passUnretained(self)
        worker.threads!.run(on: thread) { thread in
            worker.threadEntered(thread, head: head, buffer: buffer)
            let progress = response.resume(head, buffer, holdingGIL: true)
            worker.threadLeft(thread)
            return Self.ended(progress) { this.takeUnretainedValue().threadReturned(thread, progress) }
        }
    }

    /// A finished response sets its thread free; one in progress keeps it.
    static func ended(_ progress: WSGIProgress, _ onLoop: @escaping () -> Void) -> RequestThreads.JobEnd {
        if case .done = progress { return RequestThreads.JobEnd(keepsThread: false, onLoop: onLoop) }
        return RequestThreads.JobEnd(keepsThread: true, onLoop: onLoop)
    }

    /// A job ended (on the loop): its output is sent, and the connection goes on.
    func threadReturned(_ thread: Int, _ progress: WSGIProgress) {
        machine.applicationReturned()
        if case .done = progress {
            request.thread = nil
        } else {
            request.thread = thread
        }
        advance(progress)
        process()
    }

    /// The connection closed under a response in progress: its close() runs on its thread,
    /// which is free after that.
    func abandonOnThread(_ response: WSGIResponse, _ thread: Int) {
        // Only numbers cross to the thread: the request's body gives its budget back on the loop.
        let began = request.began
        let headEnd = request.headEnd
        let madeRequestID = request.madeRequestID
        let id = ObjectIdentifier(self)
        worker.abandoned[id] = self
        let this = Unmanaged.passUnretained(self)
        worker.threads!.run(on: thread) { _ in
            let outcome = response.abort(holdingGIL: true)
            return RequestThreads.JobEnd(keepsThread: false) {
                let connection = this.takeUnretainedValue()
                connection.logRequest(
                    status: outcome.status, bytes: outcome.bodyBytes, began: began, headEnd: headEnd,
                    madeRequestID: madeRequestID, logged: outcome.logged)
                let worker = connection.worker
                worker.abandoned[id] = nil
                worker.stopIfDone()
            }
        }
    }
}
