import Foundation
import Testing

extension IntegrationSuite {
    /// Issue 13 (its second part): `--ini` files, `DISPATCHD_*` variables, `PORT` and
    /// `WEB_CONCURRENCY`, their precedence (command line > environment > files > defaults),
    /// `--print-config`, and errors that name the file and line or the variable.
    @Suite struct ConfigFileTests {
        /// A temporary directory with `files` written in it; its path.
        static func directory(_ files: [String: String]) throws -> String {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ini-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for (name, text) in files { try text.write(toFile: "\(dir)/\(name)", atomically: true, encoding: .utf8) }
            return dir
        }

        /// `dispatchd ARGUMENTS --print-config`'s output (stdout and stderr), in the test's
        /// environment without PORT and WEB_CONCURRENCY plus `environment`; it must exit 0.
        static func printConfig(
            _ arguments: [String], _ environment: [String: String] = [:],
            sourceLocation: SourceLocation = #_sourceLocation
        ) throws -> String {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Paths.binary)
            p.arguments = arguments + ["--print-config"]
            var env = ProcessInfo.processInfo.environment
            env["PORT"] = nil
            env["WEB_CONCURRENCY"] = nil
            for (k, v) in environment { env[k] = v }
            p.environment = env
            let out = Pipe()
            p.standardOutput = out
            p.standardError = out
            try p.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(p.terminationStatus == 0, "\(text)", sourceLocation: sourceLocation)
            return text
        }

