import Foundation
import Testing

extension IntegrationSuite {
    /// Issue 16: dispatchd.on_worker_start / on_worker_stop, spawn / spawn_thread / stopping, and
    /// uWSGI's spellings, with Fixtures/apps/lifecycleapp.py and lifecycle_uwsgi_app.py recording
    /// `EVENT PID IN_FLIGHT` lines in a file.
    @Suite struct LifecycleHookTests {
        struct Event {
            var name: String
            var pid: Int32
            var inFlight: Int
        }

        /// A file for the app's events, removed with the directory it is in.
        final class EventFile {
            let directory: String
            var path: String { directory + "/events" }

            init() throws {
                directory = NSTemporaryDirectory() + "dispatchd-lifecycle-\(getpid())-\(UUID().uuidString.prefix(8))"
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }

            deinit { try? FileManager.default.removeItem(atPath: directory) }

            var events: [Event] {
                let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
                return text.split(separator: "\n").compactMap { line in
                    let f = line.split(separator: " ")
                    guard f.count == 3, let pid = Int32(f[1]), let n = Int(f[2]) else { return nil }
                    return Event(name: String(f[0]), pid: pid, inFlight: n)
                }
            }

            func names(_ pid: Int32) -> [String] { events.filter { $0.pid == pid }.map(\.name) }
        }

