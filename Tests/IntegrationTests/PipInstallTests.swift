import Foundation
import Testing

extension IntegrationSuite {
    /// Issue 14, installing as Python users do: `pip install .` into a virtualenv builds
    /// dispatchd against that interpreter and puts it in the venv's bin/; `python app.py` with
    /// Flask-uWSGI-WebSocket's `app.run()` then starts it. (A release build: minutes.)
    @Suite struct PipInstallTests {
        @Test func pipInstallIntoAVirtualenv() throws {
            let dir = NSTemporaryDirectory() + "dispatchd-pip-\(getpid())"
            try? FileManager.default.removeItem(atPath: dir)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let python = ProcessInfo.processInfo.environment["PYTHON"] ?? "python3"
            // The venv sees the system's site-packages, for Flask (scripts/setup installs it).
            var (status, output) = Command.run([python, "-m", "venv", "--system-site-packages", dir + "/venv"])
            try #require(status == 0, "\(output)")
            (status, output) = Command.run([dir + "/venv/bin/python", "-m", "pip", "install", "-q", Paths.repository])
            try #require(status == 0, "\(output)")
            (status, output) = Command.run([dir + "/venv/bin/dispatchd", "--version"])
            let version = Command.python("import platform; print(platform.python_version())").1
                .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(status == 0 && output.contains("(Python \(version), libevent"), "\(output)")
            // The Swift runtime is in the binary: nothing of the toolchain's is loaded.
            (status, output) = Command.run(["ldd", dir + "/venv/bin/dispatchd"])
            #expect(status == 0 && output.contains("libpython") && !output.contains("libswift"), "\(output)")

            // `python app.py`, whose last line is Flask-uWSGI-WebSocket's app.run(): the dispatchd
            // beside the venv's interpreter takes over the process and serves the app.
            let port = Nginx.freePorts(1)[0]
            let script = """
                from flask import Flask
                from flask_uwsgi_websocket import GeventWebSocket

                app = Flask(__name__)
                ws = GeventWebSocket(app)


                @app.route('/')
                def index():
                    return 'installed'


                @ws.route('/echo')
                def echo(ws):
                    while (msg := ws.receive()) is not None:
                        ws.send(msg)


                if __name__ == '__main__':
                    app.run(host='127.0.0.1', port=\(port), processes=1)

                """
            _ = FileManager.default.createFile(atPath: dir + "/app.py", contents: Data(script.utf8))
            let app = try AppScript(
                python: dir + "/venv/bin/python", script: dir + "/app.py", environment: ["FLASK_UWSGI_BINARY": nil])
            let log = app.log
            #expect(try RawClient.get(port, "/").text == "installed", "\(log.text)")
            let client = try WSClient(port: port, path: "/echo")
            try client.sendText("from pip")
            #expect(try client.read().text == "from pip")
            #expect(app.stop() == 0, "\(log.text)")
        }

        /// What the build needs, when it is missing, is named with what to install.
        @Test func missingPrerequisitesAreNamed() throws {
            let script = """
                import sys, sysconfig
                sys.path.insert(0, sys.argv[1] + '/conf/pip')
                import dispatchd_build as b
                sysconfig.get_config_var = lambda name: 0 if name == 'Py_ENABLE_SHARED' else None
                try:
                    b.build_wheel('/nonexistent')
                except b.BuildError as e:
                    print(e)
                """
            // The interpreter is found through the test's PATH; the build's tools are not.
            let python = Command.python("import sys; print(sys.executable)").1
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["PATH=/nonexistent", python, "-c", script, Paths.repository]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = out
            try p.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(
                text.contains("the Swift toolchain (swift) is not on PATH: install it from https://swift.org/install"),
                "\(text)")
            #expect(text.contains("pkg-config is missing: apt install pkg-config"), "\(text)")
            #expect(text.contains("has no shared libpython"), "\(text)")
            #expect(text.contains("PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install"), "\(text)")
        }
    }
}
