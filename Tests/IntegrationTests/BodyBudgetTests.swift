import Foundation
import Testing

extension IntegrationSuite {
    /// Issue 10, defect 4: request bodies are received before the app runs, so what a worker
    /// holds of them at once is bounded: memory (past it, bodies go to temporary files), the
    /// temporary files (past it, 503 with Retry-After; a body larger than all of it, 413), and
    /// the free space their file system keeps.
    @Suite struct BodyBudgetTests {
        /// Starts a body of `length` bytes and sends `sent` of them; the connection stays open.
        static func startUpload(_ port: Int, length: Int, sent: Int) throws -> RawClient {
            let c = try RawClient(port: port)
            try c.send("POST /digest HTTP/1.1\r\nHost: x\r\nContent-Length: \(length)\r\n\r\n")
            try c.send([UInt8](repeating: 0x61, count: sent))
            return c
        }

        static func digest(_ length: Int) -> String {
            "\(length):\(adler32Hex([UInt8](repeating: 0x61, count: length)))"
        }

        /// Past --body-memory-max, a body that would fit --body-buffer-size goes to a file: two
        /// 60 KB uploads at once under a 100 KB memory budget take one file (the second), and
        /// both arrive whole; a chunked one does the same.
        @Test func memoryBudgetSendsBodiesToFiles() throws {
            try withServer(
                ["--body-buffer-size", "80000", "--body-memory-max", "100000", "testapp:application"], workers: 1
            ) { s in
                let worker = try #require(s.liveWorkerPids().first)
                _ = try RawClient.get(s.port, "/hello")
                Thread.sleep(forTimeInterval: 0.3)
                let idle = ProcFS.openFDCount(worker)
                let first = try Self.startUpload(s.port, length: 60_000, sent: 1000)
                Thread.sleep(forTimeInterval: 0.2)
                #expect(ProcFS.openFDCount(worker) == idle + 1, "the first body is not in memory")
                let second = try Self.startUpload(s.port, length: 60_000, sent: 1000)
                Thread.sleep(forTimeInterval: 0.2)
                #expect(ProcFS.openFDCount(worker) == idle + 3, "the second body did not go to a file")
                let chunked = try RawClient(port: s.port)
                try chunked.send(
                    "POST /digest HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + "ea60\r\n"
                        + String(repeating: "a", count: 1000))
                Thread.sleep(forTimeInterval: 0.2)
                #expect(ProcFS.openFDCount(worker) == idle + 5, "the chunked body did not go to a file")
                for c in [first, second] {
                    try c.send([UInt8](repeating: 0x61, count: 59_000))
                    #expect(try c.readResponse().text == Self.digest(60_000))
                }
                try chunked.send(String(repeating: "a", count: 59_000) + "\r\n0\r\n\r\n")
                #expect(try chunked.readResponse().text == Self.digest(60_000))
                // The budget came back: a body that fits goes to memory again.
                let again = try Self.startUpload(s.port, length: 60_000, sent: 1000)
                Thread.sleep(forTimeInterval: 0.2)
                #expect(ProcFS.openFDCount(worker) == idle + 4, "the memory budget was not given back")
                try again.send([UInt8](repeating: 0x61, count: 59_000))
                #expect(try again.readResponse().text == Self.digest(60_000))
            }
        }

        /// --body-spool-max: a body that would cross it while others are spooled gets 503 with
        /// Retry-After (and succeeds once they are done); a body larger than all of it gets 413,
        /// also a chunked one, as soon as it crosses it.
        @Test func spoolBudget() throws {
            try withServer(
                ["--body-buffer-size", "0", "--body-spool-max", "1000000", "testapp:application"], workers: 1
            ) { s in
                let first = try Self.startUpload(s.port, length: 800_000, sent: 1000)
                Thread.sleep(forTimeInterval: 0.2)
                let refused = try RawClient.request(
                    s.port, "POST /digest HTTP/1.1\r\nHost: x\r\nContent-Length: 800000\r\n\r\n")
                #expect(refused.status == 503)
                #expect(refused.header("Retry-After") == "5")
                #expect(s.stderrContains("would hold more than --body-spool-max (1000000 bytes)"))
                try first.send([UInt8](repeating: 0x61, count: 799_000))
                #expect(try first.readResponse().text == Self.digest(800_000))
                let later = try Self.startUpload(s.port, length: 800_000, sent: 800_000)
                #expect(try later.readResponse().text == Self.digest(800_000), "the budget was not given back")

                let tooLarge = try RawClient.request(
                    s.port, "POST /digest HTTP/1.1\r\nHost: x\r\nContent-Length: 1000001\r\n\r\n")
                #expect(tooLarge.status == 413)
                #expect(tooLarge.header("Retry-After") == nil)
                let chunked = try RawClient(port: s.port)
                try chunked.send("POST /digest HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
                for _ in 0..<3 { try chunked.send("80000\r\n" + String(repeating: "a", count: 0x80000) + "\r\n") }
                #expect(try chunked.readResponse().status == 413)
                #expect(chunked.isClosedByServer())
            }
        }

        /// --body-spool-min-free: a body that would leave less free space on the spool's file
        /// system gets 503 with Retry-After and a log line; bodies in memory are unaffected.
        @Test func freeSpaceFloor() throws {
            try withServer(
                ["--body-buffer-size", "1000", "--body-spool-min-free", "100%", "testapp:application"], workers: 1
            ) { s in
                let small = try RawClient.request(
                    s.port,
                    "POST /digest HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\nConnection: close\r\n\r\n"
                        + String(repeating: "a", count: 500))
                #expect(small.text == Self.digest(500))
                let large = try RawClient.request(
                    s.port,
                    "POST /digest HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"
                        + String(repeating: "a", count: 5000))
                #expect(large.status == 503)
                #expect(large.header("Retry-After") == "5")
                #expect(s.stderrContains("(--body-spool-min-free)"))
            }
            for (value, message) in [
                ("101%", "is not a percentage from 0% to 100%"), ("lots", "is not a number of bytes or a percentage"),
            ] {
                let p = try ServerProcess(
                    ["--body-spool-min-free", value, "testapp:application"], workers: 1, bind: nil, waitReady: false)
                #expect(p.waitForExit(timeout: 10) == 64)
                #expect(p.stderr.text.contains("--body-spool-min-free: '\(value)' \(message)"), "\(p.stderr.text)")
            }
        }
    }
}