        /// Every worker that started (its start hook ran) stopped once (its stop hook ran), with
        /// no request in flight; the stop came after the ticker's cancellation and before the
        /// background thread's exit was waited for.
        static func expectEveryStartStopped(_ file: EventFile, sourceLocation: SourceLocation = #_sourceLocation) {
            let events = file.events
            let started = events.filter { $0.name == "start" }.map(\.pid)
            let stopped = events.filter { $0.name == "stop" }
            #expect(Set(started).count == started.count, "a worker started twice", sourceLocation: sourceLocation)
            #expect(
                Set(started) == Set(stopped.map(\.pid)) && stopped.count == started.count,
                "starts \(started.sorted()), stops \(stopped.map(\.pid).sorted())", sourceLocation: sourceLocation)
            #expect(
                stopped.allSatisfy { $0.inFlight == 0 }, "a stop hook saw requests in flight",
                sourceLocation: sourceLocation)
            for pid in started {
                let names = file.names(pid).filter { $0 != "tick" }
                #expect(
                    names == ["start", "ticker-finally", "stop", "thread-exit"]
                        || names == ["start", "ticker-finally", "thread-exit", "stop"],
                    "worker \(pid): \(names)", sourceLocation: sourceLocation)
            }
        }

        @Test func hooksAcrossReloadsRecyclingAndSIGTERMUnderLoad() throws {
            let file = try EventFile()
            let s = try ServerProcess(
                ["--max-requests", "20", "lifecycleapp:application"], workers: 2,
                environment: ["DISPATCHD_TEST_EVENTS": file.path])
            let load = try LoadGenerator(
                port: s.port,
                arguments: ["--stop-on-refused=after-mark", "--long-seconds", "0.2,0.5", "--long-think", "0.2,0.6"])
            defer { if load.process.isRunning { load.process.terminate() } }
            for reload in 1...5 {
                Thread.sleep(forTimeInterval: 0.5)
                kill(s.pid, SIGHUP)
                #expect(
                    ReplacementTests.waitFor(
                        s, "reload complete", count: reload, timeout: 30), "reload \(reload):\n\(s.stderr.text)")
            }
            load.mark()
            Thread.sleep(forTimeInterval: 0.3)
            kill(s.pid, SIGTERM)
            let summary = try load.summary(timeout: 60)
            #expect(s.waitForExit(timeout: 30) == 0, "\(s.stderr.text)")
            #expect(summary.failed == 0, "\(summary.failures)")
            #expect(summary.answered == summary.sent && summary.ok)
            let log = s.stderr.text
            #expect(log.components(separatedBy: "it has served --max-requests").count - 1 >= 2, "no recycling")
            // 2 workers, 5 reloads of 2, and the recycled ones: each ran its start hook once.
            let spawned = log.components(separatedBy: ") started").count - 1
            #expect(spawned >= 12 && file.events.filter { $0.name == "start" }.count == spawned, "\(spawned) started")
            Self.expectEveryStartStopped(file)
            let unclean = log.split(separator: "\n").filter {
                $0.contains(") exited: ") && !$0.hasSuffix("exit status 0")
            }
            #expect(unclean.isEmpty, "\(unclean)")
        }

        /// A start hook that raises: at the first start the server exits with the traceback; once
        /// running, a reload whose new workers fail so is abandoned and the old workers serve on.
        @Test func failingStartHook() throws {
            let file = try EventFile()
            let marker = file.directory + "/fail"
            FileManager.default.createFile(atPath: marker, contents: Data())
            let environment = ["DISPATCHD_TEST_EVENTS": file.path, "DISPATCHD_TEST_FAIL_START": marker]
            let first = try ServerProcess(
                ["lifecycleapp:application"], workers: 1, waitReady: false, environment: environment)
            let status = first.waitForExit(timeout: 20)
            #expect(status == 7, "\(first.stderr.text)")
            #expect(
                first.stderr.text.contains("RuntimeError: the database is down (start hook)"), "\(first.stderr.text)")
            #expect(first.stderr.text.contains("error in worker start hook open_resource:"))
            #expect(first.stderr.text.contains("a worker start hook of the application failed"))
            #expect(!file.events.contains { $0.name == "start" })

            try FileManager.default.removeItem(atPath: marker)
            try withServer(["lifecycleapp:application"], workers: 2, environment: environment, allowWorkerExits: true) {
                s in
                let before = Set(s.liveWorkerPids())
                FileManager.default.createFile(atPath: marker, contents: Data())
                kill(s.pid, SIGHUP)
                #expect(ReplacementTests.waitFor(s, "reload abandoned", timeout: 20), "\(s.stderr.text)")
                try FileManager.default.removeItem(atPath: marker)
                for _ in 0..<6 {
                    #expect(try RawClient.get(s.port, "/echo?token=x").status == 200)
                }
                #expect(Set(s.liveWorkerPids()).isSuperset(of: before), "the old workers serve on")
            }
        }

        /// A stop hook that sleeps past --worker-stop-timeout: the worker exits on time, and the
        /// overrun is logged; the same for a reload's retiring worker.
        @Test func stopHookOverrun() throws {
            let file = try EventFile()
            let s = try ServerProcess(
                ["--worker-stop-timeout", "1", "lifecycleapp:application"], workers: 1,
                environment: ["DISPATCHD_TEST_EVENTS": file.path, "DISPATCHD_TEST_SLOW_STOP": "30"])
            let old = s.liveWorkerPids()
            kill(s.pid, SIGHUP)
            #expect(ReplacementTests.waitFor(s, "reload complete", timeout: 20), "\(s.stderr.text)")
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline && old.contains(where: ProcFS.isAlive) { Thread.sleep(forTimeInterval: 0.05) }
            #expect(!old.contains(where: ProcFS.isAlive), "the retired worker still runs its stop hook")
            let started = Date()
            kill(s.pid, SIGTERM)
            #expect(s.waitForExit(timeout: 20) == 0, "\(s.stderr.text)")
            #expect(Date().timeIntervalSince(started) < 5, "the stop took \(Date().timeIntervalSince(started)) s")
            let overruns = s.stderr.text.components(
                separatedBy: "worker stop hook close_resource still running after --worker-stop-timeout 1 s")
            #expect(overruns.count - 1 == 2, "\(s.stderr.text)")
            #expect(!file.events.contains { $0.name == "slow-stop-done" })
            #expect(file.events.filter { $0.name == "stop" }.count == 2)
        }

        /// A background coroutine ticks until the stop, is cancelled and runs its finally; the
        /// thread waiting on dispatchd.stopping exits before the worker does.
        @Test func backgroundTasksEndAtStop() throws {
            let file = try EventFile()
            let s = try ServerProcess(
                ["lifecycleapp:application"], workers: 1, environment: ["DISPATCHD_TEST_EVENTS": file.path])
            Thread.sleep(forTimeInterval: 1)
            let pid = try #require(s.liveWorkerPids().first)
            let ticks = file.names(pid).filter { $0 == "tick" }.count
            #expect(ticks >= 5 && ticks <= 15, "\(ticks) ticks in a second")
            s.stop()
            let names = file.names(pid).filter { $0 != "tick" }
            // The thread is told (dispatchd.stopping) before the stop hooks run, and waited for after.
            #expect(
                names == ["start", "ticker-finally", "stop", "thread-exit"]
                    || names == ["start", "ticker-finally", "thread-exit", "stop"], "\(names)")
        }

        /// A background coroutine and thread that raise, and a stop hook that raises: each is
        /// logged with its traceback (in the --error-log file, with the worker's pid), the worker
        /// serves on, and the other stop hook still runs.
        @Test func failuresAreLoggedAndSurvived() throws {
            let file = try EventFile()
            let errors = file.directory + "/error.log"
            let s = try ServerProcess(
                ["--error-log", errors, "lifecycleapp:application"], workers: 1, waitReady: false,
                environment: ["DISPATCHD_TEST_EVENTS": file.path, "DISPATCHD_TEST_RAISE": "1"])
            func log() -> String { (try? String(contentsOfFile: errors, encoding: .utf8)) ?? "" }
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline && !log().contains("ValueError: a background task failed") {
                Thread.sleep(forTimeInterval: 0.05)
            }
            let text = log()
            let range = try #require(
                text.range(of: #"listening on http://127\.0\.0\.1:\d+"#, options: .regularExpression))
            let port = try #require(Int(text[range].split(separator: ":").last!))
            let pid = try #require(file.events.first { $0.name == "start" }?.pid)
            #expect(text.contains("[dispatchd] worker \(pid): error in background task failing_task:"), "\(text)")
            #expect(text.contains("[dispatchd] worker \(pid): error in background thread failing_thread:"), "\(text)")
            #expect(text.contains("KeyError: 'a background thread failed'"), "\(text)")
            #expect(try RawClient.get(s.port == 0 ? port : s.port, "/echo?token=t").status == 200)
            kill(s.pid, SIGTERM)
            #expect(s.waitForExit(timeout: 20) == 0)
            let after = log()
            #expect(after.contains("[dispatchd] worker \(pid): error in worker stop hook failing_stop:"), "\(after)")
            #expect(after.contains("OSError: a stop hook failed"))
            #expect(file.names(pid).contains("stop"), "the other stop hook ran")
        }

        /// The same contract through uWSGI's spellings: postfork, uwsgi.atexit, @timer, @thread;
        /// @spool is refused with a message that says why.
        @Test func uwsgiSpellings() throws {
            let file = try EventFile()
            let s = try ServerProcess(
                ["lifecycle_uwsgi_app:application"], workers: 1, environment: ["DISPATCHD_TEST_EVENTS": file.path])
            #expect(try RawClient.get(s.port, "/?7").status == 200)
            Thread.sleep(forTimeInterval: 0.7)
            let pid = try #require(s.liveWorkerPids().first)
            s.stop()
            let names = file.names(pid).filter { !$0.hasPrefix("refused:") }
            #expect(names.first == "start", "\(names)")
            #expect(names.last == "stop", "\(names)")
            #expect(names.contains("thread-7"), "\(names)")
            #expect(names.filter { $0 == "timer-1" }.count >= 2, "\(names)")
            let refused = file.events.first { $0.name.hasPrefix("refused:") }?.name ?? ""
            #expect(refused.hasPrefix("refused:uwsgidecorators.spool_is_not_available_in_dispatchd:"), "\(refused)")
        }
    }
}
