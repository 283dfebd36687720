import Foundation
import Testing

extension IntegrationSuite {
    /// Issue 14, logs: --access-log-format with gunicorn's atoms and `json`, X-Request-ID kept
    /// or made (in the environ and the log), --log-level.
    @Suite struct AccessLogFormatTests {
        /// The access log lines so far, once one contains `marker` (workers write them after the
        /// response).
        static func lines(_ s: ServerProcess, containing marker: String) -> [String] {
            let deadline = Date().addingTimeInterval(5)
            while Date() < deadline && !s.stdout.text.contains(marker) { Thread.sleep(forTimeInterval: 0.02) }
            return s.stdout.text.split(separator: "\n").map(String.init)
        }

        @Test func gunicornAtoms() throws {
            let format =
                #"%(h)s %(l)s %(u)s %(t)s "%(r)s" %(m)s %(U)s %(q)s %(H)s %(s)s %(B)s %(b)s %(D)s %(M)s %(T)s %(L)s %(p)s "%(f)s" "%(a)s" %({x-request-id}i)s %({Content-Type}o)s %({PATH_INFO}e)s %({x-missing}i)s 100%%"#
            try withServer(["--access-log-format", format, "testapp:application"], workers: 1) { s in
                // alice:secret
                let r = try RawClient.get(
                    s.port, "/status/404?a=1&b=%22",
                    headers:
                        "Authorization: Basic YWxpY2U6c2VjcmV0\r\nX-Request-ID: req-42\r\nReferer: http://r/\r\nUser-Agent: t/1\r\n"
                )
                #expect(r.status == 404)
                let line = try #require(Self.lines(s, containing: "req-42").first { $0.contains("req-42") })
                let pid = try #require(
                    line.range(of: #"<\d+>"#, options: .regularExpression).map {
                        String(line[$0].dropFirst().dropLast())
                    })
                let pattern =
                    #"^127\.0\.0\.1 - alice \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "GET /status/404\?a=1&b=%22 HTTP/1\.1" GET /status/404 a=1&b=%22 HTTP/1\.1 404 4 4 (\d+) (\d+) 0 0\.\d{6} <\#(pid)> "http://r/" "t/1" req-42 text/plain /status/404 - 100%$"#
                #expect(line.range(of: pattern, options: .regularExpression) != nil, "\(line)")
                // %(D)s and %(L)s are the same time.
                let fields = line.split(separator: " ")
                let micros = try #require(Int(fields[15]))
                let decimal = try #require(Double(fields[18]))
                #expect(abs(Double(micros) / 1e6 - decimal) < 0.000002, "\(line)")
                // A body-less response: %(b)s is "-", %(B)s is 0.
                _ = try RawClient.get(s.port, "/status/204?none")
                let empty = try #require(Self.lines(s, containing: "?none").first { $0.contains("?none") })
                #expect(empty.contains(" 204 0 - "), "\(empty)")
            }
        }

        /// One JSON object a line, with fixed keys; bytes a client sent that are not ASCII or
        /// that JSON must escape come out escaped, and the line still parses.
        @Test func jsonLines() throws {
            try withServer(["--access-log-format", "json", "testapp:application"], workers: 1) { s in
                let c = try RawClient(port: s.port)
                // A User-Agent with a quote, a backslash and a Latin-1 byte (obs-text).
                try c.send(
                    Array("GET /environ?q=%22 HTTP/1.1\r\nHost: h:1\r\nUser-Agent: a\"b\\".utf8) + [0xE9]
                        + Array("\r\nConnection: close\r\n\r\n".utf8))
                let r = try c.readResponse()
                #expect(r.status == 200)
                let environ = try #require(try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any])
                let made = try #require(environ["HTTP_X_REQUEST_ID"] as? String)
                #expect(made.range(of: "^[0-9a-f]{32}$", options: .regularExpression) != nil, "\(made)")
                let line = try #require(Self.lines(s, containing: made).first { $0.contains(made) })
                let object = try #require(
                    try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
                #expect(
                    Array(object.keys).sorted()
                        == [
                            "bytes", "duration_us", "host", "method", "pid", "protocol", "referer", "remote_addr",
                            "request_id", "status", "target", "time", "user_agent",
                        ])
                #expect(object["request_id"] as? String == made)
                #expect(object["target"] as? String == "/environ?q=%22")
                #expect(object["user_agent"] as? String == "a\"b\\\u{E9}", "\(line)")
                #expect(object["host"] as? String == "h:1")
                #expect(object["referer"] is NSNull)
                #expect(object["status"] as? Int == 200)
                #expect(object["bytes"] as? Int == r.body.count)
                #expect(object["method"] as? String == "GET" && object["protocol"] as? String == "HTTP/1.1")
                #expect(object["remote_addr"] as? String == "127.0.0.1")
                #expect(
                    (object["time"] as? String)?.range(
                        of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"#, options: .regularExpression) != nil)
                #expect((object["duration_us"] as? Int ?? -1) >= 0)
                #expect(object["pid"] as? Int != nil)
            }
        }

