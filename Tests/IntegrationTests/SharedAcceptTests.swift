import Foundation
import Testing

extension IntegrationSuite {
    /// --accept-mode shared (issue 15): the workers accept from the listening sockets they
    /// inherit, one woken per connection; the master keeps supervising. And in both modes, a
    /// worker that is killed loses none of the connections waiting for a worker.
    @Suite struct SharedAcceptTests {
        /// Both workers serve: while one is inside a slow request (it waits in no epoll_wait),
        /// new connections wake the other; the master counts what the workers accepted.
        @Test func bothWorkersServe() throws {
            try withServer(["--accept-mode", "shared", "testapp:application"], workers: 2) { s in
                #expect(s.stderr.text.contains("accept mode: shared"))
                let workers = Set(s.liveWorkerPids())
                #expect(workers.count == 2)
                let slow = try RawClient(port: s.port)
                try slow.send("GET /sleep?1.5 HTTP/1.1\r\nHost: x\r\n\r\n")
                Thread.sleep(forTimeInterval: 0.3)
                var others: Set<Int32> = []
                for _ in 0..<6 {
                    let r = try RawClient.get(s.port, "/pid")
                    #expect(r.status == 200)
                    others.insert(Int32(r.text)!)
                }
                // Every quick request went to the worker that was not asleep.
                #expect(others.count == 1 && workers.isSuperset(of: others), "\(others) of \(workers)")
                #expect(try slow.readResponse().text == "slept")
                // The sleeping worker serves again once it is out of its request.
                var after: Set<Int32> = []
                for _ in 0..<6 { after.insert(Int32(try RawClient.get(s.port, "/pid").text)!) }
                #expect(after.isSubset(of: workers))
                // In single mode a worker holds no listener; in shared mode each holds them all.
                for pid in workers { #expect(Self.listeningSockets(pid) == 1, "pid \(pid)") }
            }
            try withServer(["testapp:application"], workers: 2) { s in
                for pid in s.liveWorkerPids() { #expect(Self.listeningSockets(pid) == 0, "pid \(pid)") }
            }
        }

        /// With --preload the zygote gets the listeners as a spawned worker does and its forked
        /// workers inherit them: both serve, and a worker killed mid-request is replaced by a
        /// fork that accepts too.
        @Test func sharedWithPreload() throws {
            try withServer(
                ["--accept-mode", "shared", "--preload", "testapp:application"], workers: 2,
                allowWorkerExits: true
            ) { s in
                let slow = try RawClient(port: s.port)
                try slow.send("GET /sleep?1 HTTP/1.1\r\nHost: x\r\n\r\n")
                Thread.sleep(forTimeInterval: 0.3)
                let quick = Set(try (0..<4).map { _ in Int32(try RawClient.get(s.port, "/pid").text)! })
                #expect(quick.count == 1)
                #expect(try slow.readResponse().text == "slept")
                kill(quick.first!, SIGKILL)
                var answered = 0
                for _ in 0..<10 where (try? RawClient.get(s.port, "/pid").status) == 200 { answered += 1 }
                #expect(answered == 10, "\(s.stderr.text)")
            }
        }

        /// The listening sockets a process holds (sockets in /proc/PID/fd whose inode
        /// /proc/net/tcp lists in state LISTEN).
        static func listeningSockets(_ pid: Int32) -> Int {
            let listening = Set(
                ((try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8)) ?? "").split(separator: "\n")
                    .dropFirst().compactMap { line -> String? in
                        let f = line.split(separator: " ")
                        return f.count > 9 && f[3] == "0A" ? String(f[9]) : nil
                    })
            let dir = "/proc/\(pid)/fd"
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            return names.filter { name in
                guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(dir)/\(name)"),
                    link.hasPrefix("socket:[")
                else { return false }
                return listening.contains(String(link.dropFirst(8).dropLast()))
            }.count
        }

        /// A retiring worker accepts nothing more: while it finishes a long request on one of its
        /// threads (its loop free, and waiting on the listeners before), it holds no listener, and
        /// every new connection goes to its replacement.
        @Test func retiringWorkerAcceptsNothing() throws {
            try withServer(["--accept-mode", "shared", "--threads", "2", "testapp:application"], workers: 1) { s in
                let old = try #require(s.liveWorkerPids().first)
                let long = try RawClient(port: s.port)
                try long.send("GET /sleep?3 HTTP/1.1\r\nHost: x\r\n\r\n")
                Thread.sleep(forTimeInterval: 0.2)
                kill(s.pid, SIGHUP)
                #expect(ReplacementTests.waitFor(s, "(pid \(old)) retiring"), "\(s.stderr.text)")
                // It let go of the listeners at once (a connection it accepted now would only be
                // handed over again, through the master).
                Thread.sleep(forTimeInterval: 0.1)
                #expect(Self.listeningSockets(old) == 0, "the retiring worker still holds the listeners")
                var pids: [Int32] = []
                for _ in 0..<12 { pids.append(Int32(try RawClient.get(s.port, "/pid").text)!) }
                #expect(!pids.contains(old), "the retiring worker \(old) answered: \(pids)")
                #expect(try long.readResponse().text == "slept")
            }
        }

        /// SIGTERM: a draining worker closes its copies of the listening sockets, so that once
        /// the master has closed its own, connections are refused at once (a load balancer tries
        /// another server) even while a long request still runs.
        @Test func drainingWorkerLetsTheListenersClose() throws {
            let s = try ServerProcess(["--accept-mode", "shared", "--threads", "2", "testapp:application"], workers: 1)
            let long = try RawClient(port: s.port)
            try long.send("GET /sleep?3 HTTP/1.1\r\nHost: x\r\n\r\n")
            Thread.sleep(forTimeInterval: 0.2)
            kill(s.pid, SIGTERM)
            #expect(ReplacementTests.waitFor(s, "shutting down"))
            Thread.sleep(forTimeInterval: 0.3)
            let started = Date()
            #expect(throws: (any Error).self) { _ = try RawClient(port: s.port) }
            let took = Date().timeIntervalSince(started)
            #expect(took < 0.5, "the connect took \(took) s to fail: the socket was still listening")
            #expect(try long.readResponse().text == "slept")
            #expect(s.waitForExit(timeout: 10) == 0)
        }

        /// /metrics in shared mode: the master accepted nothing itself, the workers' accepts are
        /// counted, and the queue-time histogram has an entry per accepted connection.
        @Test func metricsCountWhatTheWorkersAccept() throws {
            try withServer(["--accept-mode", "shared", "--stats", "127.0.0.1:0", "testapp:application"], workers: 2) {
                s in
                let stats = try Self.statsPort(s)
                let before = try Self.metrics(stats)
                for _ in 0..<10 { #expect(try RawClient.get(s.port, "/pid").status == 200) }
                let after = try Self.metrics(stats)
                #expect(
                    after["dispatchd_connections_accepted_total"]! - before["dispatchd_connections_accepted_total"]!
                        == 10)
                #expect(after["dispatchd_queue_seconds_count"]! - before["dispatchd_queue_seconds_count"]! == 10)
                #expect(after["dispatchd_connections_waiting{where=\"master\"}"] == 0)
            }
        }

        /// /metrics's samples by name (with labels).
        static func metrics(_ port: Int) throws -> [String: Double] {
            var values: [String: Double] = [:]
            for line in try RawClient.get(port, "/metrics").text.split(separator: "\n") where !line.hasPrefix("#") {
                let parts = line.split(separator: " ")
                if parts.count == 2, let v = Double(parts[1]) { values[String(parts[0])] = v }
            }
            return values
        }

        static func statsPort(_ s: ServerProcess) throws -> Int {
            guard let r = s.stderr.text.range(of: #"stats on http://127\.0\.0\.1:(\d+)"#, options: .regularExpression),
                let port = Int(s.stderr.text[r].split(separator: ":").last!)
            else { throw ServerStartError(description: "no stats address:\n\(s.stderr.text)") }
            return port
        }

        /// Single mode, a burst: connections that reach the master together (it was stopped while
        /// they connected) are handed out one a message, so a worker that took the first and is
        /// inside its slow request holds no other; killed, it loses only that one, and the master
        /// takes back the rest of what it had handed it.
        @Test func killedWorkerLosesNoConnectionOfABurst() throws {
            try withServer(["testapp:application"], workers: 2, allowWorkerExits: true) { s in
                let victim = s.liveWorkerPids()[0]  // worker 0: the round-robin's first
                kill(s.pid, SIGSTOP)
                let slow = try RawClient(port: s.port)
                try slow.send("GET /sleep?2 HTTP/1.1\r\nHost: x\r\n\r\n")
                var waiting: [RawClient] = []
                for _ in 0..<6 {
                    let c = try RawClient(port: s.port)
                    try c.send("GET /pid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    waiting.append(c)
                }
                kill(s.pid, SIGCONT)
                Thread.sleep(forTimeInterval: 0.5)
                kill(victim, SIGKILL)
                var answered = 0
                for c in waiting {
                    if let r = try? c.readResponse(timeout: 20), r.status == 200 { answered += 1 }
                }
                #expect(answered == waiting.count, "\(answered) of \(waiting.count) answered:\n\(s.stderr.text)")
            }
        }

        /// SIGKILL of a worker while every worker is busy and clients wait: each of them is
        /// answered (the killed worker's own requests may fail). In single mode the master takes
        /// back what it had handed the killed worker (those clients connected within the moment
        /// a busy worker still gets connections); in shared mode they wait in the backlog, and
        /// with --threads a worker takes none while all its threads are busy.
        @Test(arguments: [("single", 1), ("shared", 1), ("shared", 2)])
        func killedWorkerLosesNoQueuedConnection(mode: String, threads: Int) throws {
            try withServer(
                ["--accept-mode", mode, "--threads", String(threads), "testapp:application"], workers: 2,
                allowWorkerExits: true
            ) { s in
                // One slow request per request slot, each alone (20 ms apart): never in one
                // hand-off together with a waiting client.
                var slow: [RawClient] = []
                for _ in 0..<(2 * threads) {
                    let c = try RawClient(port: s.port)
                    try c.send("GET /sleep?2 HTTP/1.1\r\nHost: x\r\n\r\n")
                    slow.append(c)
                    Thread.sleep(forTimeInterval: 0.02)
                }
                var waiting: [RawClient] = []
                for _ in 0..<8 {
                    let c = try RawClient(port: s.port)
                    try c.send("GET /pid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    waiting.append(c)
                }
                Thread.sleep(forTimeInterval: 0.4)
                let victim = s.liveWorkerPids()[0]
                kill(victim, SIGKILL)
                var answered = 0
                for c in waiting {
                    if let r = try? c.readResponse(timeout: 20), r.status == 200 { answered += 1 }
                }
                #expect(answered == waiting.count, "\(answered) of \(waiting.count) answered:\n\(s.stderr.text)")
                // The other worker's slow requests end normally.
                let slept = slow.filter { (try? $0.readResponse(timeout: 10).text) == "slept" }.count
                #expect(slept >= threads, "\(slept) slow requests answered")
            }
        }
    }
}
