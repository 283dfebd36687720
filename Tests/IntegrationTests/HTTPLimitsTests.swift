import Foundation
import Testing

extension IntegrationSuite {
    /// Issue 3: limits with clear statuses, timeouts on the worker loop, slow-client defence.
    @Suite struct HTTPLimitsTests {
        /// Each head limit is configurable and answered with its status and a close.
        @Test func configurableHeadLimits() throws {
            try withServer(
                [
                    "--limit-request-line", "100", "--limit-request-field-size", "60", "--limit-request-fields", "4",
                    "--limit-request-head", "180", "testapp:application",
                ], workers: 1
            ) { s in
                let cases: [(String, Int, String)] = [
                    (
                        "GET /" + String(repeating: "a", count: 120) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414,
                        "request line too long"
                    ),
                    (
                        "GET / HTTP/1.1\r\nHost: x\r\nX: " + String(repeating: "b", count: 70) + "\r\n\r\n", 431,
                        "header field too large"
                    ),
                    (
                        "GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n", 431,
                        "too many header fields"
                    ),
                    // 4 fields of at most 60 bytes each, 195 bytes in all:
                    (
                        "GET / HTTP/1.1\r\nHost: x\r\n"
                            + (0..<3).map { "H\($0): " + String(repeating: "c", count: 50) + "\r\n" }.joined() + "\r\n",
                        431, "request head too large"
                    ),
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

                let ok = try RawClient.request(
                    s.port,
                    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n"
                        + String(repeating: "k", count: 1000))
                #expect(ok.body.count == 1000)

                let chunk = String(repeating: "z", count: 600)
                let ch = try RawClient(port: s.port)
                try ch.send(
                    "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n\(chunk)\r\n258\r\n\(chunk)\r\n0\r\n\r\n"
                )
                let rc = try ch.readResponse()
                #expect(rc.status == 413)
                #expect(ch.isClosedByServer())
            }
        }

        /// Without --limit-request-body, bodies over 100 MiB get 413 before the app runs (they
        /// would go to disk first); --limit-request-body 0 means no limit.
        @Test func defaultRequestBodyLimit() throws {
            func interim(_ port: Int, contentLength: Int) throws -> Int {
                let c = try RawClient(port: port)
                try c.send(
                    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: \(contentLength)\r\nExpect: 100-continue\r\n\r\n"
                )
                return try c.readResponse().status
            }
            try withServer(["testapp:application"], workers: 1) { s in
                let over = try interim(s.port, contentLength: 104_857_601)
                let at = try interim(s.port, contentLength: 104_857_600)
                #expect(over == 413)
                #expect(at == 100)
            }
            // 0 lifts the limit (a body still has to fit in the worker's temporary files).
            try withServer(["--limit-request-body", "0", "testapp:application"], workers: 1) { s in
                let large = try interim(s.port, contentLength: 200 << 20)
                #expect(large == 100)
                let huge = try interim(s.port, contentLength: 1 << 40)
                #expect(huge == 413)
                #expect(s.stderrContains("it is larger than --body-spool-max"))
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

        /// A body that stops arriving gets 408 at --body-timeout (counted from its last byte)
        /// without the app running, while other clients are served; also a large one being
        /// received into a file. A client that does not read its response is cut off at
        /// --write-timeout, and the worker serves others meanwhile.
        @Test func bodyAndWriteTimeouts() throws {
            try withServer(["--body-timeout", "1", "--write-timeout", "1", "testapp:application"], workers: 1) { s in
                try Self.bodyTimeouts(s)
                Thread.sleep(forTimeInterval: 0.1)  // the worker's lingering closes see the clients' ends
                // A 60 MB response to a client that reads nothing (a small receive buffer, so
                // the kernel holds little of it).
                let worker = try #require(s.liveWorkerPids().first)
                let fdsBefore = ProcFS.openFDCount(worker)
                var size: Int32 = 4096
                let lazy = try RawClient(port: s.port)
                setsockopt(lazy.fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
                try lazy.send("GET /big?60000000 HTTP/1.1\r\nHost: x\r\n\r\n")
                let asked = Date()
                Thread.sleep(forTimeInterval: 0.2)
                let t = Date()
                let other = try RawClient.request(
                    s.port, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout: 10)
                #expect(other.status == 200)
                #expect(Date().timeIntervalSince(t) < 0.5, "the worker was held by a client that does not read")
                #expect(
                    ProcFS.waitForFDCount(worker, fdsBefore + 1), "the lazy connection is open while its response waits"
                )
                #expect(s.stderrContains("did not read its response for 1 s", timeout: 5))
                let cut = Date().timeIntervalSince(asked)
                #expect(cut > 0.9 && cut < 2.0, "cut off after \(cut) s for a 1 s write timeout")
                // The worker has closed the connection (the kernel may still be delivering what
                // it had queued, at the pace of the tiny window).
                #expect(ProcFS.waitForFDCount(worker, fdsBefore), "the connection was not closed at the write timeout")
            }
        }

        static func bodyTimeouts(_ s: ServerProcess) throws {
            let c = try RawClient(port: s.port)
            try c.send("POST /echo-error HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial")
            let stalled = Date()
            #expect(try RawClient.get(s.port, "/hello").status == 200, "a slow upload holds the worker")
            let r = try c.readResponse(timeout: 5)
            let waited = Date().timeIntervalSince(stalled)
            #expect(r.status == 408)
            #expect(waited > 0.9 && waited < 2.0, "408 after \(waited) s for a 1 s body timeout")
            #expect(c.isClosedByServer())

            let large = try RawClient(port: s.port)
            try large.send(
                "POST /echo-error HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n"
                    + String(repeating: "p", count: 1_500_000))
            let largeStalled = Date()
            let rl = try large.readResponse(timeout: 5)
            let largeWaited = Date().timeIntervalSince(largeStalled)
            #expect(rl.status == 408)
            #expect(largeWaited > 0.9 && largeWaited < 2.0, "408 after \(largeWaited) s for a 1 s body timeout")
            #expect(large.isClosedByServer())
        }

        /// Bodies over --body-buffer-size are received into an unnamed temporary file before the
        /// app runs and read back whole (Content-Length and chunked, pipelined after); the file
        /// is gone with the request (the worker's descriptors return to their count).
        @Test func largeBodiesAreSpooled() throws {
            try withServer(["--body-buffer-size", "100000", "testapp:application"], workers: 1) { s in
                let worker = try #require(s.liveWorkerPids().first)
                _ = try RawClient.get(s.port, "/hello")
                Thread.sleep(forTimeInterval: 0.3)
                let before = ProcFS.openFDCount(worker)
                var bytes = [UInt8](repeating: 0, count: 5_000_000)
                for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 13) }
                let digest = "\(bytes.count):\(adler32Hex(bytes))"
                let c = try RawClient(port: s.port)
                try c.send("POST /digest HTTP/1.1\r\nHost: x\r\nContent-Length: \(bytes.count)\r\n\r\n")
                try c.send(Array(bytes[..<1_000_000]))
                Thread.sleep(forTimeInterval: 0.3)
                // Mid-upload the body is in a file: the connection's descriptor and the spool's.
                #expect(ProcFS.openFDCount(worker) == before + 2, "no spool file while the body arrives")
                try c.send(Array(bytes[1_000_000...]))
                #expect(try c.readResponse().text == digest)
                // Chunked, in 64 KiB chunks, with a pipelined request after it.
                var chunked: [UInt8] = Array(
                    "POST /digest HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
                var offset = 0
                while offset < bytes.count {
                    let n = min(65536, bytes.count - offset)
                    chunked +=
                        Array((String(n, radix: 16) + "\r\n").utf8) + bytes[offset..<(offset + n)] + Array("\r\n".utf8)
                    offset += n
                }
                chunked += Array("0\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
                try c.send(chunked)
                #expect(try c.readResponse().text == digest)
                #expect(try c.readResponse().text == "Hello, World!")
                // A small body with a size limit of 0 in memory goes to a file too.
                Thread.sleep(forTimeInterval: 0.3)
                // The open connection's descriptor, and no spool file.
                #expect(ProcFS.openFDCount(worker) == before + 1, "the spool file was not closed")
            }
            // A spool directory that disappears: 503 and a log line, not a crash.
            let gone = FileManager.default.temporaryDirectory.appendingPathComponent("spool-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: gone, withIntermediateDirectories: true)
            try withServer(["--body-buffer-size", "10", "--body-spool-dir", gone, "testapp:application"], workers: 1) {
                s in
                try FileManager.default.removeItem(atPath: gone)
                let r = try RawClient.request(
                    s.port,
                    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + String(repeating: "b", count: 100)
                )
                #expect(r.status == 503)
                #expect(s.stderrContains("cannot buffer a request body"))
                #expect(try RawClient.get(s.port, "/hello").status == 200)
            }
            // With --body-buffer-size 0 even a 5-byte body goes to a file while it arrives.
            try withServer(["--body-buffer-size", "0", "testapp:application"], workers: 1) { s in
                let worker = try #require(s.liveWorkerPids().first)
                _ = try RawClient.get(s.port, "/hello")
                Thread.sleep(forTimeInterval: 0.3)
                let before = ProcFS.openFDCount(worker)
                let c = try RawClient(port: s.port)
                try c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhe")
                Thread.sleep(forTimeInterval: 0.3)
                #expect(ProcFS.openFDCount(worker) == before + 2, "no spool file while the body arrives")
                try c.send("llo")
                #expect(try c.readResponse().text == "hello")
            }
        }

        /// A large upload that trickles does not hold the worker: one worker answers others at
        /// once while it arrives, then the app gets the whole body.
        @Test func slowUploadDoesNotHoldTheWorker() throws {
            try withServer(["testapp:application"], workers: 1) { s in
                let total = 3_000_000
                let c = try RawClient(port: s.port)
                try c.send("POST /digest HTTP/1.1\r\nHost: x\r\nContent-Length: \(total)\r\n\r\n")
                let piece = [UInt8](repeating: 0x61, count: total / 4)
                // While the body is incomplete, the worker answers others at once. (After the
                // last piece the app runs, and a request may wait for it: that is the app's time.)
                for i in 0..<3 {
                    try c.send(piece)
                    let t = Date()
                    #expect(try RawClient.get(s.port, "/hello").status == 200)
                    #expect(Date().timeIntervalSince(t) < 1, "piece \(i): the upload held the worker")
                    Thread.sleep(forTimeInterval: 0.3)
                }
                try c.send(piece)
                let r = try c.readResponse()
                #expect(r.text == "\(total):\(adler32Hex([UInt8](repeating: 0x61, count: total)))")
            }
        }

        /// Large responses to clients that do not read (a generator, a file through
        /// wsgi.file_wrapper, one large bytes object) do not hold the worker: others are served
        /// at once; at --write-timeout those clients are cut off and the iterable's close() runs;
        /// a client that reads gets every byte.
        @Test func slowReadersDoNotHoldTheWorker() throws {
            let log = FileManager.default.temporaryDirectory.appendingPathComponent("close-\(UUID().uuidString).log")
                .path
            defer { try? FileManager.default.removeItem(atPath: log) }
            try withServer(
                ["--write-timeout", "2", "testapp:application"], workers: 1,
                environment: ["DISPATCHD_TEST_CLOSE_LOG": log]
            ) { s in
                var lazy: [RawClient] = []
                for path in ["/stream?400", "/bigfile?30000000", "/big?30000000"] {
                    // Each response is larger than what the kernel buffers on both sides hold.
                    let c = try RawClient(port: s.port)
                    try c.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
                    lazy.append(c)
                }
                Thread.sleep(forTimeInterval: 0.3)
                for _ in 0..<5 {
                    let t = Date()
                    #expect(try RawClient.get(s.port, "/hello").status == 200)
                    #expect(Date().timeIntervalSince(t) < 0.5, "a client that does not read held the worker")
                }
                // A client that reads gets all of each.
                let stream = try RawClient.request(
                    s.port, "GET /stream?400 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout: 20)
                #expect(stream.body.count == 400 * 65536)
                #expect(stream.chunked)
                let file = try RawClient.request(
                    s.port, "GET /bigfile?30000000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout: 20)
                #expect(file.body.count == 30_000_000)
                #expect(file.header("Content-Length") == "30000000")
                // The lazy ones are cut off at the write timeout; the generator's close() ran.
                Thread.sleep(forTimeInterval: 2.5)
                for c in lazy { #expect(c.drainsToEnd()) }
                let lines = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n")
                #expect(lines.filter { $0 == "stream" }.count == 2, "\(lines)")
                #expect(s.stderrContains("did not read its response"))
            }
        }

        /// A streaming response reaches the client piece by piece, as the app produces it.
        @Test func streamedPiecesArriveAsProduced() throws {
            try withServer(["testapp:application"], workers: 1) { s in
                let c = try RawClient(port: s.port)
                let t = Date()
                try c.send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
                while !String(decoding: c.buffer, as: UTF8.self).contains("first\n") {
                    guard try c.fill(timeout: 5) else { break }
                }
                #expect(Date().timeIntervalSince(t) < 0.4, "the first piece waited for the second")
                let r = try c.readResponse()
                #expect(r.text == "first\nsecond\n")
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

/// Adler-32 as zlib computes it, in hex (the /digest route answers length:adler32).
func adler32Hex(_ bytes: [UInt8]) -> String {
    var a: UInt32 = 1
    var b: UInt32 = 0
    for chunk in stride(from: 0, to: bytes.count, by: 5552) {
        for byte in bytes[chunk..<min(chunk + 5552, bytes.count)] {
            a += UInt32(byte)
            b += a
        }
        a %= 65521
        b %= 65521
    }
    let hex = String((b << 16) | a, radix: 16)
    return String(repeating: "0", count: 8 - hex.count) + hex
}
