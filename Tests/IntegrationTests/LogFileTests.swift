import Foundation
import Testing

extension IntegrationSuite {
    /// Issue 14, logs: --access-log and --error-log append to files, which SIGUSR1 reopens (as
    /// logrotate's postrotate sends it): after a rename, new lines go to a new file.
    @Suite struct LogFileTests {
        @Test func filesAndReopenOnSIGUSR1() throws {
            let dir = NSTemporaryDirectory() + "dispatchd-logs-\(getpid())"
            try? FileManager.default.removeItem(atPath: dir)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let access = dir + "/access.log"
            let errors = dir + "/error.log"
            func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
            func waitFor(_ path: String, _ text: String) -> Bool {
                let deadline = Date().addingTimeInterval(5)
                while Date() < deadline {
                    if read(path).contains(text) { return true }
                    Thread.sleep(forTimeInterval: 0.05)
                }
                return false
            }
            // The server's log goes to the file: the harness finds the port there.
            let s = try ServerProcess(
                ["--access-log", access, "--error-log", errors, "testapp:application"], waitReady: false)
            defer { s.stop() }
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline && read(errors).components(separatedBy: ") ready").count < 3 {
                Thread.sleep(forTimeInterval: 0.05)
            }
            let text = read(errors)
            let range = try #require(
                text.range(of: #"listening on http://127\.0\.0\.1:\d+"#, options: .regularExpression))
            let port = try #require(Int(text[range].split(separator: ":").last!))
            #expect(try RawClient.get(port, "/hello?before").status == 200)
            #expect(waitFor(access, "GET /hello?before HTTP/1.1\" 200"), "\(read(access))")
            #expect(!s.stdout.text.contains("/hello?before"), "the access log left stdout")
            #expect(!s.stderr.text.contains("listening on"), "the server's log left stderr")

            try FileManager.default.moveItem(atPath: access, toPath: access + ".1")
            try FileManager.default.moveItem(atPath: errors, toPath: errors + ".1")
            kill(s.pid, SIGUSR1)
            #expect(waitFor(errors, "log files reopened"), "\(read(errors))")
            Thread.sleep(forTimeInterval: 0.3)  // the workers reopen theirs
            for _ in 0..<4 { #expect(try RawClient.get(port, "/hello?after").status == 200) }
            #expect(waitFor(access, "GET /hello?after HTTP/1.1\" 200"), "\(read(access))")
            #expect(!read(access).contains("?before"))
            #expect(!read(access + ".1").contains("?after"), "every worker reopened its log")
        }

        @Test func unwritableFileFailsAtStartUp() throws {
            let s = try ServerProcess(
                ["--access-log", "/nonexistent/dir/access.log", "testapp:application"], waitReady: false)
            #expect(s.waitForExit(timeout: 10) == 1)
            #expect(s.stderr.text.contains("--access-log /nonexistent/dir/access.log: "), "\(s.stderr.text)")
        }
    }
}
