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
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = [
                ProcessInfo.processInfo.environment["PYTHON"] ?? "python3",
                Paths.fixtures.appendingPathComponent("loadgen_selfcheck.py").path,
            ]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = out
            try p.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(p.terminationStatus == 0, "\(text)")
            #expect(text.contains("all checks passed"), "\(text)")
        }

        /// dispatchd under the generator's mixed load (keep-alive, Connection: close, slow, POST
        /// and long requests), no worker replaced: every request sent is answered, correctly, by
        /// both workers.
        @Test func everyRequestAnsweredWithoutReloads() throws {
            try withServer(["loadapp:application"]) { s in
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
    }
}
