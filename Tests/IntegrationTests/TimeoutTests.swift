import Foundation
import Testing

extension IntegrationSuite {
    /// Issue 11: `--timeout S` (alias `--harakiri`) and `--timeout-grace S`. A request (or a
    /// WebSocket handler step) that runs longer than S in the application is logged (request
    /// line, worker pid, time so far, then the stack of every Python thread), and interrupted
    /// with an exception: 504 when nothing was sent, and the worker goes on with its other
    /// connections. One that does not return within the grace has its worker killed and
    /// replaced. The timeout is 1 s here; the master looks every 100 ms.
    @Suite struct TimeoutTests {
        /// The number of the line of a fixture app that contains `marker`.
        static func line(_ marker: String, in app: String) throws -> Int {
            let source = try String(contentsOfFile: "\(Paths.apps)/\(app)", encoding: .utf8)
            let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
            return try #require(lines.firstIndex { $0.contains(marker) }, "no '\(marker)' in \(app)") + 1
        }

        /// A frame as faulthandler writes it ("line N in f": no comma, unlike a traceback's),
        /// so it can only come from the dump made while the request was stuck.
        static func dumped(_ marker: String, in app: String, function: String) throws -> String {
            "\(app)\", line \(try line(marker, in: app)) in \(function)\n"
        }

        /// Where `text` is in the log, or nil.
        static func offset(of text: String, in log: String) -> Int? {
            log.range(of: text).map { log.distance(from: log.startIndex, to: $0.lowerBound) }
        }

        /// A request stuck in Python (`while True: pass`), in `time.sleep(60)` and in a blocking
        /// socket read without a timeout (which the kernel would restart after the signal, had
        /// its handler SA_RESTART) gets 504 at the timeout. The log has the master's line (the
        /// request line, pid, time so far), then the stack dump with the handler's own line,
        /// then the worker's line. The worker survives: a request sent meanwhile on another
        /// keep-alive connection is answered after the interruption by the same process, and
        /// so is the next one on the interrupted connection.
        @Test(arguments: [
            ("/spin", "# spin: pure Python"), ("/sleep-long", "# sleep-long:"), ("/read-forever", "# read-forever:"),
        ])
        func stuckRequestIsInterrupted(path: String, marker: String) throws {
            try withServer(["--timeout", "1", "testapp:application"], workers: 1) { s in
                let other = try RawClient(port: s.port)
                try other.send("GET /pid HTTP/1.1\r\nHost: x\r\n\r\n")
                let pid = try other.readResponse().text
                let stuck = try RawClient(port: s.port)
                let start = Date()
                try stuck.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
                Thread.sleep(forTimeInterval: 0.3)
                try other.send("GET /pid HTTP/1.1\r\nHost: x\r\n\r\n")
                let r = try stuck.readResponse(timeout: 10)
                let took = Date().timeIntervalSince(start)
                #expect(r.status == 504 && r.reason == "Gateway Timeout" && r.text == "Gateway Timeout\n")
                #expect(took > 0.95 && took < 2.5, "answered \(took) s after the request, with a 1 s timeout")
                let meanwhile = try other.readResponse()
                #expect(meanwhile.status == 200 && meanwhile.text == pid, "answered by \(meanwhile.text), not \(pid)")
                try stuck.send("GET /pid HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(try stuck.readResponse().text == pid, "the interrupted connection is kept")
                #expect(try RawClient.get(s.port, "/pid").text == pid)

                let master = "worker 0 (pid \(pid)): GET \(path) has run for 1."
                let frame = try Self.dumped(marker, in: "testapp.py", function: "application")
                let worker = "worker \(pid): GET \(path) interrupted by the request timeout: answered 504"
                #expect(s.stderrContains(worker), "\(s.stderr.text)")
                let log = s.stderr.text
                let order = [master, "s (timeout 1 s); interrupting it", "Current thread 0x", frame, worker]
                let at = order.compactMap { Self.offset(of: $0, in: log) }
                #expect(at.count == order.count && at == at.sorted(), "\(order) in \(log)")
                #expect(!log.contains("Traceback"), "the interruption is not an error: \(log)")
            }
        }

        /// The dump has every thread of the worker: the application's own thread sleeping in its
        /// loop too, while the main thread is stuck.
        @Test func stacksOfEveryThreadAreLogged() throws {
            try withServer(["--timeout", "1", "testapp:application"], workers: 1) { s in
                _ = try RawClient.get(s.port, "/background-thread")
                #expect(try RawClient.get(s.port, "/spin").status == 504)
                #expect(s.stderrContains("interrupted by the request timeout"))
                let log = s.stderr.text
                #expect(log.contains(try Self.dumped("# spin: pure Python", in: "testapp.py", function: "application")))
                #expect(log.contains(try Self.dumped("time.sleep(0.01)", in: "testapp.py", function: "tick")), "\(log)")
                #expect(log.contains("\nThread 0x"), "\(log)")
            }
        }

        /// Once the response has begun, the interruption can only cut it: the head and the first
        /// piece arrived, no last chunk follows, the connection closes; the worker goes on.
        @Test func begunResponseIsCut() throws {
            try withServer(["--timeout", "1", "testapp:application"], workers: 1) { s in
                let pid = try RawClient.get(s.port, "/pid").text
                let c = try RawClient(port: s.port)
                try c.send("GET /timeout-after-head HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(c.readUntilClosed(timeout: 5))
                let text = String(decoding: c.buffer, as: UTF8.self)
                #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n") && text.hasSuffix("\r\n\r\n5\r\nhead;\r\n"), "\(text)")
                #expect(
                    s.stderrContains("GET /timeout-after-head interrupted by the request timeout: its response is cut"))
                #expect(
                    s.stderr.text.contains(
                        try Self.dumped("# timeout-after-head:", in: "testapp.py", function: "slow")))
                #expect(try RawClient.get(s.port, "/pid").text == pid)
            }
        }

