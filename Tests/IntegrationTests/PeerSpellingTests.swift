import Foundation
import Testing

extension IntegrationSuite {
    /// Issue 13 (its first part): the command lines of uWSGI's getting-started guide run with
    /// `uwsgi` replaced by `dispatchd`, gunicorn's -b and -w work, and an app that starts with
    /// `import uwsgi` loads without --uwsgi-compat.
    @Suite struct PeerSpellingTests {
        /// The guide's lines, with its ports replaced by :0 (the test reads the one chosen).
        @Test(arguments: [
            (["--http", ":0", "--wsgi-file", "guide_app.py", "--need-app"], "hello from /x, uwsgi is dispatchd\n"),
            (["--module", "guidepkg.helloworld:mainhello", "--http", ":0", "--need-app"], "mainhello\n"),
            (
                [
                    "--http", ":0", "--wsgi-file", "guide_app.py", "--callable", "application", "--processes", "1",
                    "--threads", "1",
                ],
                "hello from /x, uwsgi is dispatchd\n"
            ),
            (
                [
                    "--master", "--http", ":0", "--http-websockets", "--wsgi-file", "guide_app.py", "--workers", "1",
                    "--threads", "8",
                ],
                "hello from /x, uwsgi is dispatchd\n"
            ),
            (
                ["--master", "--http", ":0", "--http-websockets", "--gevent", "100", "--wsgi-file", "guide_app.py"],
                "hello from /x, uwsgi is dispatchd\n"
            ),
            (["--module", "guidepkg.helloworld:MyHandler()", "--http", ":0"], "made by a factory, 1 made\n"),
        ])
        func guideCommandLine(arguments: [String], answer: String) throws {
            let s = try ServerProcess(arguments, workers: 1, bind: nil)
            defer { s.stop() }
            let r = try RawClient.get(s.port, "/x")
            #expect(r.status == 200 && r.text == answer, "\(r.status) \(r.text)")
            #expect(s.stderrContains("listening on http://0.0.0.0:"))
        }

        /// `--http /path/to/socket.sock`: a path is a unix socket.
        @Test func httpOnASocketPath() throws {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("guide-\(UUID().uuidString).sock")
                .path
            let s = try ServerProcess(
                ["--http", path, "--wsgi-file", "guide_app.py", "--need-app"], workers: 1, bind: nil)
            defer { s.stop() }
            let c = try RawClient(unixPath: path)
            try c.send("GET /unix HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try c.readResponse().text == "hello from /unix, uwsgi is dispatchd\n")
        }

        /// A real uwsgi module on sys.path is left alone, unless --uwsgi-compat forces
        /// dispatchd's.
        @Test func realUWSGIModuleIsKept() throws {
            let real = Paths.fixtures.appendingPathComponent("realuwsgi").path
            for (flags, name) in [([String](), "uwsgi"), (["--uwsgi-compat"], "dispatchd")] {
                let s = try ServerProcess(flags + ["--pythonpath", real, "guide_app:application"], workers: 1)
                defer { s.stop() }
                #expect(try RawClient.get(s.port, "/r").text == "hello from /r, uwsgi is \(name)\n")
            }
        }

        /// gunicorn's -b and -w; --disable-logging turns the access log off.
        @Test func gunicornShortOptions() throws {
            let s = try ServerProcess(
                ["-b", "127.0.0.1:0", "-w", "1", "--disable-logging", "guide_app:application"], workers: 1, bind: nil)
            defer { s.stop() }
            #expect(try RawClient.get(s.port, "/g").text == "hello from /g, uwsgi is dispatchd\n")
            #expect(s.liveWorkerPids().count == 1)
            Thread.sleep(forTimeInterval: 1.2)
            #expect(!s.stdout.text.contains("GET /g"), "no access log: \(s.stdout.text)")
        }

        /// uWSGI's -w MODULE is the ambiguous use: an error naming both long options, before
        /// anything starts; so is an application given twice.
        @Test func ambiguousUsesAreErrors() throws {
            for (arguments, message) in [
                (
                    ["-w", "guide_app:application"],
                    "-w 'guide_app:application': -w is the worker count here, as in gunicorn; for uWSGI's -w MODULE use --module"
                ),
                (["--module", "guide_app:application", "guide_app:application"], "the application is given twice"),
            ] {
                let s = try ServerProcess(arguments, workers: 1, bind: "127.0.0.1:0", waitReady: false)
                #expect(s.waitForExit(timeout: 10) == 64)
                #expect(s.stderrContains(message), "\(s.stderr.text)")
            }
        }
    }
}
