import Foundation
import Glibc
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

        /// uWSGI options without an implementation are refused by name, with what to do
        /// instead: on the command line, in a file (with its line) and in the environment.
        @Test func unsupportedOptionsSayWhatToDoInstead() throws {
            let dir = try ConfigFileTests.directory(["u.ini": "[uwsgi]\nworkers = 1\ndaemonize = /tmp/x.log\n"])
            defer { try? FileManager.default.removeItem(atPath: dir) }
            for (arguments, environment, message) in [
                (
                    ["--touch-reload", "/tmp/u.txt"], [String: String](),
                    "Error: --touch-reload (uWSGI's) is not supported: use --reload-extra-file FILE"
                ),
                (
                    ["--ini", "\(dir)/u.ini"], [:],
                    "u.ini:3: --daemonize (uWSGI's) is not supported: dispatchd stays in the foreground; run it under systemd"
                ),
                (
                    [], ["DISPATCHD_PIDFILE": "/tmp/p"],
                    "environment variable DISPATCHD_PIDFILE: --pidfile (uWSGI's) is not supported: not supported: the process manager knows the master's pid"
                ),
            ] {
                let s = try ServerProcess(
                    arguments + ["guide_app:application"], workers: 1, waitReady: false, environment: environment)
                #expect(s.waitForExit(timeout: 10) == 64)
                #expect(s.stderrContains(message), "\(s.stderr.text)")
            }
        }

        /// uWSGI options that describe what dispatchd does anyway are accepted, and --listen and
        /// --buffer-size are --backlog and --limit-request-head.
        @Test func acceptedUWSGIOptions() throws {
            let s = try ServerProcess(
                [
                    "--thunder-lock", "--http-keepalive", "--harakiri-verbose", "--offload-threads", "2", "--listen",
                    "512",
                    "--buffer-size", "300", "guide_app:application",
                ], workers: 1)
            defer { s.stop() }
            #expect(try RawClient.get(s.port, "/ok").status == 200)
            let long = try RawClient.get(s.port, "/" + String(repeating: "a", count: 400))
            #expect(long.status == 431 || long.status == 414, "a head over --buffer-size 300: \(long.status)")
        }

        /// A unix socket's file: a stale one from a dead server is replaced, a live one is not
        /// (the second server fails, the first serves on), --chmod-socket and --chown-socket
        /// apply, and the file is removed at exit.
        @Test func unixSocketFiles() throws {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("sock-\(UUID().uuidString).sock")
                .path
            // A stale socket file: bound, then closed without being removed.
            let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in
                raw.copyBytes(from: Array(path.utf8))
                raw[path.utf8.count] = 0
            }
            let bound = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(stale, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            #expect(bound == 0)
            close(stale)
            #expect(FileManager.default.fileExists(atPath: path))
            let owner = "\(getuid()):\(getgid())"
            let s = try ServerProcess(
                ["--http", path, "--chmod-socket", "660", "--chown-socket", owner, "guide_app:application"], workers: 1,
                bind: nil)
            let c = try RawClient(unixPath: path)
            try c.send("GET /s HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try c.readResponse().text == "hello from /s, uwsgi is dispatchd\n")
            var st = stat()
            #expect(stat(path, &st) == 0 && st.st_mode & 0o777 == 0o660, "mode \(String(st.st_mode & 0o777, radix: 8))")
            #expect(st.st_uid == getuid() && st.st_gid == getgid())
            let second = try ServerProcess(
                ["--http", path, "guide_app:application"], workers: 1, bind: nil, waitReady: false)
            #expect(second.waitForExit(timeout: 10) != 0)
            #expect(second.stderrContains("a server is listening there"), "\(second.stderr.text)")
            let again = try RawClient(unixPath: path)
            try again.send("GET /still HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try again.readResponse().text == "hello from /still, uwsgi is dispatchd\n")
            s.stop()
            #expect(!FileManager.default.fileExists(atPath: path), "removed at exit")
        }

        /// --gid switches the master and its workers to that group once the listeners are bound
        /// (and --uid to a user: this machine's interpreter lives under /root, which no other
        /// user can read, so the test stays root and checks the group and the warning); an
        /// unknown user or group is an error naming the option. Without them, running as root
        /// is allowed, loudly.
        @Test(.enabled(if: getuid() == 0, "only root can change its group"))
        func privilegesAreDropped() throws {
            let s = try ServerProcess(["--uid", "0", "--gid", "nogroup", "guide_app:application"], workers: 1)
            defer { s.stop() }
            #expect(try RawClient.get(s.port, "/g").status == 200)
            let gid = try #require(getgrnam("nogroup")).pointee.gr_gid
            #expect(s.stderrContains("running as user 0, group \(gid)"), "\(s.stderr.text)")
            #expect(s.stderrContains("WARNING: --uid is root"))
            for pid in [s.pid] + s.liveWorkerPids() {
                let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
                let line = status.split(separator: "\n").first { $0.hasPrefix("Gid:") } ?? ""
                #expect(
                    line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().allSatisfy { $0 == "\(gid)" },
                    "\(pid): \(line)")
                let groups = status.split(separator: "\n").first { $0.hasPrefix("Groups:") } ?? ""
                // initgroups: root's own supplementary groups (none) and the group given.
                #expect(
                    groups.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().map(String.init) == [
                        "\(gid)"
                    ],
                    "supplementary groups: \(groups)")
            }
            let plain = try ServerProcess(["guide_app:application"], workers: 1)
            defer { plain.stop() }
            #expect(plain.stderrContains("WARNING: running as root, and so will the workers"))
            for (arguments, message) in [
                (["--uid", "no-such-user-here"], "--uid: no user 'no-such-user-here' on this machine"),
                (["--gid", "no-such-group-here"], "--gid: no group 'no-such-group-here' on this machine"),
            ] {
                let bad = try ServerProcess(arguments + ["guide_app:application"], workers: 1, waitReady: false)
                #expect(bad.waitForExit(timeout: 10) == 64)
                #expect(bad.stderrContains(message), "\(bad.stderr.text)")
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
