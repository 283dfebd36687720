internal import DEventLoop
internal import DHTTP1
internal import DWSGI

/// `--threads`: the application's part of a request runs on a request thread. While a job runs
/// (`.inApplication`), the thread has the request's input, body and output, and the connection
/// neither reads nor writes; the job's end comes back to the loop (`threadReturned`), which
/// sends what the response produced and asks the same thread for more.
extension Connection {
    /// The current request (its body all here) goes to a request thread, now or when one is
    /// free.
    func callApplicationOnThread() {
        machine.applicationStarted()
        stopWatching()
        worker.requestThread(for: self)
    }

    /// `thread` is this request's from now until its response ends.
    func startApplication(on thread: Int) {
        request.thread = thread
        let head = self.head
        let buffer = input.bytes(start..<request.headEnd)
        let info = self.info
        let keepAlive = request.keepAlive
        let date = worker.date.imfFixdate
        let app = worker.app
        let output = self.output
        worker.threadEntered(thread, head: head, buffer: buffer)
        worker.threads!.run(on: thread) { [self] in
            let progress = app.handle(
                head: head, buffer: buffer, info: info, transport: self, output: output, keepAlive: keepAlive,
                date: date, holdingGIL: true)
            return { [self] in self.threadReturned(thread, progress) }
        }
    }

    /// The output is out: the response's next step, on its thread.
    func resumeOnThread(_ response: WSGIResponse, _ thread: Int) {
        machine.applicationStarted()
        stopWatching()
        let head = self.head
        let buffer = input.bytes(start..<request.headEnd)
        worker.threadEntered(thread, head: head, buffer: buffer)
        worker.threads!.run(on: thread) { [self] in
            let progress = response.resume(head, buffer, holdingGIL: true)
            return { [self] in self.threadReturned(thread, progress) }
        }
    }

    /// A job ended (on the loop): its output is sent, and the connection goes on.
    func threadReturned(_ thread: Int, _ progress: WSGIProgress) {
        worker.threadLeft(thread)
        machine.applicationReturned()
        advance(progress)
        process()
    }

    /// The connection closed under a response in progress: its close() runs on its thread,
    /// which is free after that.
    func abandonOnThread(_ response: WSGIResponse, _ thread: Int) {
        let ended = request
        worker.threads!.run(on: thread) { [self] in
            let outcome = response.abort(holdingGIL: true)
            return { [self] in
                self.logRequest(
                    status: outcome.status, bytes: outcome.bodyBytes, began: ended.began, headEnd: ended.headEnd)
                self.worker.releaseThread(thread)
            }
        }
    }

    func stopWatching() {
        readWatcher.disarm()
        writeWatcher?.disarm()
    }
}
