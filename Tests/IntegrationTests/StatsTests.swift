import Foundation
import Testing

extension IntegrationSuite {
    /// Issue 14, observable: --stats, served by the master: /metrics (parsed with
    /// prometheus_client's parser and checked against the requests sent, across recycled
    /// workers), /healthz, /readyz (503 from SIGTERM on), /workers, while every worker is busy.
    @Suite struct StatsTests {
        static func statsPort(_ s: ServerProcess) throws -> Int {
            let text = s.stderr.text
            let range = try #require(text.range(of: #"stats on http://127\.0\.0\.1:\d+"#, options: .regularExpression))
            return try #require(Int(text[range].split(separator: ":").last!))
        }

        /// The metrics as `name{labels}` → value, through prometheus_client's parser.
        static func metrics(_ port: Int) -> [String: Double] {
            let script = """
                import sys, urllib.request
                from prometheus_client.parser import text_string_to_metric_families
                text = urllib.request.urlopen('http://127.0.0.1:%s/metrics' % sys.argv[1]).read().decode()
                for family in text_string_to_metric_families(text):
                    for s in family.samples:
                        labels = ','.join('%s=%s' % kv for kv in sorted(s.labels.items()))
                        print('%s{%s} %r' % (s.name, labels, s.value))
                """
            let (status, output) = Command.python(script, [String(port)])
            #expect(status == 0, "\(output)")
            var out: [String: Double] = [:]
            for line in output.split(separator: "\n") {
                let parts = line.split(separator: " ")
                if parts.count == 2, let v = Double(parts[1]) { out[String(parts[0])] = v }
            }
            return out
        }

