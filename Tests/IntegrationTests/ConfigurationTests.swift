import Foundation
import Testing

extension IntegrationSuite {
    @Suite struct ConfigurationTests {
        func temporaryDirectory() throws -> URL {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
                "dispatchd-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            return dir
        }

        /// --version: the release, and the CPython, libevent and OpenSSL the binary was built with.
        @Test func version() throws {
            let (status, output) = Command.run([Paths.binary, "--version"])
            #expect(status == 0)
            let python = Command.python("import platform; print(platform.python_version())").1
                .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(output.hasPrefix("dispatchd 0."), "\(output)")
            #expect(output.contains("(Python \(python), libevent 2."), "\(output)")
            #expect(output.contains(", OpenSSL 3."), "\(output)")
        }

        /// --virtualenv serves from a venv: its site-packages import, sys.prefix is the venv.
        @Test func virtualenv() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let venv = dir.appendingPathComponent("venv").path
            let make = Process()
            make.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            make.arguments = [
                ProcessInfo.processInfo.environment["PYTHON"] ?? "python3", "-m", "venv", "--without-pip", venv,
            ]
            try make.run()
            make.waitUntilExit()
            try #require(make.terminationStatus == 0)
            let lib = URL(fileURLWithPath: venv).appendingPathComponent("lib")
            let pyDir = try #require(
                try FileManager.default.contentsOfDirectory(atPath: lib.path).first { $0.hasPrefix("python") })
            let site = lib.appendingPathComponent(pyDir).appendingPathComponent("site-packages")
            try "WHERE = 'venv'\n".write(
                to: site.appendingPathComponent("only_in_venv.py"), atomically: true, encoding: .utf8)
            // With --virtualenv, and with only $VIRTUAL_ENV set (as `source venv/bin/activate` does).
            for (arguments, environment) in [(["--virtualenv", venv], [:]), ([], ["VIRTUAL_ENV": venv])] {
                try withServer(
                    arguments + ["prefixapp:application"], workers: 1,
                    environment: environment.merging(["DISPATCHD_TEST_MODULE": "only_in_venv"]) { a, _ in a }
                ) { s in
                    let r = try RawClient.get(s.port, "/")
                    let parts = r.text.split(separator: "|").map(String.init)
                    #expect(parts.count == 3, "\(arguments) \(environment): \(r.text)")
                    #expect(
                        URL(fileURLWithPath: parts.first ?? "").resolvingSymlinksInPath().path
                            == URL(fileURLWithPath: venv).resolvingSymlinksInPath().path)
                    #expect(parts.last == "venv")
                }
            }
        }

        /// --pythonpath adds directories to sys.path.
        @Test func pythonPath() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            try "WHERE = 'pythonpath'\n".write(
                to: dir.appendingPathComponent("only_on_path.py"), atomically: true, encoding: .utf8)
            try withServer(
                ["--pythonpath", dir.path, "prefixapp:application"], workers: 1,
                environment: ["DISPATCHD_TEST_MODULE": "only_on_path"]
            ) { s in
                let r = try RawClient.get(s.port, "/")
                #expect(r.text.hasSuffix("|pythonpath"), "\(r.text)")
            }
        }

        /// An IPv6 listener: `[::1]:PORT` is announced in brackets and answers over IPv6,
        /// with the peer's address in REMOTE_ADDR.
        @Test func ipv6Bind() throws {
            let s = try ServerProcess(["testapp:application"], workers: 1, bind: "[::1]:0")
            #expect(s.stderr.text.contains("listening on http://[::1]:\(s.port)"), "\(s.stderr.text)")
            let c = try RawClient(port: s.port, host: "::1")
            try c.send("GET /environ HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n")
            let e = try c.readResponse().json
            #expect(e["REMOTE_ADDR"] as? String == "::1")
            #expect(e["SERVER_NAME"] as? String == "::1")
            #expect(e["SERVER_PORT"] as? String == String(s.port))
            #expect(throws: ClientError.self, "IPv4 reached an IPv6-only listener") { _ = try RawClient(port: s.port) }
            s.stop()
        }

        /// Several --bind addresses at once: every one answers; ":PORT" is every IPv4 interface.
        @Test func multipleBinds() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let path = dir.appendingPathComponent("m.sock").path
            let s = try ServerProcess(
                ["--bind", ":0", "--bind", "unix:\(path)", "testapp:application"], workers: 2, bind: nil)
            #expect(s.stderr.text.contains("listening on http://0.0.0.0:\(s.port)"))
            #expect(s.stderr.text.contains("listening on unix:\(path)"))
            #expect(try RawClient.get(s.port, "/hello").text == "Hello, World!")
            let c = try RawClient(unixPath: path)
            try c.send("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(try c.readResponse().text == "Hello, World!")
            s.stop()
        }
    }
}
