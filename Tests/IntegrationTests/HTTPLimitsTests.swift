import Foundation
import Testing

extension IntegrationSuite {
    /// Issue 3: limits with clear statuses, timeouts on the worker loop, slow-client defence.
    @Suite struct HTTPLimitsTests {
        /// Each head limit is configurable and answered with its status and a close.
        @Test func configurableHeadLimits() throws {
            try withServer(["--limit-request-line", "100", "--limit-request-field-size", "60", "--limit-request-fields", "4",
                            "--limit-request-head", "180", "testapp:application"], workers: 1) { s in
                let cases: [(String, Int, String)] = [
                    ("GET /" + String(repeating: "a", count: 120) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414, "request line too long"),
                    ("GET / HTTP/1.1\r\nHost: x\r\nX: " + String(repeating: "b", count: 70) + "\r\n\r\n", 431, "header field too large"),
                    ("GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n", 431, "too many header fields"),
                    // 4 fields of at most 60 bytes each, 195 bytes in all:
                    ("GET / HTTP/1.1\r\nHost: x\r\n" + (0..<3).map { "H\($0): " + String(repeating: "c", count: 50) + "\r\n" }.joined() + "\r\n",
                     431, "request head too large"),
                ]
                for (raw, status, reason) in cases {
                    let c = try RawClient(port: s.port)
                    try c.send(raw)
                    let r = try c.readResponse()
                    #expect(r.status == status, "\(raw.prefix(40).debugDescription)")
                    #expect(c.isClosedByServer())
                    #expect(s.stderrContains(": \(status) \(reason)"), "log line for \(reason)")
                }
                #expect(try RawClient.get(s.port, "/hello").status == 200)
            }
        }