        @Test func exactCountsAcrossRecycledWorkers() throws {
            try withServer(
                ["--stats", "127.0.0.1:0", "--max-requests", "7", "--no-access-log", "testapp:application"],
                allowWorkerExits: true
            ) { s in
                let stats = try Self.statsPort(s)
                for _ in 0..<30 { #expect(try RawClient.get(s.port, "/hello").status == 200) }
                for _ in 0..<5 { #expect(try RawClient.get(s.port, "/status/404").status == 404) }
                for _ in 0..<3 { #expect(try RawClient.get(s.port, "/error").status == 500) }
                // Recycling (every 7 requests) has replaced workers meanwhile; give the last
                // exits time to be reaped.
                let deadline = Date().addingTimeInterval(20)
                var m = Self.metrics(stats)
                while Date() < deadline
                    && ((m["dispatchd_workers{state=ready}"] ?? 0) < 2
                        || (m["dispatchd_worker_exits_total{reason=max-requests}"] ?? 0) < 2)
                {
                    Thread.sleep(forTimeInterval: 0.2)
                    m = Self.metrics(stats)
                }
                #expect(m["dispatchd_requests_total{status=2xx}"] == 30, "\(m)")
                #expect(m["dispatchd_requests_total{status=4xx}"] == 5)
                #expect(m["dispatchd_requests_total{status=5xx}"] == 3)
                #expect(m["dispatchd_request_duration_seconds_count{}"] == 38)
                #expect(m["dispatchd_request_duration_seconds_bucket{le=+Inf}"] == 38)
                #expect((m["dispatchd_request_duration_seconds_bucket{le=0.25}"] ?? 0) >= 30)
                #expect(m["dispatchd_connections_accepted_total{}"] == 38)
                #expect((m["dispatchd_worker_exits_total{reason=max-requests}"] ?? 0) >= 2, "\(m)")
                #expect(m["dispatchd_worker_exits_total{reason=crash}"] == 0)
                #expect(m["dispatchd_workers{state=ready}"] == 2)
            }
        }

        /// The queue-time histogram counts every connection a worker took, with the time it
        /// waited for one (in the backlog while the only worker was busy, too); the waiting gauge
        /// sees those connections while they wait.
        @Test func queueTimeAndWaiting() throws {
            try withServer(["--stats", "127.0.0.1:0", "--no-access-log", "testapp:application"], workers: 1) { s in
                let stats = try Self.statsPort(s)
                #expect(try RawClient.get(s.port, "/hello").status == 200)
                let busy = try RawClient(port: s.port)
                try busy.send("GET /sleep?1.5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                Thread.sleep(forTimeInterval: 0.3)
                let waiting = try (0..<3).map { _ in try RawClient(port: s.port) }
                for c in waiting { try c.send("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") }
                Thread.sleep(forTimeInterval: 0.3)
                var m = Self.metrics(stats)
                let waits = ["backlog", "master", "channel"].map {
                    m["dispatchd_connections_waiting{where=\($0)}"] ?? -1
                }
                #expect(waits.reduce(0, +) == 3, "\(waits)")
                #expect(try busy.readResponse().status == 200)
                for c in waiting { #expect(try c.readResponse().status == 200) }
                m = Self.metrics(stats)
                #expect(m["dispatchd_queue_seconds_count{}"] == 5, "\(m)")
                #expect(m["dispatchd_queue_seconds_count{}"] == m["dispatchd_connections_accepted_total{}"])
                // The three waited about 1.2 s for the busy worker; the other two not at all.
                #expect(m["dispatchd_queue_seconds_bucket{le=0.5}"] == 2, "\(m)")
                #expect(m["dispatchd_queue_seconds_bucket{le=5.0}"] == 5, "\(m)")
                let sum = m["dispatchd_queue_seconds_sum{}"] ?? 0
                #expect(sum > 3 * 0.9 && sum < 3 * 1.6, "\(sum)")
                #expect(
                    ["backlog", "master", "channel"].allSatisfy { m["dispatchd_connections_waiting{where=\($0)}"] == 0 }
                )
            }
        }

        /// Bytes in and out are exactly what the clients sent and received; WebSockets open and
        /// their messages are counted both ways.
        @Test func bytesAndWebSockets() throws {
            try withServer(["--stats", "127.0.0.1:0", "--no-access-log", "wsapp:app"], workers: 2) { s in
                let stats = try Self.statsPort(s)
                let script = """
                    import socket, sys
                    sent = received = 0
                    for i in range(6):
                        body = b'x' * (1000 * i)
                        c = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
                        req = b'POST / HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n' % len(body) + body
                        c.sendall(req)
                        sent += len(req)
                        while True:
                            d = c.recv(65536)
                            if not d:
                                break
                            received += len(d)
                        c.close()
                    print(sent, received)
                    """
                let (status, output) = Command.python(script, [String(s.port)])
                #expect(status == 0, "\(output)")
                let totals = output.split(whereSeparator: \.isWhitespace).compactMap { Double($0) }
                #expect(totals.count == 2, "\(output)")
                var m = Self.metrics(stats)
                #expect(m["dispatchd_bytes_total{direction=in}"] == totals.first, "\(m)")
                #expect(m["dispatchd_bytes_total{direction=out}"] == totals.last, "\(m)")
                let ws = try WSClient(port: s.port, path: "/ws/echo")
                for text in ["one", "two", "three"] {
                    try ws.sendText(text)
                    #expect(try ws.read().text == text)
                }
                m = Self.metrics(stats)
                #expect(m["dispatchd_websockets_open{}"] == 1, "\(m)")
                #expect(m["dispatchd_websocket_messages_total{direction=received}"] == 3)
                #expect(m["dispatchd_websocket_messages_total{direction=sent}"] == 3)
                try ws.send(0x8, [0x03, 0xE8])
                _ = try ws.readClose()
                let deadline = Date().addingTimeInterval(5)
                while Date() < deadline && Self.metrics(stats)["dispatchd_websockets_open{}"] != 0 {
                    Thread.sleep(forTimeInterval: 0.05)
                }
                #expect(Self.metrics(stats)["dispatchd_websockets_open{}"] == 0)
            }
        }

        /// `dispatchd top ADDR --once`: the summary and a row per worker, with the request a busy
        /// worker is in; an address nobody serves fails with a message that names it.
        @Test func top() throws {
            try withServer(["--stats", "127.0.0.1:0", "--no-access-log", "testapp:application"], workers: 2) { s in
                let stats = try Self.statsPort(s)
                for _ in 0..<4 { #expect(try RawClient.get(s.port, "/hello").status == 200) }
                #expect(try RawClient.get(s.port, "/status/404").status == 404)
                let busy = try RawClient(port: s.port)
                try busy.send("GET /sleep?2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                Thread.sleep(forTimeInterval: 0.3)
                let (status, output) = Command.run([
                    Paths.binary, "top", "127.0.0.1:\(stats)", "--once", "--interval", "0.3",
                ])
                #expect(status == 0, "\(output)")
                let lines = output.split(separator: "\n").map(String.init)
                #expect(
                    lines.first?.hasPrefix("dispatchd 127.0.0.1:\(stats): workers 2 ready, 0 starting, 0 draining;")
                        == true, "\(output)")
                #expect(lines.first?.contains("in flight 1;") == true, "\(output)")
                #expect(lines.contains { $0.hasPrefix("requests 2xx 4  3xx 0  4xx 1  5xx 0;") }, "\(output)")
                #expect(lines.contains { $0.hasPrefix("WORKER  PID     STATE     REQUESTS  REQ/S") }, "\(output)")
                let rows = lines.filter { $0.range(of: #"^[01] +\d+ +ready "#, options: .regularExpression) != nil }
                #expect(rows.count == 2, "\(output)")
                #expect(rows.filter { $0.hasSuffix(" GET /sleep?2") }.count == 1, "\(output)")
                // One decimal: the mean, a worker's RSS in MiB, the busy request's seconds.
                #expect(
                    lines.contains {
                        $0.range(of: #"^requests .*; mean \d+\.\d ms; accepted \d+$"#, options: .regularExpression)
                            != nil
                    }, "\(output)")
                #expect(
                    rows.filter {
                        $0.range(
                            of: #" ready +\d+ +\S+ +\d+\.\d +0 +[0-9]\.\d +GET /sleep\?2$"#, options: .regularExpression
                        )
                            != nil
                    }.count == 1, "\(output)")
                #expect(try busy.readResponse().status == 200)
            }
            let (status, output) = Command.run([Paths.binary, "top", "127.0.0.1:1", "--once"])
            #expect(status != 0 && output.contains("127.0.0.1:1: cannot connect"), "\(output)")
            let (badStatus, badOutput) = Command.run([Paths.binary, "top", "nowhere"])
            #expect(badStatus == 64 && badOutput.contains("'nowhere' is not HOST:PORT"), "\(badOutput)")
        }

        @Test func answersWhileEveryWorkerIsBusy() throws {
            try withServer(["--stats", "127.0.0.1:0", "--shutdown-delay", "2", "testapp:application"], workers: 1) {
                s in
                let stats = try Self.statsPort(s)
                #expect(try RawClient.get(stats, "/healthz").text == "ok\n")
                #expect(try RawClient.get(stats, "/readyz").status == 200)
                let busy = try RawClient(port: s.port)
                try busy.send("GET /sleep?2 HTTP/1.1\r\nHost: x\r\n\r\n")
                Thread.sleep(forTimeInterval: 0.5)
                let started = Date()
                let workers = try RawClient.get(stats, "/workers")
                #expect(Date().timeIntervalSince(started) < 0.5, "the master answers at once")
                let list = try #require(try JSONSerialization.jsonObject(with: Data(workers.body)) as? [[String: Any]])
                #expect(list.count == 1)
                #expect(list.allSatisfy { $0["request"] as? String == "GET /sleep?2" }, "\(workers.text)")
                #expect(list.allSatisfy { ($0["request_seconds"] as? Double ?? 0) > 0.2 }, "\(workers.text)")
                #expect(list.allSatisfy { ($0["rss_kib"] as? Int ?? 0) > 1000 }, "\(workers.text)")
                #expect(Self.metrics(stats)["dispatchd_requests_in_flight{}"] == 1)
                #expect(try busy.readResponse().status == 200)
                // SIGTERM with --shutdown-delay: still accepting, but no longer ready.
                kill(s.pid, SIGTERM)
                Thread.sleep(forTimeInterval: 0.3)
                #expect(try RawClient.get(stats, "/readyz").status == 503)
                #expect(try RawClient.get(stats, "/healthz").status == 200)
                #expect(try RawClient.get(s.port, "/hello").status == 200)
            }
        }
    }
}