        /// In a WebSocket app: an ordinary request stuck in Python gets 504 and the worker's
        /// WebSocket stays open and echoes; a handler step stuck in Python (blocking-style or
        /// async) ends its handler with 1011, logged under its handshake's request line, while
        /// the other WebSocket goes on. One worker: all of it happens in one process.
        @Test func webSocketsSurvive() throws {
            try withServer(["--timeout", "1", "wsapp:app"], workers: 1) { s in
                let pid = try RawClient.get(s.port, "/pid").text
                let echo = try WSClient(port: s.port, path: "/ws/echo")
                try echo.sendText("before")
                #expect(try echo.read().text == "before")

                let start = Date()
                #expect(try RawClient.get(s.port, "/spin").status == 504)
                #expect(Date().timeIntervalSince(start) < 2.5)
                try echo.sendText("after the request")
                #expect(try echo.read().text == "after the request")

                for (path, function, marker) in [
                    ("/ws/spin", "ws_spin", "# ws-spin:"), ("/ws/aspin", "ws_aspin", "# ws-aspin:"),
                ] {
                    let stuck = try WSClient(port: s.port, path: path)
                    #expect(stuck.handshake.status == 101)
                    let begun = Date()
                    try stuck.sendText("go")
                    let close = try stuck.readClose(timeout: 5)
                    let took = Date().timeIntervalSince(begun)
                    #expect(
                        close.closeCode == 1011 && took > 0.95 && took < 2.5, "\(path): \(close.closeCode) in \(took) s"
                    )
                    try echo.sendText("after \(path)")
                    #expect(try echo.read().text == "after \(path)")
                    #expect(s.stderrContains("worker 0 (pid \(pid)): WebSocket GET \(path) has run for 1."))
                    #expect(s.stderr.text.contains(try Self.dumped(marker, in: "wsapp.py", function: function)))
                }
                #expect(
                    s.stderr.text.components(
                        separatedBy:
                            "a WebSocket handler was interrupted by the request timeout: its WebSocket closes with 1011"
                    ).count == 3, "\(s.stderr.text)")
                #expect(try RawClient.get(s.port, "/pid").text == pid)
            }
        }

        /// A request that does not end after its interruption (it catches the exception and
        /// spins on, or it is in a C call that never returns: glibc's sigwait retries after
        /// EINTR) has its worker killed at the grace and replaced; the kill and the exit are
        /// logged as the timeout's. Meanwhile every other client is served by the other worker.
        @Test(arguments: [
            ("/spin-stubborn", "# spin-stubborn: interrupted"), ("/stuck-in-c", "# stuck-in-c:"),
        ])
        func requestThatDoesNotEndIsKilled(path: String, marker: String) throws {
            try withServer(
                ["--timeout", "1", "--timeout-grace", "1", "--no-access-log", "testapp:application"], workers: 2,
                allowWorkerExits: true
            ) { s in
                let stuck = try RawClient(port: s.port)
                let start = Date()
                try stuck.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
                Thread.sleep(forTimeInterval: 0.2)
                var answeredBy: [String] = []
                while Date().timeIntervalSince(start) < 3 {
                    let r = try RawClient.get(s.port, "/pid")
                    #expect(r.status == 200)
                    answeredBy.append(r.text)
                    Thread.sleep(forTimeInterval: 0.05)
                }
                #expect(stuck.readUntilClosed(timeout: 5) && stuck.buffer.isEmpty, "got \(stuck.buffer.count) bytes")
                let log = s.stderr.text
                let killed = try #require(
                    log.split(separator: "\n").first { $0.contains(") killed: GET \(path) stuck for ") }, "\(log)")
                #expect(
                    killed.range(of: #"stuck for 2\.\d s \(timeout 1 s, grace 1 s\)$"#, options: .regularExpression)
                        != nil,
                    "\(killed)")
                let pid = try #require(
                    killed.range(of: #"pid \d+"#, options: .regularExpression).map {
                        String(killed[$0].dropFirst(4))
                    })
                #expect(log.contains("(pid \(pid)): GET \(path) has run for 1."))
                // The loop's body or its jump (`while True:`, the line before), as the signal falls.
                let line = try Self.line(marker, in: "testapp.py")
                #expect(
                    [line, line - 1].contains { log.contains("testapp.py\", line \($0) in application\n") }, "\(log)")
                #expect(
                    log.contains("(pid \(pid)) exited: killed by the request timeout: signal 9 (SIGKILL)"), "\(log)")
                #expect(
                    answeredBy.count > 10 && !answeredBy.contains(pid), "\(answeredBy) (the stuck worker is \(pid))")
                // Replaced: two live workers again, and the stuck one is not among them.
                var replaced = false
                for _ in 0..<100 where !replaced {
                    replaced = s.liveWorkerPids().count == 2 && !s.liveWorkerPids().contains(Int32(pid)!)
                    if !replaced { Thread.sleep(forTimeInterval: 0.05) }
                }
                #expect(replaced, "\(log)")
                #expect(s.workerExits.count == 1, "\(s.workerExits)")
            }
        }

        /// The signal alone does not interrupt. Sent by hand to a worker (to see its stacks), while
        /// it is idle or in a request under the timeout, it logs the stacks and nothing else: the
        /// Python handler, run at the next bytecode (of the next request, or of the sleeping one
        /// once its sleep is interrupted), finds no request past the timeout and lets it be. The
        /// same guard keeps a signal that arrives just after its request ended off the next one.
        @Test func signalAloneOnlyDumpsStacks() throws {
            try withServer(["--timeout", "5", "testapp:application"], workers: 1) { s in
                let worker = try #require(s.liveWorkerPids().first)
                kill(worker, SIGUSR2)
                #expect(s.stderrContains("Current thread 0x"))
                let r = try RawClient.get(s.port, "/pid")
                #expect(r.status == 200 && r.text == String(worker))
                let c = try RawClient(port: s.port)
                let start = Date()
                try c.send("GET /sleep?1 HTTP/1.1\r\nHost: x\r\n\r\n")
                Thread.sleep(forTimeInterval: 0.3)
                kill(worker, SIGUSR2)
                let slept = try c.readResponse()
                #expect(slept.status == 200 && slept.text == "slept")
                #expect(Date().timeIntervalSince(start) >= 1, "the sleep was cut short")
                let log = s.stderr.text
                #expect(log.components(separatedBy: "Current thread 0x").count == 3, "\(log)")
                #expect(log.contains(try Self.dumped("time.sleep(float(qs", in: "testapp.py", function: "application")))
                #expect(!log.contains("interrupted by the request timeout") && !log.contains("has run for"), "\(log)")
            }
        }

        /// `--harakiri` is the same option (uWSGI's name).
        @Test func harakiriIsAnAlias() throws {
            try withServer(["--harakiri", "1", "testapp:application"], workers: 1) { s in
                let r = try RawClient.get(s.port, "/spin")
                #expect(r.status == 504)
                #expect(s.stderrContains("GET /spin has run for 1."))
            }
        }

        /// Without --timeout the workers have no handler for the signal (so the master must never
        /// send it) and a long request runs to its end; the master wakes for no timer. With it,
        /// both are there: the checks can fail.
        @Test func withoutTimeoutNothingIsWatched() throws {
            for timeout in [false, true] {
                try withServer((timeout ? ["--timeout", "1"] : []) + ["testapp:application"], workers: 1) { s in
                    let worker = try #require(s.liveWorkerPids().first)
                    let status = try String(contentsOfFile: "/proc/\(worker)/status", encoding: .utf8)
                    let caught = try #require(
                        status.split(separator: "\n").first { $0.hasPrefix("SigCgt:") }?.split(separator: "\t").last)
                    let usr2 = (UInt64(caught, radix: 16) ?? 0) & (1 << (UInt64(SIGUSR2) - 1)) != 0
                    #expect(usr2 == timeout, "SigCgt \(caught)")
                    #expect(try RawClient.get(s.port, "/sigusr2").text.contains("on_timeout") == timeout)
                    // The master's event loop: only a timer wakes it while nothing happens.
                    let trace = try traced(s.pid, calls: "epoll_wait") { Thread.sleep(forTimeInterval: 0.6) }
                    let wakeups = trace.split(separator: "\n").filter {
                        $0.contains("epoll_wait(") && $0.contains(" = 0")
                    }
                    #expect(timeout ? wakeups.count >= 3 : wakeups.isEmpty, "\(trace)")
                    if !timeout {
                        let r = try RawClient.get(s.port, "/sleep?1.5")
                        #expect(r.status == 200 && r.text == "slept")
                        #expect(!s.stderr.text.contains("has run for"))
                    }
                }
            }
        }
    }
}