        /// A client's X-Request-ID (one field of 1 to 200 visible ASCII bytes) reaches the
        /// environ and the log unchanged; otherwise the server makes one, unique per request and
        /// per worker.
        @Test func requestIDKeptOrMade() throws {
            let s = try ServerProcess(["--access-log-format", "%(U)s %(q)s %({x-request-id}i)s", "testapp:application"])
            defer { if s.process.isRunning { s.stop() } }
            do {
                func environID(_ query: String, _ headers: String) throws -> String? {
                    let r = try RawClient.get(s.port, "/environ?\(query)", headers: headers)
                    let environ = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any]
                    return environ?["HTTP_X_REQUEST_ID"] as? String
                }
                #expect(try environID("kept", "X-Request-ID: abc-123_XYZ\r\n") == "abc-123_XYZ")
                let long = String(repeating: "a", count: 200)
                #expect(try environID("long", "X-Request-ID: \(long)\r\n") == long)
                var made: [String] = []
                for (query, headers) in [
                    ("space", "X-Request-ID: a b\r\n"), ("toolong", "X-Request-ID: \(long)b\r\n"),
                    ("twice", "X-Request-ID: one\r\nX-Request-ID: two\r\n"), ("none", ""),
                ] {
                    let id = try #require(try environID(query, headers))
                    #expect(id.range(of: "^[0-9a-f]{32}$", options: .regularExpression) != nil, "\(query): \(id)")
                    made.append(id)
                }
                for i in 0..<20 { made.append(try #require(try environID("many\(i)", ""))) }
                #expect(Set(made).count == made.count, "every made ID is new")
                // Each worker writes its buffered lines when it exits.
                s.stop()
                let lines = s.stdout.text.split(separator: "\n").map(String.init)
                #expect(lines.contains("/environ kept abc-123_XYZ"), "\(lines)")
                #expect(lines.contains("/environ space \(made[0])"), "\(lines)")
                #expect(lines.contains("/environ none \(made[3])"), "\(lines)")
                // Both workers made some (different prefixes, so never the same ID).
                #expect(Set(made.map { $0.prefix(16) }).count == 2, "\(made)")
            }
        }

        /// --log-level: lines under it are not written; an application's error (and its
        /// traceback) is written at error and not at critical.
        @Test func logLevel() throws {
            for (level, infoShown, errorShown) in [
                ("info", true, true), ("error", false, true), ("critical", false, false),
            ] {
                let socket = NSTemporaryDirectory() + "dispatchd-loglevel-\(getpid()).sock"
                let s = try ServerProcess(
                    ["--log-level", level, "testapp:application"], workers: 1, bind: "unix:" + socket, waitReady: false)
                defer { s.stop() }
                var answered: HTTPResponse? = nil
                let deadline = Date().addingTimeInterval(20)
                while answered == nil && Date() < deadline {
                    if let c = try? RawClient(unixPath: socket) {
                        try c.send("GET /error HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        answered = try c.readResponse()
                    } else {
                        Thread.sleep(forTimeInterval: 0.05)
                    }
                }
                #expect(answered?.status == 500, "\(level)")
                Thread.sleep(forTimeInterval: 0.3)
                let text = s.stderr.text
                #expect(text.contains("listening on") == infoShown, "\(level): \(text)")
                #expect(text.contains(") ready") == infoShown, "\(level): \(text)")
                #expect(text.contains("error handling GET /error") == errorShown, "\(level): \(text)")
                #expect(text.contains("RuntimeError: boom in the app") == errorShown, "\(level): \(text)")
            }
        }

        @Test func badFormatsAreNamed() throws {
            for (args, message) in [
                (["--access-log-format", "%(x)s"], "--access-log-format: '%(x)s' has %(x)s, which is no atom"),
                (["--access-log-format", "50%"], "--access-log-format: '50%' has a '%' that starts no %(name)s atom"),
                (
                    ["--access-logformat", "%({a}z)s"],
                    "--access-log-format: '%({a}z)s' has %({a}z)s: a {name} atom ends in i"
                ),
                (["--log-level", "loud"], "--log-level: 'loud' is not debug, info, warning, error or critical"),
            ] {
                let s = try ServerProcess(args + ["testapp:application"], waitReady: false)
                #expect(s.waitForExit(timeout: 10) == 64, "\(args)")
                #expect(s.stderr.text.contains("Error: " + message), "\(s.stderr.text)")
            }
        }
    }
}
