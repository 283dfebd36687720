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
