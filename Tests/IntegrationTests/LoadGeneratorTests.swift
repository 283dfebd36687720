import Foundation
import Testing

extension IntegrationSuite {
    /// The load generator that is to prove worker replacement loses nothing (Fixtures/loadgen.py)
    /// is itself checked: it must count every lost request, and none where nothing is lost.
    @Suite struct LoadGeneratorTests {
        /// Fixtures/loadgen_selfcheck.py: against fake servers that drop, reset, cut or misanswer
        /// requests (and count each time they do), the generator counts exactly those as failures,
        /// of the right kind; clean closes between requests are reconnects; a well-behaved server
        /// gets zero failures; --stop-on-refused ends the run only where it should.
        @Test func selfCheck() throws {
            let (status, text) = Command.run([
                ProcessInfo.processInfo.environment["PYTHON"] ?? "python3",
                Paths.fixtures.appendingPathComponent("loadgen_selfcheck.py").path,
            ])
            #expect(status == 0, "\(text)")
            #expect(text.contains("all checks passed"), "\(text)")
        }

        /// dispatchd under the generator's mixed load (keep-alive, Connection: close, slow, POST
        /// and long requests), no worker replaced: every request sent is answered, correctly, by
        /// both workers; whichever accepts (--accept-mode).
        @Test(arguments: ["single", "shared"])
        func everyRequestAnsweredWithoutReloads(mode: String) throws {
            try withServer(["--accept-mode", mode, "loadapp:application"]) { s in
                let load = try LoadGenerator(port: s.port, arguments: ["--duration", "4", "--long-seconds", "0.2,0.5"])
                let summary = try load.summary()
                #expect(summary.ok, "\(load.log)")
                #expect(summary.failed == 0, "\(summary.failures)")
                #expect(summary.answered == summary.sent)
                #expect(summary.sent > 100)
                #expect(summary.workerPids == 2)
                #expect(summary.stoppedBy == "duration")
            }
        }

        /// Issue 11's proof: the generator's mixed load (keep-alive, Connection: close, slow, POST
        /// and long requests) while the server gets 20 SIGHUPs, recycles every 50 requests and
        /// finally gets SIGTERM. Zero failed or reset requests, every answer correct (its own
        /// token, length and checksum), answered == sent, requests still being sent at SIGTERM
        /// answered too, and every worker that left exited cleanly. With one thread per worker,
        /// and with four (issue 12: a retiring worker's requests finish on their threads); with
        /// the master accepting, and with the workers accepting themselves (issue 15).
        @Test(arguments: [("single", 1), ("single", 4), ("shared", 1), ("shared", 4)])
        func nothingLostAcrossReloadsRecyclingAndSIGTERM(mode: String, threads: Int) throws {
            let s = try ServerProcess(
                ["--accept-mode", mode, "--threads", String(threads), "--max-requests", "50", "loadapp:application"],
                workers: 2)
            let load = try LoadGenerator(
                port: s.port,
                arguments: ["--stop-on-refused=after-mark", "--long-seconds", "0.2,0.5", "--long-think", "0.2,0.6"])
            defer { if load.process.isRunning { load.process.terminate() } }
            for _ in 0..<20 {
                Thread.sleep(forTimeInterval: 0.6)
                kill(s.pid, SIGHUP)
            }
            #expect(
                ReplacementTests.waitFor(s, "reload complete", timeout: 30), "no reload completed:\n\(s.stderr.text)")
            Thread.sleep(forTimeInterval: 0.5)
            // The mark starts the generator's "stopping" phase; once it has taken it, a pause
            // lets its clients send in it even on a loaded machine, so that requests are in
            // flight at SIGTERM (a long request holds a worker up to 0.5 s, and with both
            // workers asleep every client waits).
            load.mark()
            Thread.sleep(forTimeInterval: 0.6)
            kill(s.pid, SIGTERM)
            let summary = try load.summary(timeout: 60)
            let exit = s.waitForExit(timeout: 20)
            #expect(exit == 0, "\(s.stderr.text)")
            // On a failure: the failures one by one, and the master's and workers' lines (not
            // the access log) with the generator's time of SIGTERM, to place them.
            let events = s.stderr.text.split(separator: "\n").filter { $0.hasPrefix("[dispatchd]") }
            let samples = summary.failureSamples.map(\.description).joined(separator: "\n")
            let detail = "\(summary.failures)\n\(samples)\nmark at \(summary.markAt ?? -1) s\n"
            #expect(summary.failed == 0, "\(detail)\(events.suffix(40).joined(separator: "\n"))")
            #expect(summary.answered == summary.sent && summary.ok)
            #expect(summary.stoppedBy == "refused")
            #expect(
                (summary.byPhase["stopping"]?.sent ?? 0) > 0,
                "no request was sent after SIGTERM: \(summary.byPhase), mark at \(summary.markAt ?? -1)\n\(load.log)")
            let log = s.stderr.text
            let recycled = log.components(separatedBy: "it has served --max-requests").count - 1
            #expect(log.components(separatedBy: "reloading: replacing 2 workers").count - 1 == 20)
            #expect(recycled > 10, "recycled \(recycled) times")
            #expect(summary.workerPids > 10, "workers answering: \(summary.workerPids); recycled: \(recycled)")
            let unclean = log.split(separator: "\n").filter {
                $0.contains(") exited: ") && !$0.hasSuffix("exit status 0")
            }
            #expect(unclean.isEmpty, "\(unclean)")
        }
    }
}