        /// The guide's ini, with the module's factory, a virtualenv the test makes and a
        /// certificate (its relative names are the chdir's, as in uWSGI): served over HTTP and
        /// HTTPS, with 2 workers of 8 threads.
        @Test func guideIni() throws {
            let venv = FileManager.default.temporaryDirectory.appendingPathComponent("venv-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: venv) }
            let python = ProcessInfo.processInfo.environment["PYTHON"] ?? "python3"
            let make = Process()
            make.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            make.arguments = [python, "-m", "venv", "--without-pip", "--system-site-packages", venv]
            try make.run()
            make.waitUntilExit()
            #expect(make.terminationStatus == 0)
            let certs = TestCertificates.shared
            let dir = try Self.directory([
                "mycert.crt": try String(contentsOfFile: certs.certificate, encoding: .utf8),
                "mykey.key": try String(contentsOfFile: certs.key, encoding: .utf8),
            ])
            try """
            [uwsgi]
            http = 127.0.0.1:0
            https = 127.0.0.1:0,mycert.crt,mykey.key
            chdir = \(dir)
            pythonpath = \(Paths.apps)
            module = guidepkg.helloworld:MyHandler()
            virtualenv = \(venv)
            master = true
            processes = 2
            threads = 8
            """.write(toFile: dir + "/app.ini", atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let s = try ServerProcess(["--ini", "\(dir)/app.ini"], workers: 2, bind: nil, chdir: nil)
            defer { s.stop() }
            #expect(try RawClient.get(s.port, "/").text == "made by a factory, 1 made\n")
            let https = try #require(s.port("https"))
            let (status, output) = Command.run([
                "curl", "-s", "--cacert", certs.ca, "--resolve", "localhost:\(https):127.0.0.1",
                "https://localhost:\(https)/",
            ])
            #expect(status == 0 && output == "made by a factory, 1 made\n", "\(output)")
            #expect(s.liveWorkerPids().count == 2)
        }

        /// Later sources win: files, then DISPATCHD_* variables (and WEB_CONCURRENCY), then the
        /// command line; PORT binds 0.0.0.0 only when no source gives an address. Read back
        /// with --print-config, which also says where each value came from.
        @Test func precedenceAndPrintConfig() throws {
            let dir = try Self.directory([
                "a.ini": "[uwsgi]\nworkers = 2\nmodule = guide_app:application\n[dispatchd]\nkeep-alive = 33\n",
                "b.ini": "[uwsgi]\nworkers = 5\n[staging]\nworkers = 6\n",
            ])
            defer { try? FileManager.default.removeItem(atPath: dir) }
            func printed(_ arguments: [String], _ environment: [String: String] = [:]) throws -> String {
                try Self.printConfig(arguments, environment)
            }
            func workers(_ text: String) -> String? {
                text.range(of: #""count" : \d+"#, options: .regularExpression).map { String(text[$0].dropFirst(10)) }
            }
            let a = "\(dir)/a.ini"
            let b = "\(dir)/b.ini"
            var text = try printed(["--ini", a])
            #expect(workers(text) == "2" && text.contains("\"keepAlive\" : 33"), "\(text)")
            #expect(text.contains("\(a):2: workers = 2") && text.contains("\(a):5: keep-alive = 33"))
            #expect(workers(try printed(["--ini", a, "--ini", b])) == "5", "the later file wins")
            #expect(workers(try printed(["--ini", a, "--ini", "\(b):staging"])) == "6", "FILE:SECTION")
            text = try printed(["--ini", a], ["DISPATCHD_WORKERS": "3"])
            #expect(workers(text) == "3" && text.contains("DISPATCHD_WORKERS: workers = 3"), "\(text)")
            #expect(workers(try printed(["--ini", a, "--workers", "4"], ["DISPATCHD_WORKERS": "3"])) == "4")
            #expect(workers(try printed(["--ini", a], ["WEB_CONCURRENCY": "7"])) == "7")
            #expect(workers(try printed(["--ini", a], ["WEB_CONCURRENCY": "7", "DISPATCHD_WORKERS": "8"])) == "8")
            text = try printed(["--ini", a], ["PORT": "8123"])
            #expect(text.contains(#""host" : "0.0.0.0""#) && text.contains(#""port" : 8123"#), "\(text)")
            text = try printed(["--ini", a, "--bind", "127.0.0.1:8124"], ["PORT": "8123"])
            #expect(!text.contains("8123") && text.contains(#""port" : 8124"#), "\(text)")
            text = try printed(["--ini", a], ["DISPATCHD_NO_ACCESS_LOG": "true", "DISPATCHD_STATIC_MAP": "/s=\(dir)"])
            #expect(text.contains(#""accessLog" : false"#) && text.contains(#""prefix" : "\/s""#), "\(text)")
        }

        /// The WebSocket options in files like on the command line: --websocket-deflate-memory
        /// from an ini file and a YAML file (the later wins), a bad value named with its place.
        @Test func webSocketDeflateMemoryFromFiles() throws {
            let dir = try Self.directory([
                "a.ini": "[uwsgi]\nmodule = guide_app:application\nwebsocket-deflate-memory = 0\n",
                "b.yaml": "uwsgi:\n  websocket-deflate-memory: 300000\n",
                "bad.ini": "[uwsgi]\nwebsocket-deflate-memory = lots\n",
            ])
            defer { try? FileManager.default.removeItem(atPath: dir) }
            var text = try Self.printConfig(["--ini", "\(dir)/a.ini"])
            #expect(text.contains("\"deflateMemory\" : 0"), "\(text)")
            text = try Self.printConfig(["--ini", "\(dir)/a.ini", "--yaml", "\(dir)/b.yaml"])
            #expect(text.contains("\"deflateMemory\" : 300000"), "\(text)")
            text = try Self.printConfig(["--ini", "\(dir)/a.ini", "--websocket-deflate-memory", "4096"])
            #expect(text.contains("\"deflateMemory\" : 4096"), "\(text)")
            let s = try ServerProcess(
                ["--ini", "\(dir)/bad.ini", "guide_app:application"], workers: 1, waitReady: false)
            #expect(s.waitForExit(timeout: 10) == 64)
            #expect(
                s.stderr.text.contains("bad.ini:2: websocket-deflate-memory: The value 'lots' is invalid"),
                "\(s.stderr.text)")
        }

        /// A Kubernetes Service named `dispatchd` (or `dispatchd-web`) puts service-link variables
        /// into every pod of its namespace: they are not options and do not stop the server,
        /// while a misspelt option still does.
        @Test func kubernetesServiceLinksAreNotOptions() throws {
            let links = [
                "DISPATCHD_PORT": "tcp://10.0.0.7:80", "DISPATCHD_SERVICE_HOST": "10.0.0.7",
                "DISPATCHD_SERVICE_PORT": "80", "DISPATCHD_SERVICE_PORT_HTTP": "80",
                "DISPATCHD_PORT_80_TCP": "tcp://10.0.0.7:80", "DISPATCHD_PORT_80_TCP_PROTO": "tcp",
                "DISPATCHD_PORT_80_TCP_PORT": "80", "DISPATCHD_PORT_80_TCP_ADDR": "10.0.0.7",
                "DISPATCHD_WEB_SERVICE_HOST": "10.0.0.8", "DISPATCHD_WEB_PORT_443_TCP_ADDR": "10.0.0.8",
                "DISPATCHD_WORKERS": "3",
            ]
            let text = try Self.printConfig(["--module", "guide_app:application"], links)
            #expect(text.contains(#""count" : 3"#) && !text.contains("10.0.0.7"), "\(text)")
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Paths.binary)
            p.arguments = ["--module", "guide_app:application", "--print-config"]
            p.environment = ProcessInfo.processInfo.environment.merging(["DISPATCHD_PORT": "80"]) { $1 }
            let err = Pipe()
            p.standardOutput = FileHandle.nullDevice
            p.standardError = err
            try p.run()
            let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(p.terminationStatus == 64 && message.contains("environment variable DISPATCHD_PORT"), "\(message)")
        }

        /// `--yaml`: the same keys in uWSGI's YAML form, after the ini files.
        @Test func yamlFile() throws {
            let dir = try Self.directory([
                "app.yaml": """
                uwsgi:
                  http: 127.0.0.1:0
                  module: guidepkg.helloworld:MyHandler()
                  processes: 2
                  threads: 4
                """,
                "base.ini": "[uwsgi]\nprocesses = 1\nchdir = \(Paths.apps)\n",
            ])
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let s = try ServerProcess(["--ini", "\(dir)/base.ini", "--yaml", "\(dir)/app.yaml"], workers: 2, bind: nil)
            defer { s.stop() }
            #expect(try RawClient.get(s.port, "/").text == "made by a factory, 1 made\n")
            // Without the test harness's --workers: the YAML file's processes: 2 wins over the
            // ini file's 1, which comes first.
            let text = try Self.printConfig(["--ini", "\(dir)/base.ini", "--yaml", "\(dir)/app.yaml"])
            #expect(text.contains("\"count\" : 2") && text.contains("\"threads\" : 4"), "\(text)")
            #expect(text.contains("app.yaml:4: processes = 2") && text.contains("base.ini:2: processes = 1"))
        }

        /// Each problem is reported with its place, and nothing starts (exit 64).
        @Test(arguments: [
            (
                "[uwsgi]\nworkers = 2\nworkrs = 3\n", [:],
                "bad.ini:3: workrs: Unknown option '--workrs'. Did you mean '--workers'?"
            ),
            (
                "[uwsgi]\nworkers = two\n", [:],
                "bad.ini:2: workers: The value 'two' is invalid for '--workers <workers>'"
            ),
            ("[uwsgi]\nmaster = maybe\n", [:], "bad.ini:2: master is a switch: true or false (got 'maybe')"),
            ("[uwsgi]\nworkers 2\n", [:], "bad.ini: line 2: 'workers 2' is not 'key = value'"),
            ("[uwsgi]\nchdir = %q\n", [:], "bad.ini: line 2: unknown magic variable '%q'"),
            ("[uwsgi]\nini = other.ini\n", [:], "bad.ini:2: ini: a file does not include others here"),
            ("[uwsgi]\nyaml = other.yaml\n", [:], "bad.ini:2: yaml: a file does not include others here"),
            (
                "[uwsgi]\n", ["DISPATCHD_WORKRS": "3"],
                "environment variable DISPATCHD_WORKRS: workrs: Unknown option '--workrs'. Did you mean '--workers'?"
            ),
            ("[uwsgi]\n", ["DISPATCHD_THREADS": "0"], "--threads must be at least 1 (got 0)"),
        ])
        func errorsNameTheirPlace(text: String, environment: [String: String], message: String) throws {
            let dir = try Self.directory(["bad.ini": text])
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let s = try ServerProcess(
                ["--ini", "\(dir)/bad.ini", "guide_app:application"], workers: 1, waitReady: false,
                environment: environment)
            #expect(s.waitForExit(timeout: 10) == 64)
            #expect(s.stderrContains("Error: "), "\(s.stderr.text)")
            #expect(s.stderr.text.contains(message), "\(s.stderr.text)")
        }

        /// A file that cannot be read is named.
        @Test func missingFile() throws {
            let s = try ServerProcess(
                ["--ini", "/nonexistent/x.ini", "guide_app:application"], workers: 1, waitReady: false)
            #expect(s.waitForExit(timeout: 10) == 64)
            #expect(s.stderrContains("--ini /nonexistent/x.ini: cannot read /nonexistent/x.ini"), "\(s.stderr.text)")
        }
    }
}
