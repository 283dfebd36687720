import Foundation
import Testing

extension IntegrationSuite {
    /// Issue 14, the container entrypoint: orphans the app's subprocesses leave are reaped (the
    /// master is their subreaper, and PID 1 in a PID namespace of its own), SIGTERM drains as
    /// PID 1, and what the app prints reaches stdout a whole line at a time from every worker.
    @Suite struct ContainerTests {
        /// The pids of `pid`'s children, and which of them are zombies.
        static func children(of pid: Int32) -> [(pid: Int32, zombie: Bool)] {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
            var out: [(Int32, Bool)] = []
            for task in tasks {
                let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? ""
                for child in text.split(separator: " ").compactMap({ Int32($0) }) {
                    let stat = (try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8)) ?? ""
                    let state = stat.split(separator: ")").last?.split(separator: " ").first
                    out.append((child, state == "Z"))
                }
            }
            return out
        }

        /// Waits for `path` to appear; its text.
        static func waitForFile(_ path: String, timeout: TimeInterval = 10) -> String? {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if let text = try? String(contentsOfFile: path, encoding: .utf8) { return text }
                Thread.sleep(forTimeInterval: 0.05)
            }
            return nil
        }

        @Test func orphansBecomeTheMastersAndAreReaped() throws {
            let file = NSTemporaryDirectory() + "dispatchd-orphan-\(getpid())"
            try? FileManager.default.removeItem(atPath: file)
            defer { try? FileManager.default.removeItem(atPath: file) }
            try withServer(["testapp:application"]) { s in
                #expect(try RawClient.get(s.port, "/orphan?\(file)").text == "spawned")
                let text = try #require(Self.waitForFile(file), "the orphan never wrote its parent")
                let fields = text.split(separator: " ").compactMap { Int32($0) }
                try #require(fields.count == 2)
                #expect(fields[0] == s.pid, "the orphan's parent is the master (\(s.pid)), not \(fields[0])")
                // It exits 0.2 s later and is reaped: no zombie stays under the master.
                let deadline = Date().addingTimeInterval(5)
                while FileManager.default.fileExists(atPath: "/proc/\(fields[1])") && Date() < deadline {
                    Thread.sleep(forTimeInterval: 0.05)
                }
                #expect(
                    !FileManager.default.fileExists(atPath: "/proc/\(fields[1])"), "pid \(fields[1]) was not reaped")
            }
        }

        /// In a PID namespace of its own (as in a container), the master is PID 1: the orphan's
        /// parent is 1, nothing stays a zombie, and SIGTERM drains and exits 0.
        @Test func asPID1() throws {
            let file = NSTemporaryDirectory() + "dispatchd-pid1-\(getpid())"
            try? FileManager.default.removeItem(atPath: file)
            defer { try? FileManager.default.removeItem(atPath: file) }
            var wrapper = ["unshare", "--pid", "--fork", "--mount-proc"]
            if getuid() != 0 { wrapper.insert(contentsOf: ["--user", "--map-root-user"], at: 1) }
            let s = try ServerProcess(["testapp:application"], wrapper: wrapper)
            let master = try #require(Self.children(of: s.pid).first?.pid, "no server under unshare")
            #expect(s.stderr.text.contains("master 1:"), "the master is PID 1 in its namespace: \(s.stderr.text)")
            #expect(try RawClient.get(s.port, "/orphan?\(file)").text == "spawned")
            let text = try #require(Self.waitForFile(file))
            #expect(text.hasPrefix("1 "), "the orphan's parent: \(text)")
            Thread.sleep(forTimeInterval: 1)
            let zombies = Self.children(of: master).filter(\.zombie)
            #expect(zombies.isEmpty, "zombies under PID 1: \(zombies)")
            // A request in flight when SIGTERM arrives is answered.
            let slow = try RawClient(port: s.port)
            try slow.send("GET /sleep?1 HTTP/1.1\r\nHost: x\r\n\r\n")
            Thread.sleep(forTimeInterval: 0.2)
            kill(master, SIGTERM)
            #expect(try slow.readResponse(timeout: 10).status == 200)
            let status = s.waitForExit(timeout: 15)
            #expect(status == 0, "\(s.stderr.text)")
            if status == nil { kill(s.pid, SIGKILL) }
        }

        /// Both workers print lines for a second at once, with PYTHONUNBUFFERED set as
        /// containers often have it (whose print() writes a line's text and its newline
        /// separately): every line reaches stdout whole.
        @Test func printedLinesStayWhole() throws {
            try withServer(["--no-access-log", "testapp:application"]) { s in
                let port = s.port
                let group = DispatchGroup()
                for _ in 0..<6 {
                    group.enter()
                    DispatchQueue.global().async {
                        _ = try? RawClient.get(port, "/print?1")
                        group.leave()
                    }
                }
                group.wait()
                Thread.sleep(forTimeInterval: 0.5)
                let lines = s.stdout.text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
                let pattern = try Regex(#"^worker \d+ line \d+ x{80}$"#)
                let broken = lines.filter { $0.wholeMatch(of: pattern) == nil }
                #expect(lines.count > 1000, "\(lines.count) lines")
                #expect(broken.isEmpty, "\(broken.count) of \(lines.count) lines broken, e.g. \(broken.prefix(3))")
                let pids = Set(lines.compactMap { $0.split(separator: " ").dropFirst().first })
                #expect(pids.count == 2, "both workers printed: \(pids)")
            }
        }
    }
}
