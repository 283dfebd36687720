import Foundation
import Testing

extension IntegrationSuite {
    /// Issue 5: static files served by the worker in Swift, before the app.
    @Suite struct StaticFilesTests {
        /// A directory of files for one test, removed after it.
        final class Tree {
            let root: String
            let outside: String

            init() throws {
                let base = FileManager.default.temporaryDirectory.appendingPathComponent("static-\(UUID().uuidString)")
                    .path
                root = base + "/www"
                outside = base + "/outside"
                let fm = FileManager.default
                try fm.createDirectory(atPath: root + "/css", withIntermediateDirectories: true)
                try fm.createDirectory(atPath: root + "/docs", withIntermediateDirectories: true)
                try fm.createDirectory(atPath: root + "/empty", withIntermediateDirectories: true)
                try fm.createDirectory(atPath: root + "/.git", withIntermediateDirectories: true)
                try fm.createDirectory(atPath: outside, withIntermediateDirectories: true)
                try write("css/site.css", "body { color: rgb(1, 2, 3); }\n")
                try write("docs/index.html", "<h1>docs</h1>\n")
                try write("hello.txt", "hello static\n")
                try write(".env", "SECRET=do-not-serve\n")
                try write(".git/config", "SECRET=do-not-serve\n")
                try write("app.js", "console.log('plain');\n")
                try write("app.js.gz", "gzip-bytes")
                try write("app.js.br", "brotli-bytes")
                var big = [UInt8](repeating: 0, count: 1_000_000)
                for i in big.indices { big[i] = UInt8(truncatingIfNeeded: i &* 7 >> 3) }
                try Data(big).write(to: URL(fileURLWithPath: root + "/big.bin"))
                try "SECRET=outside\n".write(toFile: outside + "/secret.txt", atomically: true, encoding: .utf8)
                try fm.createSymbolicLink(atPath: root + "/escape.txt", withDestinationPath: outside + "/secret.txt")
                try fm.createSymbolicLink(atPath: root + "/inside.txt", withDestinationPath: root + "/hello.txt")
            }

            func write(_ path: String, _ text: String) throws {
                try text.write(toFile: root + "/" + path, atomically: true, encoding: .utf8)
            }

            var big: [UInt8] { [UInt8](FileManager.default.contents(atPath: root + "/big.bin")!) }

