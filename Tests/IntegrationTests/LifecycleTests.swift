import DConfig
import Foundation
import Testing

extension IntegrationSuite {
    @Suite struct LifecycleTests {
        /// An app that fails to import ends the server at start-up, non-zero, with the traceback.
        @Test func importFailureExitsWithTraceback() throws {
            let s = try ServerProcess(["broken:application"], workers: 2, waitReady: false)
            let status = s.waitForExit(timeout: 30)
            #expect(status == 4)
            #expect(s.stderr.text.contains("Traceback (most recent call last)"))
            #expect(
                s.stderr.text.contains("ModuleNotFoundError: No module named 'this_module_does_not_exist_anywhere'"))
            #expect(s.stderr.text.contains("stopping: the application failed to load"))
            #expect(s.liveWorkerPids().isEmpty)

            let n = try ServerProcess(["notcallable:application"], workers: 1, waitReady: false)
            #expect(n.waitForExit(timeout: 30) == 4)
            #expect(
                n.stderr.text.contains("TypeError: 'application' in module 'notcallable' is not callable (it is int)"))

            let m = try ServerProcess(["testapp:nosuchname"], workers: 1, waitReady: false)
            #expect(m.waitForExit(timeout: 30) == 4)
            #expect(m.stderr.text.contains("has no attribute 'nosuchname'"))
        }

        /// Bad flags and values are refused with a message that names them, exit status 64 (as
        /// ArgumentParser's own usage errors). A negative value needs `=`: alone, "-1" reads as
        /// a flag.
        @Test func badFlags() throws {
            for (args, needle) in [
                (["--no-such-flag", "testapp:application"], "--no-such-flag"),
                (["--workers", "0", "testapp:application"], "Error: --workers must be at least 1 (got 0)"),
                (
                    ["--bind", "nonsense", "testapp:application"],
                    "Error: --bind: 'nonsense' is not HOST:PORT, :PORT or unix:PATH"
                ),
                (
                    ["--bind", "host:70000", "testapp:application"],
                    "Error: --bind: 'host:70000' has an invalid port '70000'"
                ),
                (["--workers", "two", "testapp:application"], "--workers"),
                (
                    ["--body-spool-dir", "/no/such/dir", "testapp:application"],
                    "Error: --body-spool-dir: '/no/such/dir' is not a directory"
                ),
                (
                    ["--body-buffer-size=-1", "testapp:application"],
                    "Error: --body-buffer-size must be at least 0 (got -1)"
                ),
                (
                    ["--limit-request-body=-1", "testapp:application"],
                    "Error: --limit-request-body must be at least 0 (got -1)"
                ),
                (
                    ["--keep-alive", "0", "testapp:application"],
                    "Error: --keep-alive must be a positive number of seconds (got 0.0)"
                ),
                (["--timeout=-1", "testapp:application"], "Error: --timeout must be at least 0 (got -1.0)"),
                (
                    ["--websocket-deflate-memory=-1", "testapp:application"],
                    "Error: --websocket-deflate-memory must be at least 0 (got -1)"
                ),
                (["--harakiri=-2", "testapp:application"], "Error: --timeout must be at least 0 (got -2.0)"),
                (
                    ["--timeout-grace", "nan", "testapp:application"],
                    "Error: --timeout-grace: 'nan' is not a number of seconds"
                ),
                (["app/module.py"], "Error: MODULE:CALLABLE: 'app/module.py' is a path, not a module name"),
                ([], "Error: missing the application: give MODULE:CALLABLE or --wsgi-file"),
            ] {
                let s = try ServerProcess(args, workers: 1, bind: nil, waitReady: false)
                let status = s.waitForExit(timeout: 10)
                #expect(status == 64, "\(args)")
                #expect(s.stderr.text.contains(needle), "\(args): \(s.stderr.text)")
            }
            let help = try ServerProcess(["--help"], workers: 1, bind: nil, waitReady: false)
            #expect(help.waitForExit(timeout: 10) == 0)
            #expect(!help.stdout.text.contains("--worker "), "the worker's option is hidden")
        }

        /// Every problem is reported at once, one line each, not just the first.
        @Test func allProblemsAreReported() throws {
            let s = try ServerProcess(
                [
                    "--workers", "0", "--keep-alive=-1", "--bind", "nonsense", "--static-expires", "/x=1",
                    "--chdir", "/no/such/dir",
                ], workers: 1, bind: nil, waitReady: false)
            #expect(s.waitForExit(timeout: 10) == 64)
            let lines = s.stderr.text.split(separator: "\n").filter { $0.hasPrefix("Error: ") }
            #expect(
                Set(lines) == [
                    "Error: --bind: 'nonsense' is not HOST:PORT, :PORT or unix:PATH",
                    "Error: --static-expires: no --static-map has the prefix '/x'",
                    "Error: missing the application: give MODULE:CALLABLE or --wsgi-file",
                    "Error: --workers must be at least 1 (got 0)",
                    "Error: --keep-alive must be a positive number of seconds (got -1.0)",
                    "Error: --chdir: '/no/such/dir' is not a directory",
                ], "\(s.stderr.text)")
        }

        /// A worker's command line is only `--worker SLOT`: its configuration comes through a
        /// descriptor, closed before the application runs, and still takes effect there (an
        /// idle connection is closed at --keep-alive 1).
        @Test func workerConfigurationComesThroughADescriptor() throws {
            try withServer(["--keep-alive", "1", "testapp:application"]) { s in
                var slots: [String] = []
                for pid in s.liveWorkerPids() {
                    let argv = try String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8).split(
                        separator: "\0"
                    ).map(String.init)
                    #expect(argv.count == 3 && argv[1] == "--worker", "\(argv)")
                    slots.append(argv.last ?? "")
                    let fds = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")
                    let open = fds.compactMap {
                        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")
                    }
                    #expect(!open.contains { $0.contains("dispatchd-config") }, "\(open)")
                }
                #expect(slots.sorted() == ["0", "1"])
                let c = try RawClient(port: s.port)
                try c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                _ = try c.readResponse()
                let t = Date()
                #expect(c.isClosedByServer(timeout: 5))
                #expect(Date().timeIntervalSince(t) < 2.5)
            }
        }

        /// --help names every setting and shows the defaults the configuration has: keep-alive
        /// outlasts the 60 s idle timeout of common proxies; request bodies stop at 100 MiB; no
        /// request timeout (and --harakiri is its other name).
        @Test func helpShowsSettingsAndDefaults() throws {
            let help = try ServerProcess(["--help"], workers: 1, bind: nil, waitReady: false)
            #expect(help.waitForExit(timeout: 10) == 0)
            let text = help.stdout.text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            for setting in Setting.allCases where setting != .app {
                // "--name <value>", "--flag Help...", or "--name, --alias <value>".
                let named = text.contains("--\(setting.rawValue) ") || text.contains("--\(setting.rawValue), --")
                #expect(named, "--help documents --\(setting.rawValue)")
            }
            #expect(
                text.contains(
                    "--timeout, --harakiri <seconds> Seconds a request (or a WebSocket handler step) may run in the application, 0 for no limit (default: none)."
                ))
            #expect(text.contains("before its worker is killed and replaced (default: 5)."))
            #expect(
                text.contains(
                    "--keep-alive <seconds> Seconds an idle keep-alive connection is kept open (default: 75, longer than the 60 s"
                ))
            #expect(
                text.contains(
                    "--limit-request-body <bytes> Largest request body in bytes, 0 for unlimited; larger gets 413 before the app runs (default: 104857600, 100 MiB;"
                ))
        }

        /// A worker killed with SIGKILL under load is replaced and the server keeps answering:
        /// of the requests made meanwhile, only the one the killed worker was serving may fail.
        @Test func killedWorkerIsReplaced() throws {
            try withServer(["--no-access-log", "testapp:application"], allowWorkerExits: true) { s in
                let before = s.liveWorkerPids()
                #expect(before.count == 2)
                let stop = LoadFlag()
                let counts = LoadCounts()
                let port = s.port
                let load = Thread {
                    while !stop.isSet {
                        do {
                            let r = try RawClient.request(
                                port, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout: 5)
                            counts.add(ok: r.status == 200)
                        } catch {
                            counts.add(ok: false)
                        }
                    }
                    counts.finish()
                }
                load.start()
                Thread.sleep(forTimeInterval: 0.3)
                kill(before[0], SIGKILL)
                var replaced = false
                for _ in 0..<200 where !replaced {
                    Thread.sleep(forTimeInterval: 0.05)
                    let text = s.stderr.text
                    replaced =
                        text.contains("pid \(before[0])) exited: signal 9 (SIGKILL)") && s.liveWorkerPids().count == 2
                }
                Thread.sleep(forTimeInterval: 0.3)  // load on the replacement too
                stop.set()
                counts.waitFinished()
                #expect(replaced, "\(s.stderr.text)")
                #expect(counts.failed <= 1, "\(counts.failed) of \(counts.ok + counts.failed) requests failed")
                #expect(counts.ok > 50, "only \(counts.ok) requests succeeded")
            }
        }

        /// With one of two workers stuck in a 20-second request, 800 requests on new
        /// connections are all answered promptly by the other.
        @Test func stuckWorkerGetsNoConnections() throws {
            try withServer(["--no-access-log", "--graceful-timeout", "1", "testapp:application"]) { s in
                let slow = try RawClient(port: s.port)
                try slow.send("GET /sleep?20 HTTP/1.1\r\nHost: x\r\n\r\n")
                Thread.sleep(forTimeInterval: 0.3)
                let start = Date()
                var worst: TimeInterval = 0
                for _ in 0..<800 {
                    let t = Date()
                    let r = try RawClient.request(
                        s.port, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout: 5)
                    #expect(r.status == 200)
                    worst = max(worst, Date().timeIntervalSince(t))
                }
                let total = Date().timeIntervalSince(start)
                #expect(total < 15, "800 requests took \(total) s")
                #expect(worst < 2, "slowest request took \(worst) s")
            }
        }

        /// Long-lived connections end up evenly spread. One of two workers is inside a 1-second
        /// request while 150 keep-alive connections open: the other worker takes them all. Once
        /// it is back, the next 150 go to it until both hold as many (round-robin would leave
        /// them 75 and 225).
        @Test func heldConnectionsEvenOutAfterAWorkerFellBehind() throws {
            try withServer(["--no-access-log", "testapp:application"]) { s in
                var pid = ""
                let slow = try RawClient(port: s.port)
                try slow.send("GET /pid HTTP/1.1\r\nHost: x\r\n\r\n")
                pid = try slow.readResponse().text
                try slow.send("GET /sleep?1 HTTP/1.1\r\nHost: x\r\n\r\n")
                Thread.sleep(forTimeInterval: 0.2)
                var clients: [RawClient] = []
                var onSlow = 0
                for round in 0..<2 {
                    for _ in 0..<150 {
                        let c = try RawClient(port: s.port)
                        try c.send("GET /pid HTTP/1.1\r\nHost: x\r\n\r\n")
                        let r = try c.readResponse()
                        #expect(r.status == 200)
                        if r.text == pid { onSlow += 1 }
                        clients.append(c)
                    }
                    if round == 0 {
                        #expect(onSlow == 0, "\(onSlow) of 150 connections went to the worker inside a request")
                        #expect(try slow.readResponse().text == "slept")
                    }
                }
                // The slow worker holds its own connection and its share of the 300.
                #expect(abs(onSlow + 1 - (300 - onSlow)) <= 4, "\(onSlow) + 1 against \(300 - onSlow)")
                withExtendedLifetime(clients) {}
            }
        }

        /// SIGTERM and SIGINT let an in-flight request finish (its response says
        /// `Connection: close`), refuse new connections while it runs, and exit 0.
        @Test(arguments: [SIGTERM, SIGINT])
        func drainsInFlightRequest(signal: Int32) throws {
            let s = try ServerProcess(["testapp:application"], workers: 1)
            let c = try RawClient(port: s.port)
            try c.send("GET /sleep?1.5 HTTP/1.1\r\nHost: x\r\n\r\n")
            Thread.sleep(forTimeInterval: 0.3)
            kill(s.pid, signal)
            Thread.sleep(forTimeInterval: 0.2)
            // The request is still running: the drain is under way.
            var p = pollfd(fd: c.fd, events: Int16(POLLIN), revents: 0)
            #expect(poll(&p, 1, 0) == 0, "the response came before the test could try a new connection")
            #expect(s.process.isRunning)
            #expect(throws: ClientError.self, "a new connection was accepted during the drain") {
                _ = try RawClient(port: s.port)
            }
            let r = try c.readResponse()
            #expect(r.status == 200)
            #expect(r.text == "slept")
            #expect(r.header("Connection") == "close")
            #expect(s.waitForExit(timeout: 10) == 0)
            #expect(s.stderr.text.contains("exited: exit status 0"))
        }

        /// --graceful-timeout: a request still running when it expires is cut (the workers are
        /// killed, the master says so) and the master exits 0, as gunicorn does.
        @Test func gracefulTimeoutExpires() throws {
            let s = try ServerProcess(["--graceful-timeout", "1", "testapp:application"], workers: 2)
            let workers = s.liveWorkerPids()
            let c = try RawClient(port: s.port)
            try c.send("GET /sleep?20 HTTP/1.1\r\nHost: x\r\n\r\n")
            Thread.sleep(forTimeInterval: 0.3)
            let signalled = Date()
            kill(s.pid, SIGTERM)
            let status = s.waitForExit(timeout: 10)
            let took = Date().timeIntervalSince(signalled)
            #expect(status == 0)
            #expect(took > 0.9 && took < 3, "exited \(took) s after SIGTERM with a 1 s graceful timeout")
            let log = s.stderr.text
            #expect(log.contains("graceful timeout: killing the remaining workers"), "\(log)")
            #expect(log.contains("exited: signal 9 (SIGKILL)"), "the busy worker was not killed: \(log)")
            #expect(log.contains("exited: exit status 0"), "the idle worker did not drain: \(log)")
            #expect(c.readUntilClosed(timeout: 2) && c.buffer.isEmpty, "the cut request got \(c.buffer.count) bytes")
            for w in workers { #expect(!ProcFS.isAlive(w)) }
        }

        /// Connections handed to a worker that dies before taking them off its channel are not
        /// lost: the master takes them back and another worker answers them. (A stopped worker
        /// is not inside the application, so the master keeps handing it its share: the
        /// connections the other one answered stay open, so both hold as many.)
        @Test func connectionsQueuedOnADeadWorkerAreServed() throws {
            try withServer(["--no-access-log", "testapp:application"], workers: 2, allowWorkerExits: true) { s in
                let stopped = try #require(s.liveWorkerPids().first)
                kill(stopped, SIGSTOP)
                var clients: [RawClient] = []
                for _ in 0..<20 {
                    let c = try RawClient(port: s.port)
                    try c.send("GET /pid HTTP/1.1\r\nHost: x\r\n\r\n")
                    clients.append(c)
                    Thread.sleep(forTimeInterval: 0.02)  // one at a time: the one holding fewer gets each
                }
                Thread.sleep(forTimeInterval: 0.3)
                var waiting = 0
                for c in clients {
                    var p = pollfd(fd: c.fd, events: Int16(POLLIN), revents: 0)
                    if poll(&p, 1, 0) == 0 { waiting += 1 }
                }
                #expect(waiting >= 5, "only \(waiting) connections were queued on the stopped worker")
                kill(stopped, SIGKILL)
                for (i, c) in clients.enumerated() {
                    let r = try c.readResponse(timeout: 10)
                    #expect(r.status == 200 && r.text != String(stopped), "connection \(i)")
                }
                #expect(s.stderrContains("left \(waiting) connections it had not taken"), "\(s.stderr.text)")
            }
        }

        /// --backlog sets the length of the listener's queue (the Send-Q `ss` shows for a
        /// listening socket); 1024 by default.
        @Test func backlog() throws {
            for (arguments, expected) in [(["--backlog", "37"], 37), ([], 1024)] {
                try withServer(arguments + ["testapp:application"], workers: 1) { s in
                    let backlog = try Sockets.listenBacklog(port: s.port)
                    #expect(backlog == expected)
                }
            }
        }

        /// With no --bind the server listens on 127.0.0.1:8000; MODULE without ':CALLABLE'
        /// serves the module's `application`.
        @Test func defaultBindAndCallable() throws {
            let s = try ServerProcess(["testapp"], workers: 1, bind: nil)
            #expect(s.stderr.text.contains("listening on http://127.0.0.1:8000"), "\(s.stderr.text)")
            #expect(s.port == 8000)
            #expect(try RawClient.get(8000, "/hello").text == "Hello, World!")
            s.stop()
        }

        /// A worker that finds a different libpython at run time than the one dispatchd was
        /// built against stops the server at start-up (exit 3) with a message that says what to
        /// do. (A preloaded library makes the interpreter report another version.)
        @Test func pythonVersionCheck() throws {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
                "fakepy-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let library = dir.appendingPathComponent("fakepy.so").path
            let cc = Process()
            cc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            cc.arguments = [
                "cc", "-shared", "-fPIC", "-o", library,
                Paths.fixtures.appendingPathComponent("fake_python_version.c").path,
            ]
            try cc.run()
            cc.waitUntilExit()
            try #require(cc.terminationStatus == 0)
            let s = try ServerProcess(
                ["testapp:application"], workers: 2, waitReady: false, environment: ["LD_PRELOAD": library])
            #expect(s.waitForExit(timeout: 30) == 3)
            let log = s.stderr.text
            #expect(
                log.contains("but is running Python 2.7.18; rebuild with PYTHON set to the interpreter you want"),
                "\(log)")
            #expect(log.contains("stopping: the Python interpreter could not start"))
            #expect(s.liveWorkerPids().isEmpty)
        }

        /// SIGQUIT stops at once, without waiting for in-flight requests.
        @Test func sigquitStopsImmediately() throws {
            let s = try ServerProcess(["testapp:application"], workers: 2)
            let workers = s.liveWorkerPids()
            let c = try RawClient(port: s.port)
            try c.send("GET /sleep?20 HTTP/1.1\r\nHost: x\r\n\r\n")
            Thread.sleep(forTimeInterval: 0.3)
            let start = Date()
            kill(s.pid, SIGQUIT)
            #expect(s.waitForExit(timeout: 5) != nil)
            #expect(Date().timeIntervalSince(start) < 3)
            Thread.sleep(forTimeInterval: 0.2)
            for w in workers { #expect(!ProcFS.isAlive(w)) }
        }

        /// Workers that die at start-up are restarted with growing delays (0.1 s doubling,
        /// measured between the starts); after 8 failures in a row the master gives up and
        /// exits non-zero with the reason.
        @Test func crashLoopEndsTheServer() throws {
            let s = try ServerProcess(["crashing:application"], workers: 1, waitReady: false)
            var starts: [Date] = []
            while s.process.isRunning {
                let seen = s.stderr.text.components(separatedBy: ") started").count - 1
                while starts.count < seen { starts.append(Date()) }
                Thread.sleep(forTimeInterval: 0.01)
            }
            #expect(s.waitForExit(timeout: 1) == 1)
            let log = s.stderr.text
            #expect(log.contains("stopping: worker 0 failed 8 times in a row at start-up"), "\(log)")
            #expect(starts.count == 8, "\(starts.count) starts")
            // Each gap is the worker's short life plus the back-off: 0.1, 0.2, 0.4 ... 6.4 s.
            for i in 1..<starts.count {
                let gap = starts[i].timeIntervalSince(starts[i - 1])
                let delay = 0.1 * Double(1 << (i - 1))
                #expect(
                    gap >= delay * 0.95 && gap < delay + 1.0,
                    "start \(i): \(gap) s after the previous, back-off \(delay) s")
            }
        }

        /// Workers exit by themselves when the master dies (their channel reaches EOF).
        @Test func workersExitWhenMasterDies() throws {
            let s = try ServerProcess(["testapp:application"], workers: 2)
            let workers = s.liveWorkerPids()
            #expect(workers.count == 2)
            kill(s.pid, SIGKILL)
            _ = s.waitForExit(timeout: 5)
            var alive = workers
            for _ in 0..<100 where !alive.isEmpty {
                Thread.sleep(forTimeInterval: 0.05)
                alive = alive.filter { ProcFS.isAlive($0) }
            }
            #expect(alive.isEmpty, "workers \(alive) outlived a killed master")
        }

        /// Workers do not leak descriptors across many connections.
        @Test func noDescriptorLeaks() throws {
            try withServer(["testapp:application"], workers: 1) { s in
                let worker = try #require(s.liveWorkerPids().first)
                _ = try RawClient.get(s.port, "/hello")
                Thread.sleep(forTimeInterval: 0.3)  // the warm-up connection is closed by now
                let before = ProcFS.openFDCount(worker)
                for i in 0..<300 {
                    let path = ["/hello", "/gen", "/file", "/error", "/echo"][i % 5]
                    _ = try RawClient.get(s.port, path)
                }
                // An abandoned keep-alive connection and a half-sent request are closed too.
                do {
                    let c = try RawClient(port: s.port)
                    try c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hel")
                    _ = try c.readResponse()
                }
                Thread.sleep(forTimeInterval: 0.3)
                let after = ProcFS.openFDCount(worker)
                #expect(after <= before, "worker fds grew from \(before) to \(after)")
                #expect(before > 0)
                #expect(ProcFS.openFDCount(s.pid) > 0)
            }
        }
    }
}

/// Requests that succeeded and failed, counted by a load thread.
final class LoadCounts: @unchecked Sendable {
    private let lock = NSCondition()
    private var okCount = 0
    private var failedCount = 0
    private var finished = false

    func add(ok: Bool) {
        lock.lock()
        if ok { okCount += 1 } else { failedCount += 1 }
        lock.unlock()
    }

    func finish() {
        lock.lock()
        finished = true
        lock.broadcast()
        lock.unlock()
    }

    func waitFinished() {
        lock.lock()
        while !finished { lock.wait() }
        lock.unlock()
    }

    var ok: Int {
        lock.lock()
        defer { lock.unlock() }
        return okCount
    }

    var failed: Int {
        lock.lock()
        defer { lock.unlock() }
        return failedCount
    }
}

final class LoadFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return value
    }

    func set() {
        lock.lock()
        value = true
        lock.unlock()
    }
}
