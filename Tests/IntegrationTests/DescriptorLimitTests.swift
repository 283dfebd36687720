import Foundation
import Testing

extension IntegrationSuite {
    /// Descriptor limits (RLIMIT_NOFILE): the master raises the soft limit to the hard one.
    @Suite struct DescriptorLimitTests {
        /// A request on each of `count` new keep-alive connections, sent without waiting.
        func openConnections(_ port: Int, _ count: Int) throws -> [RawClient] {
            try (0..<count).map { _ in
                let c = try RawClient(port: port)
                try c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                return c
            }
        }

        /// Bytes (or an EOF) are waiting on `c`, or arrive within `timeout`.
        func readable(_ c: RawClient, timeout: TimeInterval = 0) -> Bool {
            var p = pollfd(fd: c.fd, events: Int16(POLLIN), revents: 0)
            return poll(&p, 1, Int32(timeout * 1000)) == 1
        }

        /// Reads the response on every connection in `waiting` that has one, until `expected`
        /// have been answered in all or `timeout` passes; the answered ones, removed from
        /// `waiting`. Any connection that is closed instead fails the test.
        func collectAnswers(_ waiting: inout [RawClient], expected: Int, timeout: TimeInterval = 10) throws -> [RawClient] {
            var answered: [RawClient] = []
            let deadline = Date().addingTimeInterval(timeout)
            while answered.count < expected && Date() < deadline {
                var still: [RawClient] = []
                for c in waiting {
                    if readable(c) {
                        let r = try c.readResponse(timeout: 5)
                        #expect(r.status == 200 && r.text == "Hello, World!")
                        answered.append(c)
                    } else {
                        still.append(c)
                    }
                }
                waiting = still
                if answered.count < expected { Thread.sleep(forTimeInterval: 0.02) }
            }
            return answered
        }

        /// The soft and hard "Max open files" of a process, from /proc.
        func openFileLimits(_ pid: Int32) throws -> (soft: Int, hard: Int) {
            let text = try String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)
            let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("Max open files") })
            let fields = line.split(separator: " ")
            return (try #require(Int(fields[3])), try #require(Int(fields[4])))
        }

        /// Started with a soft limit of 256 under a hard limit of 4096, the master raises the
        /// soft limit to 4096 (and says so); its worker inherits it and holds 1,000 connections
        /// at once, where 256 would not let it hold even 256.
        @Test func softLimitIsRaisedToTheHardLimit() throws {
            // The test's own 1,000 client sockets.
            var own = rlimit()
            getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &own)
            try #require(own.rlim_max >= 1200, "this test needs a hard descriptor limit of at least 1,200")
            if own.rlim_cur < 1200 {
                own.rlim_cur = own.rlim_max
                setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &own)
            }
            try withServer(["--no-access-log", "testapp:application"], workers: 1, rlimit: (256, 4096)) { s in
                #expect(s.stderr.text.contains("master \(s.pid): descriptor limit: 4096 (raised from 256)"), "\(s.stderr.text)")
                let worker = try #require(s.liveWorkerPids().first)
                let inherited = try openFileLimits(worker)
                #expect(inherited.soft == 4096 && inherited.hard == 4096)
                var waiting = try openConnections(s.port, 1000)
                let answered = try collectAnswers(&waiting, expected: 1000, timeout: 20)
                #expect(answered.count == 1000, "\(waiting.count) of 1000 connections not answered")
            }
        }

    }
}