            deinit {
                try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: root).deletingLastPathComponent().path)
            }
        }

        /// GET and HEAD with type, length, validators; keep-alive across static responses
        /// (pipelined); 405 with Allow for other methods; Cache-Control from --static-expires;
        /// other paths still reach the app; a large file arrives whole (sendfile).
        @Test func servesFiles() throws {
            let t = try Tree()
            try withServer(
                ["--static-map", "/assets=\(t.root)", "--static-expires", "120", "testapp:application"], workers: 1
            ) { s in
                let c = try RawClient(port: s.port)
                try c.send(
                    "GET /assets/css/site.css HTTP/1.1\r\nHost: x\r\n\r\nHEAD /assets/hello.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                )
                let css = try c.readResponse()
                #expect(css.status == 200)
                #expect(css.header("Content-Type") == "text/css; charset=utf-8")
                #expect(css.text == "body { color: rgb(1, 2, 3); }\n")
                #expect(css.header("Cache-Control") == "public, max-age=120")
                #expect(css.header("ETag")?.hasPrefix("\"") == true)
                #expect(css.header("Last-Modified")?.hasSuffix("GMT") == true)
                #expect(css.header("Accept-Ranges") == "bytes")
                let head = try c.readResponse(head: true)
                #expect(head.status == 200)
                #expect(head.header("Content-Length") == "13")
                #expect(try c.readResponse().text == "Hello, World!")  // the app, same connection
                let post = try RawClient.request(
                    s.port,
                    "POST /assets/hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                #expect(post.status == 405)
                #expect(post.header("Allow") == "GET, HEAD")
                let big = try RawClient.request(
                    s.port, "GET /assets/big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                #expect(big.header("Content-Type") == "application/octet-stream")
                #expect(big.body == t.big)
                #expect(try RawClient.get(s.port, "/assets/nope.txt").status == 404)
            }
        }

        /// Pipelined requests wait for responses that are still streaming: a generator, a large
        /// static file (sendfile), a file_wrapper file, then an ordinary response, in order.
        @Test func pipelinedAcrossStreamedResponses() throws {
            let t = try Tree()
            try withServer(["--static-map", "/assets=\(t.root)", "testapp:application"], workers: 1) { s in
                let c = try RawClient(port: s.port)
                try c.send(
                    "GET /stream?40 HTTP/1.1\r\nHost: x\r\n\r\nGET /assets/big.bin HTTP/1.1\r\nHost: x\r\n\r\n"
                        + "GET /bigfile?500000 HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(try c.readResponse().body.count == 40 * 65536)
                #expect(try c.readResponse().body == t.big)
                #expect(try c.readResponse().body.count == 500_000)
                #expect(try c.readResponse().text == "Hello, World!")
            }
        }

        /// Files go out with sendfile: wsgi.file_wrapper files and static files over 32 KiB
        /// (every byte of them, traced in the worker); small static files from memory (no
        /// sendfile); a file served again within a second is not opened again.
        @Test func sendfileAndOpenFileCache() throws {
            let t = try Tree()
            try withServer(["--static-map", "/assets=\(t.root)", "testapp:application"], workers: 1) { s in
                let worker = try #require(s.liveWorkerPids().first)
                let trace = try traced(worker, calls: "sendfile,openat,read,write,writev") { () throws in
                    #expect(try RawClient.get(s.port, "/bigfile?1000000").body.count == 1_000_000)
                    #expect(try RawClient.get(s.port, "/assets/big.bin").body == t.big)
                    #expect(try RawClient.get(s.port, "/assets/big.bin").body == t.big)
                    #expect(try RawClient.get(s.port, "/assets/hello.txt").text == "hello static\n")
                    #expect(try RawClient.get(s.port, "/assets/hello.txt").text == "hello static\n")
                }
                let lines = trace.split(separator: "\n")
                let sent = lines.filter { $0.contains("sendfile(") }.compactMap { line -> Int? in
                    guard let r = line.range(of: " = ", options: .backwards) else { return nil }
                    return Int(line[r.upperBound...].prefix { $0.isNumber })
                }.reduce(0, +)
                #expect(sent == 3_000_000, "sendfile sent \(sent) bytes; the three large files are 3,000,000")
                #expect(lines.filter { $0.contains("openat(") && $0.contains("/big.bin\"") }.count == 1, "\(trace)")
                #expect(lines.filter { $0.contains("openat(") && $0.contains("/hello.txt\"") }.count == 1, "\(trace)")
                // No file went through user space: what was written to the connections (the
                // descriptors sendfile wrote to) is heads and small bodies only.
                let sockets = Set(
                    lines.filter { $0.contains("sendfile(") }.compactMap { line -> Substring? in
                        line.range(of: "sendfile(").map { line[$0.upperBound...].prefix { $0.isNumber } }
                    })
                let written = lines.filter { line in
                    sockets.contains { line.contains(" write(\($0),") || line.contains(" writev(\($0),") }
                }.compactMap { line -> Int? in
                    guard let r = line.range(of: " = ", options: .backwards) else { return nil }
                    return Int(line[r.upperBound...].prefix { $0.isNumber })
                }.reduce(0, +)
                #expect(
                    !sockets.isEmpty && written < 4096, "\(written) bytes written to the connections besides sendfile")
            }
        }

        /// A file changed after it was served is seen within the promised second (open files
        /// and their metadata are cached for one).
        @Test func changedFileIsSeenWithinASecond() throws {
            let t = try Tree()
            try withServer(["--static-map", "/assets=\(t.root)", "testapp:application"], workers: 1) { s in
                #expect(try RawClient.get(s.port, "/assets/hello.txt").text == "hello static\n")
                try t.write("hello.txt", "hello again, a longer text\n")
                let changed = Date()
                var seen: TimeInterval? = nil
                while seen == nil && Date().timeIntervalSince(changed) < 3 {
                    if try RawClient.get(s.port, "/assets/hello.txt").text == "hello again, a longer text\n" {
                        seen = Date().timeIntervalSince(changed)
                    }
                    Thread.sleep(forTimeInterval: 0.02)
                }
                let after = try #require(seen, "the change was never seen")
                #expect(after < 1.2, "the change was seen after \(after) s")
            }
        }

        /// Two maps: each serves its own directory, the longest prefix wins, and
        /// --static-expires PREFIX=S applies to that map only.
        @Test func twoMapsAndExpiresPerMap() throws {
            let t = try Tree()
            let other = t.outside + "/more"
            try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
            try "from the second map\n".write(toFile: other + "/hello.txt", atomically: true, encoding: .utf8)
            try withServer(
                [
                    "--static-map", "/assets=\(t.root)", "--static-map", "/assets/more=\(other)",
                    "--static-expires", "/assets=60", "testapp:application",
                ], workers: 1
            ) { s in
                let first = try RawClient.get(s.port, "/assets/hello.txt")
                #expect(first.text == "hello static\n")
                #expect(first.header("Cache-Control") == "public, max-age=60")
                let second = try RawClient.get(s.port, "/assets/more/hello.txt")
                #expect(second.text == "from the second map\n")
                #expect(second.header("Cache-Control") == nil)
                #expect(
                    try RawClient.get(s.port, "/assets/more/inside.txt").status == 404,
                    "the longer prefix does not fall back to the shorter")
            }
        }

        /// Conditional requests and ranges (RFC 9110 13, 14).
        @Test func conditionalsAndRanges() throws {
            let t = try Tree()
            try withServer(["--static-map", "/assets=\(t.root)", "testapp:application"], workers: 1) { s in
                let first = try RawClient.get(s.port, "/assets/big.bin")
                let etag = try #require(first.header("ETag"))
                let modified = try #require(first.header("Last-Modified"))
                let inm = try RawClient.get(s.port, "/assets/big.bin", headers: "If-None-Match: \"x\", \(etag)\r\n")
                #expect(inm.status == 304)
                #expect(inm.body.isEmpty)
                #expect(inm.header("ETag") == etag)
                // Nothing follows a 304's head (for a file sent with sendfile and for one sent
                // from memory): the next pipelined response starts right after it.
                let smallTag = try #require(try RawClient.get(s.port, "/assets/hello.txt").header("ETag"))
                let pipe = try RawClient(port: s.port)
                try pipe.send(
                    "GET /assets/big.bin HTTP/1.1\r\nHost: x\r\nIf-None-Match: \(etag)\r\n\r\n"
                        + "GET /assets/hello.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: \(smallTag)\r\n\r\n"
                        + "GET /assets/hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(try pipe.readResponse().status == 304)
                #expect(try pipe.readResponse().status == 304)
                #expect(try pipe.readResponse().text == "hello static\n")
                let r1 = try RawClient.get(s.port, "/assets/big.bin", headers: "If-Modified-Since: \(modified)\r\n")
                #expect(r1.status == 304)
                #expect(
                    try RawClient.get(
                        s.port, "/assets/big.bin", headers: "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
                    ).status == 200)
                // If-None-Match that does not match wins over a matching If-Modified-Since.
                let r2 = try RawClient.get(
                    s.port, "/assets/big.bin", headers: "If-None-Match: \"x\"\r\nIf-Modified-Since: \(modified)\r\n")
                #expect(r2.status == 200)
                let big = t.big
                let r = try RawClient.get(s.port, "/assets/big.bin", headers: "Range: bytes=100-199\r\n")
                #expect(r.status == 206)
                #expect(r.header("Content-Range") == "bytes 100-199/1000000")
                #expect(r.body == Array(big[100...199]))
                let tail = try RawClient.get(s.port, "/assets/big.bin", headers: "Range: bytes=-10\r\n")
                #expect(tail.body == Array(big[999_990...]))
                let open = try RawClient.get(s.port, "/assets/big.bin", headers: "Range: bytes=999000-\r\n")
                #expect(open.body == Array(big[999_000...]))
                let bad = try RawClient.get(s.port, "/assets/big.bin", headers: "Range: bytes=2000000-\r\n")
                #expect(bad.status == 416)
                #expect(bad.header("Content-Range") == "bytes */1000000")
                let multi = try RawClient.get(s.port, "/assets/hello.txt", headers: "Range: bytes=0-1,3-4\r\n")
                #expect(multi.status == 200 && multi.text == "hello static\n")
                let r3 = try RawClient.get(
                    s.port, "/assets/hello.txt", headers: "Range: bytes=0-4\r\nIf-Range: \(etag)\r\n")
                #expect(r3.status == 200)
                let fresh = try RawClient.get(
                    s.port, "/assets/big.bin", headers: "Range: bytes=0-4\r\nIf-Range: \(etag)\r\n")
                #expect(fresh.status == 206 && fresh.body == Array(big[0...4]))
                let small = try RawClient.get(s.port, "/assets/hello.txt", headers: "Range: bytes=6-11\r\n")
                #expect(small.status == 206 && small.text == "static")
            }
        }

        /// No path leaves its directory: `..` (plain or encoded), encoded slashes and
        /// backslashes, NUL, symlinks to the outside (unless --static-follow-symlinks), dotfiles
        /// (unless --static-dotfiles); directories: the index with --static-index (a redirect
        /// adds the slash), 403 without, never a listing.
        @Test func traversalAndDirectories() throws {
            let t = try Tree()
            try withServer(
                ["--static-map", "/assets=\(t.root)", "--static-index", "index.html", "testapp:application"], workers: 1
            ) { s in
                let attempts: [(String, Int)] = [
                    ("/assets/../outside/secret.txt", 403), ("/assets/%2e%2e/outside/secret.txt", 403),
                    ("/assets/%2E%2E/%2e%2e/etc/passwd", 403), ("/assets/css/..%2f..%2foutside/secret.txt", 404),
                    ("/assets/..%5coutside%5csecret.txt", 404), ("/assets/hello.txt%00.css", 400),
                    ("/assets/escape.txt", 403), ("/assets/.env", 404), ("/assets/.git/config", 404),
                    ("/assets/%2eenv", 404), ("/assets/empty/", 404), ("/assets/css/", 404),
                ]
                for (path, status) in attempts {
                    let c = try RawClient(port: s.port)
                    try c.send("GET \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    let r = try c.readResponse()
                    #expect(r.status == status, "\(path): \(r.status)")
                    #expect(!r.text.contains("SECRET"), "\(path) leaked")
                }
                #expect(try RawClient.get(s.port, "/assets/inside.txt").text == "hello static\n")
                let redirect = try RawClient.get(s.port, "/assets/docs?x=1")
                #expect(redirect.status == 301)
                #expect(redirect.header("Location") == "/assets/docs/?x=1")
                let index = try RawClient.get(s.port, "/assets/docs/")
                #expect(index.text == "<h1>docs</h1>\n")
                #expect(index.header("Content-Type") == "text/html; charset=utf-8")
            }
            try withServer(["--static-map", "/assets=\(t.root)", "testapp:application"], workers: 1) { s in
                let docs = try RawClient.get(s.port, "/assets/docs/")
                #expect(docs.status == 403)
            }
            try withServer(
                [
                    "--static-map", "/assets=\(t.root)", "--static-follow-symlinks", "--static-dotfiles",
                    "testapp:application",
                ], workers: 1
            ) { s in
                let escape = try RawClient.get(s.port, "/assets/escape.txt")
                #expect(escape.text == "SECRET=outside\n")
                #expect(try RawClient.get(s.port, "/assets/.env").status == 200)
                #expect(try RawClient.get(s.port, "/assets/../outside/secret.txt").status == 403)  // `..` never
            }
        }

        /// Precompressed siblings: .br, then .gz, when accepted; identity otherwise; always
        /// with Vary: Accept-Encoding.
        @Test func precompressed() throws {
            let t = try Tree()
            try withServer(["--static-map", "/assets=\(t.root)", "testapp:application"], workers: 1) { s in
                let br = try RawClient.get(s.port, "/assets/app.js", headers: "Accept-Encoding: gzip, deflate, br\r\n")
                #expect(br.header("Content-Encoding") == "br" && br.text == "brotli-bytes")
                #expect(br.header("Content-Type") == "text/javascript; charset=utf-8")
                #expect(br.header("Vary") == "Accept-Encoding")
                let gz = try RawClient.get(s.port, "/assets/app.js", headers: "Accept-Encoding: gzip, br;q=0\r\n")
                #expect(gz.header("Content-Encoding") == "gzip" && gz.text == "gzip-bytes")
                let plain = try RawClient.get(s.port, "/assets/app.js")
                #expect(plain.header("Content-Encoding") == nil && plain.text == "console.log('plain');\n")
                #expect(plain.header("Vary") == "Accept-Encoding")
                #expect(try RawClient.get(s.port, "/assets/hello.txt").header("Vary") == nil)
            }
        }

        /// --static-fallthrough: a missing file goes to the app; configuration errors name
        /// the option.
        @Test func fallthroughAndOptions() throws {
            let t = try Tree()
            try withServer(
                ["--static-map", "/assets=\(t.root)", "--static-fallthrough", "testapp:application"], workers: 1
            ) { s in
                let nope = try RawClient.get(s.port, "/assets/nope")
                #expect(nope.text == "not found: /assets/nope")
                let hello = try RawClient.get(s.port, "/assets/hello.txt")
                #expect(hello.text == "hello static\n")
            }
            for (args, needle) in [
                (["--static-map", "assets=/tmp"], "--static-map"),
                (["--static-map", "/a=/no/such/dir"], "--static-map"),
                (["--static-map", "/a=/tmp", "--static-expires", "/b=5"], "--static-expires"),
                (["--static-index", "a/b.html"], "--static-index"),
            ] {
                let p = try ServerProcess(args + ["testapp:application"], workers: 1, bind: nil, waitReady: false)
                #expect(p.waitForExit(timeout: 10) != 0)
                #expect(p.stderr.text.contains(needle), "\(args): \(p.stderr.text)")
            }
        }

        /// The demo (conf/echo) in headless Chromium: one dispatchd serves the Flask page, its
        /// stylesheet from /assets (applied: the heading has its color) and the WebSocket at
        /// /ws; a message typed into the page and sent with its button comes back as an echo.
        @Test func demoInBrowser() throws {
            let demo = Paths.repository + "/conf/echo"
            try withServer(["--static-map", "/assets=\(demo)/assets", "--pythonpath", demo, "app:app"], workers: 1) {
                s in
                let css = try RawClient.get(s.port, "/assets/style.css")
                #expect(css.status == 200 && css.header("Content-Type") == "text/css; charset=utf-8")
                let expression = """
                    (() => {
                      const log = document.getElementById('log').textContent;
                      if (log.includes('Connected to') && !window.typed) {
                        window.typed = true;
                        document.getElementById('message').value = 'typed in the page';
                        document.getElementById('send').click();
                      }
                      return getComputedStyle(document.querySelector('h1')).color + ' | ' + log;
                    })()
                    """
                let (status, text) = try runBrowser(
                    url: "http://127.0.0.1:\(s.port)/", expression: expression, until: "Got echo: typed in the page")
                #expect(status == 0, "\(text)")
                #expect(text.hasPrefix("rgb(21, 101, 192) | "), "the stylesheet was not applied: \(text)")
                #expect(text.contains("Connected to ws://127.0.0.1:\(s.port)/ws"))
                #expect(text.contains("Sent: typed in the page"))
            }
        }
    }
}