        /// --limit-request-body: 413 before the app runs when Content-Length says so, and when a
        /// chunked body crosses it while the app reads.
        @Test func requestBodyLimit() throws {
            try withServer(["--limit-request-body", "1000", "testapp:application"], workers: 1) { s in
                let c = try RawClient(port: s.port)
                try c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n")
                let r = try c.readResponse()
                #expect(r.status == 413)
                #expect(c.isClosedByServer())
                #expect(s.stderrContains("refused a 1001-byte request body"))

                let ok = try RawClient.request(s.port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n" + String(repeating: "k", count: 1000))
                #expect(ok.body.count == 1000)

                let chunk = String(repeating: "z", count: 600)
                let ch = try RawClient(port: s.port)
                try ch.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n\(chunk)\r\n258\r\n\(chunk)\r\n0\r\n\r\n")
                let rc = try ch.readResponse()
                #expect(rc.status == 413)
                #expect(ch.isClosedByServer())
            }
        }

        /// A client that trickles its head one byte at a time gets 408 at the header timeout,
        /// counted from its first byte; an idle keep-alive connection is closed at --keep-alive.
        @Test func headerAndKeepAliveTimeouts() throws {
            try withServer(["--header-timeout", "1.5", "--keep-alive", "1", "testapp:application"], workers: 1) { s in
                let slow = try RawClient(port: s.port)
                let start = Date()
                var got408 = false
                for byte in "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaa".utf8 {
                    if (try? slow.send([byte])) == nil { break }
                    Thread.sleep(forTimeInterval: 0.25)
                    if Date().timeIntervalSince(start) > 4 { break }
                    var p = pollfd(fd: slow.fd, events: Int16(POLLIN), revents: 0)
                    if poll(&p, 1, 0) > 0 { break }
                }
                if let r = try? slow.readResponse(timeout: 3) { got408 = r.status == 408 }
                let elapsed = Date().timeIntervalSince(start)
                #expect(got408)
                #expect(elapsed > 1.2 && elapsed < 3.0, "408 after \(elapsed) s")

                let idle = try RawClient(port: s.port)
                try idle.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                _ = try idle.readResponse()
                let t = Date()
                #expect(idle.isClosedByServer(timeout: 5))
                let idleFor = Date().timeIntervalSince(t)
                #expect(idleFor > 0.7 && idleFor < 2.5, "closed after \(idleFor) s")
            }
        }

        /// The rest of an unread (streamed) body that never comes: the connection is closed at
        /// the header timeout, with no second response after the app's.
        @Test func unreadBodyThatStopsIsClosed() throws {
            try withServer(["--header-timeout", "1", "testapp:application"], workers: 1) { s in
                let c = try RawClient(port: s.port)
                try c.send("POST /noread HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n" + String(repeating: "u", count: 1000))
                let r = try c.readResponse()
                #expect(r.text == "ignored your body")
                let t = Date()
                #expect(c.isClosedByServer(timeout: 5), "no close, or more bytes: \(String(decoding: c.buffer, as: UTF8.self))")
                #expect(Date().timeIntervalSince(t) < 3)
            }
        }

        /// A body that stops arriving gets 408 at --body-timeout without the app running (while
        /// it waits, other clients are served); a streamed body that stops fails the app's read
        /// (an OSError); a client that does not read its response is cut off at --write-timeout,
        /// and the worker serves others again.
        @Test func bodyAndWriteTimeouts() throws {
            try withServer(["--body-timeout", "1", "--write-timeout", "1", "testapp:application"], workers: 1) { s in
                let c = try RawClient(port: s.port)
                try c.send("POST /echo-error HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial")
                let start = Date()
                #expect(try RawClient.get(s.port, "/hello").status == 200, "a slow upload holds the worker")
                let r = try c.readResponse(timeout: 5)
                #expect(r.status == 408)
                #expect(c.isClosedByServer())
                #expect(Date().timeIntervalSince(start) < 3)

                let streamed = try RawClient(port: s.port)
                try streamed.send("POST /echo-error HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\npartial")
                let rs = try streamed.readResponse(timeout: 5)
                #expect(rs.status == 400)
                #expect(rs.text.contains("OSError:ClientDisconnected"), "\(rs.text)")

                var size: Int32 = 4096
                let lazy = try RawClient(port: s.port)
                setsockopt(lazy.fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
                try lazy.send("GET /big?60000000 HTTP/1.1\r\nHost: x\r\n\r\n")
                Thread.sleep(forTimeInterval: 0.2)
                let t = Date()
                let other = try RawClient.request(s.port, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout: 10)
                #expect(other.status == 200)
                #expect(Date().timeIntervalSince(t) < 4, "the worker was held by a client that does not read")
            }
        }

        /// 1,000 slowloris connections (a header byte each every 0.5 s) and 1,000 idle
        /// keep-alive connections do not delay other clients.
        @Test func slowClientsDoNotDelayOthers() throws {
            try withServer(["--no-access-log", "testapp:application"]) { s in
                var slow: [RawClient] = []
                for _ in 0..<1000 {
                    let c = try RawClient(port: s.port)
                    try c.send("GET / HTTP/1.1\r\nHost: x\r\n")
                    slow.append(c)
                }
                var idle: [RawClient] = []
                for _ in 0..<1000 {
                    let c = try RawClient(port: s.port)
                    try c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                    idle.append(c)
                }
                for c in idle { _ = try c.readResponse() }
                var worst: TimeInterval = 0
                let start = Date()
                var round = 0
                while Date().timeIntervalSince(start) < 3 {
                    for c in slow { try? c.send("X") }
                    for _ in 0..<20 {
                        let t = Date()
                        let r = try RawClient.get(s.port, "/hello")
                        #expect(r.status == 200)
                        worst = max(worst, Date().timeIntervalSince(t))
                    }
                    round += 1
                    Thread.sleep(forTimeInterval: 0.5)
                }
                #expect(worst < 0.5, "slowest request among slow clients: \(worst) s")
                #expect(round >= 3)
                slow.removeAll()
                idle.removeAll()
            }
        }
    }
}
