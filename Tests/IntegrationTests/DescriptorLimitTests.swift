import Foundation
import Testing

extension IntegrationSuite {
    /// Descriptor limits (RLIMIT_NOFILE): the master raises the soft limit to the hard one; a
    /// worker takes only the connections it has descriptors for (the rest wait in the backlog);
    /// a hand-off the kernel truncates at a worker's limit costs those connections, not the
    /// worker; and a master at its own limit backs off and recovers.
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
        func collectAnswers(
            _ waiting: inout [RawClient], expected: Int, timeout: TimeInterval = 10
        ) throws -> [RawClient] {
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

        /// Sets the soft descriptor limit of a running process (the hard one stays).
        func setSoftLimit(pid: Int32, _ soft: Int) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["prlimit", "--pid", String(pid), "--nofile=\(soft):"]
            try p.run()
            p.waitUntilExit()
            try #require(p.terminationStatus == 0, "prlimit --pid \(pid) failed")
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
        /// at once, where 256 would give it room for fewer than 200.
        @Test func softLimitIsRaisedToTheHardLimit() throws {
            var own = rlimit()
            getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &own)
            // Without privileges a hard limit cannot be raised: under a lower one, the server gets that.
            let hard = Int(min(own.rlim_max, 4096))
            try #require(hard >= 1200, "this test needs a hard descriptor limit of at least 1,200")
            // The test's own 1,000 client sockets.
            if own.rlim_cur < 1200 {
                own.rlim_cur = own.rlim_max
                setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &own)
            }
            try withServer(["--no-access-log", "testapp:application"], workers: 1, rlimit: (256, hard)) { s in
                #expect(
                    s.stderr.text.contains("master \(s.pid): descriptor limit: \(hard) (raised from 256)"),
                    "\(s.stderr.text)")
                let worker = try #require(s.liveWorkerPids().first)
                let inherited = try openFileLimits(worker)
                #expect(inherited.soft == hard && inherited.hard == hard)
                #expect(
                    !s.stderr.text.contains("room for"),
                    "a worker with \(hard) descriptors has room to spare: \(s.stderr.text)")
                var waiting = try openConnections(s.port, 1000)
                let answered = try collectAnswers(&waiting, expected: 1000, timeout: 20)
                #expect(answered.count == 1000, "\(waiting.count) of 1000 connections not answered")
            }
        }

        /// Under a hard limit of 200, one worker has room for what its descriptors allow (it
        /// says how many). Of 400 idle keep-alive connections it answers exactly that many; the
        /// others wait in the backlog, open (none is cut, the worker does not crash). Each
        /// connection that closes lets one more in, until all 400 have been answered.
        @Test func connectionsBeyondTheLimitWait() throws {
            try withServer(["--no-access-log", "testapp:application"], workers: 1, rlimit: (200, 200)) { s in
                #expect(
                    s.stderr.text.contains("master \(s.pid): descriptor limit: 200 (the hard limit)"),
                    "\(s.stderr.text)")
                let text = s.stderr.text
                let match = try #require(
                    text.range(
                        of: #"descriptor limit 200: room for \d+ connections at once"#, options: .regularExpression),
                    "\(text)")
                let room = try #require(Int(text[match].split(separator: " ")[5]))
                #expect(room > 100 && room < 150, "room for \(room)")
                var waiting = try openConnections(s.port, 400)
                var answered = try collectAnswers(&waiting, expected: room)
                #expect(answered.count == room)
                // No more: the rest wait, and none is closed.
                Thread.sleep(forTimeInterval: 0.5)
                #expect(
                    waiting.filter { readable($0) }.isEmpty, "a connection beyond the worker's room was answered or cut"
                )
                #expect(waiting.count == 400 - room)

                // 50 leave (their clients close as they go): exactly 50 of those waiting are let in.
                answered.removeFirst(50)
                answered += try collectAnswers(&waiting, expected: 50)
                #expect(answered.count == room)
                Thread.sleep(forTimeInterval: 0.5)
                #expect(waiting.filter { readable($0) }.isEmpty, "more connections were let in than left")

                // The rest, as connections leave.
                var served = room + 50
                while !waiting.isEmpty {
                    let leaving = min(answered.count, waiting.count)
                    answered.removeFirst(leaving)
                    let before = answered.count
                    answered += try collectAnswers(&waiting, expected: leaving)
                    try #require(
                        answered.count - before == leaving, "\(leaving) left, \(answered.count - before) let in")
                    served += leaving
                }
                #expect(served == 400)
            }
        }

        /// An application that takes every free descriptor makes the kernel truncate the next
        /// hand-off (the worker's count said it had room): the worker logs how many connections
        /// were lost, survives, and takes no more until the descriptors are freed; the next
        /// connection waits in the backlog meanwhile, and is served once they are.
        @Test func truncatedHandOffIsSurvived() throws {
            try withServer(["--no-access-log", "testapp:application"], workers: 1, rlimit: (256, 256)) { s in
                let holder = try RawClient(port: s.port)
                try holder.send("GET /fill-fds HTTP/1.1\r\nHost: x\r\n\r\n")
                let filled = try holder.readResponse()
                #expect(filled.status == 200 && (Int(filled.text) ?? 0) > 100, "\(filled.text)")

                let lost = try RawClient(port: s.port)
                try lost.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(lost.isClosedByServer(timeout: 5), "the connection the kernel could not pass is not closed")
                #expect(
                    s.stderrContains(
                        "out of descriptors (limit 256): lost 1 connection handed over by the master (the kernel passed 0 of 1"
                    ),
                    "\(s.stderr.text)")

                let waiting = try RawClient(port: s.port)
                try waiting.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(
                    !readable(waiting, timeout: 1), "the worker was handed a connection while it had no descriptor free"
                )

                try holder.send("GET /release-fds HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(try holder.readResponse().text == filled.text)
                let r = try waiting.readResponse(timeout: 5)
                #expect(r.status == 200 && r.text == "Hello, World!")
                #expect(s.stderrContains("descriptors are free again"), "\(s.stderr.text)")
            }
        }

        /// A master at its own descriptor limit cannot accept (EMFILE): it says so once, not on
        /// every retry, the connection waits in the backlog, and once descriptors are available
        /// again it is accepted and served, and the master says so.
        @Test func masterAtItsLimitRecovers() throws {
            try withServer(["--no-access-log", "testapp:application"], workers: 1) { s in
                let master = s.pid
                let original = try openFileLimits(master)
                let open = Set(
                    try FileManager.default.contentsOfDirectory(atPath: "/proc/\(master)/fd").compactMap { Int($0) })
                // Every number below the soft limit taken: the next accept fails with EMFILE.
                let lowestFree = (0...).first { !open.contains($0) }!
                try setSoftLimit(pid: master, lowestFree)
                let c = try RawClient(port: s.port)
                try c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(
                    !readable(c, timeout: 1), "answered or cut while the master had no descriptor to accept it with")
                let failures = s.stderr.text.split(separator: "\n").filter { $0.contains("accept failed") }
                #expect(failures.count == 1, "\(failures.count) lines:\n\(failures.prefix(5).joined(separator: "\n"))")
                #expect(failures.first?.contains("accept4: Too many open files") == true, "\(s.stderr.text)")

                try setSoftLimit(pid: master, original.soft)
                let r = try c.readResponse(timeout: 5)
                #expect(r.status == 200 && r.text == "Hello, World!")
                #expect(s.stderrContains("accepting again after "), "\(s.stderr.text)")
            }
        }
    }
}
