import Foundation
import Testing

extension IntegrationSuite {
    @Suite struct WSGITests {
        /// Every environ key PEP 3333 requires, with the right values.
        @Test func environ() throws {
            try withServer(["testapp:application"]) { s in
                let r = try RawClient.get(
                    s.port, "/environ/a%20b%2Fc?x=1&y=%20",
                    headers:
                        "X-Custom: one\r\nX-Custom: two\r\nCookie: a=1\r\nCookie: b=2\r\nX_Spoof: no\r\nContent-Type: text/x\r\n"
                )
                let e = r.json
                #expect(e["REQUEST_METHOD"] as? String == "GET")
                #expect(e["SCRIPT_NAME"] as? String == "")
                #expect(e["PATH_INFO"] as? String == "/environ/a b/c")
                #expect(e["QUERY_STRING"] as? String == "x=1&y=%20")
                #expect(e["RAW_URI"] as? String == "/environ/a%20b%2Fc?x=1&y=%20")
                #expect(e["SERVER_PROTOCOL"] as? String == "HTTP/1.1")
                #expect(e["SERVER_NAME"] as? String == "127.0.0.1")
                #expect(e["SERVER_PORT"] as? String == String(s.port))
                #expect(e["REMOTE_ADDR"] as? String == "127.0.0.1")
                #expect(Int(e["REMOTE_PORT"] as? String ?? "") != nil)
                #expect(e["HTTP_HOST"] as? String == "localhost")
                #expect(e["HTTP_X_CUSTOM"] as? String == "one, two")
                #expect(e["HTTP_COOKIE"] as? String == "a=1; b=2")
                #expect(e["HTTP_X_SPOOF"] == nil, "header names with _ are dropped")
                #expect(e["CONTENT_TYPE"] as? String == "text/x")
                #expect(e["HTTP_CONTENT_TYPE"] == nil)
                #expect(e["wsgi.url_scheme"] as? String == "http")
                #expect(e["wsgi.version"] as? [Int] == [1, 0])
                #expect(e["wsgi.multithread"] as? Bool == false)
                #expect(e["wsgi.multiprocess"] as? Bool == true)
                #expect(e["wsgi.run_once"] as? Bool == false)
                #expect(e["wsgi.input_terminated"] as? Bool == true)
                #expect(e["has_file_wrapper"] as? Bool == true)
                #expect(e["errors_is_stderr"] as? Bool == true)
                // Non-ASCII bytes in the path decode as latin-1; absolute-form targets map.
                let latin = try RawClient.get(s.port, "/environ/%C3%A9")
                #expect(latin.json["PATH_INFO"] as? String == "/environ/\u{C3}\u{A9}")
                let abs = try RawClient.request(
                    s.port,
                    "GET http://example.com:8/environ?q=1 HTTP/1.1\r\nHost: example.com:8\r\nConnection: close\r\n\r\n")
                #expect(abs.json["PATH_INFO"] as? String == "/environ")
                #expect(abs.json["QUERY_STRING"] as? String == "q=1")
                let post = try RawClient.request(
                    s.port, "POST /environ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                #expect(post.json["CONTENT_LENGTH"] as? String == "0")
                // wsgiref's validator checks environ, start_response and iteration from inside.
                let v = try RawClient.get(s.port, "/validated")
                #expect(v.status == 200)
                #expect(v.text == "Hello, World!")
            }
        }

        /// write(), exc_info, file_wrapper (sendfile and the iteration fallback).
        @Test func responseAPIs() throws {
            try withServer(["testapp:application"]) { s in
                #expect(try RawClient.get(s.port, "/write").text == "written;returned")
                let ex = try RawClient.get(s.port, "/excinfo")
                #expect(ex.status == 503)
                #expect(ex.text == "recovered")
                let f = try RawClient.get(s.port, "/file")
                let expected = Array(String(repeating: "0123456789", count: 10000).utf8.dropFirst(5))
                #expect(f.header("Content-Length") == String(expected.count))
                #expect(f.body == expected)
                #expect(try RawClient.get(s.port, "/filelike").text == "from a BytesIO")
                let big = try RawClient.get(s.port, "/big?3000000")
                #expect(big.body.count == 3_000_000)
            }
        }

        /// Exceptions give 500 (or a cut connection after headers) and the worker lives on;
        /// invalid headers never reach the wire.
        @Test func errors() throws {
            try withServer(["testapp:application"], workers: 1) { s in
                let pid = try RawClient.get(s.port, "/pid").text
                let r = try RawClient.get(s.port, "/error")
                #expect(r.status == 500)
                #expect(r.text == "Internal Server Error\n")
                #expect(s.stderrContains("RuntimeError: boom in the app"))
                #expect(s.stderrContains("error handling GET /error"))
                for path in ["/badheader", "/badname", "/notbytes", "/nostart"] {
                    let c = try RawClient(port: s.port)
                    try c.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
                    let bad = try c.readResponse()
                    #expect(bad.status == 500, "\(path)")
                    #expect(bad.header("Injected") == nil)
                    #expect(!String(decoding: bad.body, as: UTF8.self).contains("never"))
                }
                let late = try RawClient(port: s.port)
                try late.send("GET /excinfo-late HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(late.readUntilClosed(timeout: 2), "the connection was left open after the failure")
                let raw = String(decoding: late.buffer, as: UTF8.self)
                #expect(raw.contains("started;"), "\(raw)")
                #expect(!raw.hasSuffix("0\r\n\r\n"), "the cut response has no last chunk")
                #expect(s.stderrContains("ValueError: late failure"))
                // An exception after the head was sent: the connection is closed (not left
                // hanging), so the client sees a response without its last chunk.
                let after = try RawClient(port: s.port)
                try after.send("GET /error-after HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(after.readUntilClosed(timeout: 2), "the connection was left open after the failure")
                let cut = String(decoding: after.buffer, as: UTF8.self)
                #expect(
                    cut.hasPrefix("HTTP/1.1 200 OK\r\n") && cut.hasSuffix("\r\n7\r\npartial\r\n"),
                    "\(cut.debugDescription)")
                #expect(try RawClient.get(s.port, "/pid").text == pid, "the same worker still serves")
            }
        }

        /// The legacy write() callable sends what the socket takes and returns; it blocks the
        /// app only while more than 256 KiB of its output are unsent (and resumes as the client
        /// reads). Measured exactly: what the app has written, less what the kernel holds.
        @Test func writeBlocksAboveHighWater() throws {
            let progress = FileManager.default.temporaryDirectory.appendingPathComponent(
                "progress-\(UUID().uuidString).log"
            ).path
            defer { try? FileManager.default.removeItem(atPath: progress) }
            try withServer(["testapp:application"], workers: 1, environment: ["DISPATCHD_TEST_PROGRESS_LOG": progress])
            { s in
                let pieces = 256  // 16 MiB: more than the kernel's buffers take
                let c = try RawClient(port: s.port, receiveBuffer: 65536)
                try c.send("GET /write-progress?\(pieces) HTTP/1.1\r\nHost: x\r\n\r\n")
                Thread.sleep(forTimeInterval: 0.5)
                let returned = ((try? String(contentsOfFile: progress, encoding: .utf8)) ?? "").split(separator: "\n")
                    .count
                // The app is inside write() number `returned + 1`, whose piece is buffered.
                let written = (returned + 1) * 65536
                let kernel = try Sockets.serverSendQueue(serverPort: s.port, clientPort: c.localPort) + c.unreadInKernel
                let unsent = written - (kernel - 200)  // the head's bytes (under 200) are in the kernel count
                #expect(returned < pieces - 1, "write() never blocked: \(returned) of \(pieces) returned")
                #expect(
                    unsent >= 256 * 1024 && unsent <= 256 * 1024 + 65536 + 200,
                    "\(unsent) bytes unsent in the worker while write() blocks (\(returned) writes returned, \(kernel) in the kernel)"
                )
                let r = try c.readResponse(timeout: 10)
                #expect(r.body.count == pieces * 65536 && r.body.allSatisfy { $0 == 0x77 })
                let lines = ((try? String(contentsOfFile: progress, encoding: .utf8)) ?? "").split(separator: "\n")
                #expect(lines.last == "wrote \(pieces)")
            }
        }

        /// close() on the response iterable is called after every response, also when the
        /// client went away in the middle.
        @Test func iterableCloseIsAlwaysCalled() throws {
            let log = FileManager.default.temporaryDirectory.appendingPathComponent("close-\(UUID().uuidString).log")
                .path
            defer { try? FileManager.default.removeItem(atPath: log) }
            try withServer(["testapp:application"], workers: 1, environment: ["DISPATCHD_TEST_CLOSE_LOG": log]) { s in
                #expect(try RawClient.get(s.port, "/tracked?first").text == "ab")
                do {
                    let c = try RawClient(port: s.port)
                    try c.send("GET /slow-tracked?gone HTTP/1.1\r\nHost: x\r\n\r\n")
                    _ = try c.fill(timeout: 5)
                }
                // The client closed after the first bytes; the app sees the disconnect soon.
                var lines: [String] = []
                for _ in 0..<200 {
                    lines = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(
                        String.init)
                    if lines.count >= 2 { break }
                    Thread.sleep(forTimeInterval: 0.05)
                }
                #expect(lines == ["first", "gone"])
                #expect(try RawClient.get(s.port, "/hello").status == 200)
            }
        }

        /// Python threads run: inside a request, and in the background between requests.
        @Test func pythonThreads() throws {
            try withServer(["testapp:application"], workers: 1) { s in
                #expect(try RawClient.get(s.port, "/thread").text == "thread:[499500]")
                _ = try RawClient.get(s.port, "/background-thread")
                Thread.sleep(forTimeInterval: 0.5)
                let n = Int(try RawClient.get(s.port, "/background-thread").text) ?? 0
                #expect(n > 10, "a background thread ran \(n) ticks while the worker was idle")
            }
        }

        /// A Flask app, with URL converters, JSON, forms and uploads.
        @Test func flask() throws {
            try withServer(["flaskapp:app"]) { s in
                #expect(try RawClient.get(s.port, "/").text == "Hello from Flask")
                let j = try RawClient.get(s.port, "/json/21?a=b")
                #expect(j.json["doubled"] as? Int == 42)
                #expect((j.json["args"] as? [String: String]) == ["a": "b"])
                let form = try RawClient.request(
                    s.port,
                    "POST /form HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 11\r\nConnection: close\r\n\r\nname=dispat"
                )
                #expect((form.json["form"] as? [String: String]) == ["name": "dispat"])
                let up = try RawClient.request(
                    s.port,
                    "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n"
                )
                #expect(up.json["size"] as? Int == 7)
                #expect(up.json["head"] as? String == "abcdefg")
                #expect(try RawClient.get(s.port, "/missing").status == 404)
            }
        }

        /// --wsgi-file with --callable.
        @Test func wsgiFile() throws {
            try withServer(["--wsgi-file", "wsgifile_app.py", "--callable", "app"], workers: 1) { s in
                let r = try RawClient.get(s.port, "/")
                #expect(r.text == "from a wsgi file")
            }
        }

        /// One access log line per request, combined format plus the time; --no-access-log.
        @Test func accessLog() throws {
            try withServer(["testapp:application"], workers: 1) { s in
                _ = try RawClient.get(
                    s.port, "/hello?q=\"x", headers: "Referer: http://r/\r\nUser-Agent: tester/1.0\r\n")
                var line = ""
                for _ in 0..<100 {
                    line = s.stdout.text
                    if line.contains("tester") { break }
                    Thread.sleep(forTimeInterval: 0.05)
                }
                let pattern =
                    #"^127\.0\.0\.1 - - \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "GET /hello\?q=\\x22x HTTP/1\.1" 200 13 "http://r/" "tester/1\.0" \d+\.\d{6}$"#
                #expect(
                    line.split(separator: "\n").contains { $0.range(of: pattern, options: .regularExpression) != nil },
                    "\(line)")
            }
            // Workers flush their access log when they exit: after the stop, nothing more can
            // come, and with --no-access-log nothing did (with it, the line is there).
            for (flag, expectLine) in [("--no-access-log", false), ("--pythonpath=.", true)] {
                let s = try ServerProcess([flag, "testapp:application"], workers: 1)
                _ = try RawClient.get(s.port, "/hello?marker")
                s.stop()
                #expect(
                    s.stdout.text.contains("GET /hello?marker") == expectLine,
                    "\(flag): \(s.stdout.text.debugDescription)")
            }
        }
    }
}
