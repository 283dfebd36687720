import Foundation
import Testing

extension IntegrationSuite {
    /// Issue 13 (its third part): code written for Flask-uWSGI-WebSocket (`from
    /// flask_uwsgi_websocket import GeventWebSocket`) runs unchanged, without --uwsgi-compat:
    /// its chat example's broadcast and backlog, a blueprint's routes, recv_nb, and an async
    /// handler. Issue 17: and its early form, `from flask.ext.uwsgi_websocket import ...`.
    @Suite struct FlaskUWSGIWebSocketTests {
        /// `python app.py` whose last line is `app.run(gevent=100, port=...)`: the process becomes
        /// dispatchd (the same pid), with those uWSGI arguments, serving the app's WebSockets.
        @Test func appRunStartsDispatchd() throws {
            let dir = NSTemporaryDirectory() + "dispatchd-apprun-\(getpid())"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            // As a package would install it: the module under its own name.
            try? FileManager.default.removeItem(atPath: dir + "/flask_uwsgi_websocket.py")
            try FileManager.default.copyItem(
                atPath: Paths.repository + "/Sources/DWSGI/Python/dispatchd_flask_uwsgi_websocket.py",
                toPath: dir + "/flask_uwsgi_websocket.py")
            let port = Nginx.freePorts(1)[0]
            let script = """
                from flask import Flask
                from flask_uwsgi_websocket import GeventWebSocket

                app = Flask(__name__)
                ws = GeventWebSocket(app)


                @ws.route('/echo')
                def echo(ws):
                    while (msg := ws.receive()) is not None:
                        ws.send(msg)


                if __name__ == '__main__':
                    app.run(gevent=100, host='127.0.0.1', port=\(port), processes=1, master=True)

                """
            _ = FileManager.default.createFile(atPath: dir + "/chatapp.py", contents: Data(script.utf8))
            let app = try AppScript(
                python: ProcessInfo.processInfo.environment["PYTHON"] ?? "python3", script: dir + "/chatapp.py",
                environment: ["PYTHONPATH": dir, "FLASK_UWSGI_BINARY": Paths.binary])
            let log = app.log
            #expect(log.text.contains("listening on http://127.0.0.1:\(port)"), "\(log.text)")
            #expect(
                log.text.contains("master \(app.process.processIdentifier):"),
                "the python process became dispatchd: \(log.text)")
            #expect(!log.text.contains("worker 1 "), "processes=1: \(log.text)")
            let client = try WSClient(port: port, path: "/echo")
            #expect(client.handshake.status == 101)
            try client.sendText("run unchanged")
            #expect(try client.read().text == "run unchanged")
            #expect(app.stop() == 0, "\(log.text)")
        }

        /// Code written for early Flask-uWSGI-WebSocket, under dispatchd: `from
        /// flask.ext.uwsgi_websocket import WebSocket` (Flask 1.0 removed flask.ext) imports, and
        /// a `ws.run(host=..., port=...)` left at module level, which runs in the worker as it
        /// imports the app, starts nothing (the server serves the app already).
        @Test func oldImportPathUnderDispatchd() throws {
            let runPort = Nginx.freePorts(1)[0]
            try withServer(["fuws_flask_ext:app"], workers: 1, environment: ["RUN_PORT": String(runPort)]) { s in
                #expect(try RawClient.get(s.port, "/").text == "old")
                let client = try WSClient(port: s.port, path: "/websocket")
                #expect(client.handshake.status == 101)
                try client.sendText("written in 2014")
                #expect(try client.read().text == "written in 2014")
                #expect(
                    s.stderrContains("flask_uwsgi_websocket: run() does nothing under dispatchd"), "\(s.stderr.text)")
                #expect(!(try Sockets.ss(["-ltnH"]).contains("127.0.0.1:\(runPort) ")), "a second server listens")
                #expect(s.stderr.text.components(separatedBy: "listening on ").count == 2, "\(s.stderr.text)")
            }
        }

        /// `python app.py` for such an app in a virtualenv laid out as `pip install` lays it out
        /// (flask_uwsgi_websocket, and dispatchd_flask_ext with the .pth line that imports it, in
        /// site-packages): the flask.ext import works in plain Python, and `app.run(gevent=100,
        /// ...)` under `if __name__ == '__main__'` turns the process into dispatchd.
        @Test func oldImportPathWithPythonAppPy() throws {
            let dir = NSTemporaryDirectory() + "dispatchd-flaskext-\(getpid())"
            try? FileManager.default.removeItem(atPath: dir)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let python = ProcessInfo.processInfo.environment["PYTHON"] ?? "python3"
            var (status, output) = Command.run([
                python, "-m", "venv", "--system-site-packages", "--without-pip", dir + "/venv",
            ])
            try #require(status == 0, "\(output)")
            (status, output) = Command.run([
                dir + "/venv/bin/python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))",
            ])
            let site = output.trimmingCharacters(in: .whitespacesAndNewlines)
            try #require(status == 0, "\(output)")
            let sources = Paths.repository + "/Sources/DWSGI/Python/"
            for (from, to) in [
                (sources + "dispatchd_flask_uwsgi_websocket.py", "flask_uwsgi_websocket.py"),
                (sources + "dispatchd_flask_ext.py", "dispatchd_flask_ext.py"),
                (Paths.repository + "/conf/pip/dispatchd_flask_ext.pth", "dispatchd_flask_ext.pth"),
            ] {
                try FileManager.default.copyItem(atPath: from, toPath: site + "/" + to)
            }
            let port = Nginx.freePorts(1)[0]
            let script = """
                from flask import Flask
                from flask.ext.uwsgi_websocket import GeventWebSocket

                app = Flask(__name__)
                ws = GeventWebSocket(app)


                @ws.route('/websocket')
                def echo(ws):
                    while True:
                        msg = ws.receive()
                        if msg is None:
                            return
                        ws.send(msg)


                if __name__ == '__main__':
                    app.run(gevent=100, host='127.0.0.1', port=\(port), processes=1)

                """
            _ = FileManager.default.createFile(atPath: dir + "/oldapp.py", contents: Data(script.utf8))
            let app = try AppScript(
                python: dir + "/venv/bin/python", script: dir + "/oldapp.py",
                environment: ["FLASK_UWSGI_BINARY": Paths.binary])
            let log = app.log
            #expect(log.text.contains("master \(app.process.processIdentifier):"), "became dispatchd: \(log.text)")
            let client = try WSClient(port: port, path: "/websocket")
            #expect(client.handshake.status == 101, "\(log.text)")
            try client.sendText("still 2014")
            #expect(try client.read().text == "still 2014")
            #expect(app.stop() == 0, "\(log.text)")
        }

        @Test func chatRunsUnchanged() throws {
            try withServer(["fuws_chat:app"], workers: 1) { s in
                #expect(try RawClient.get(s.port, "/").text == "chat")
                let alice = try WSClient(port: s.port, path: "/websocket")
                let bob = try WSClient(port: s.port, path: "/websocket")
                #expect(alice.handshake.status == 101 && bob.handshake.status == 101)
                try alice.sendText("hello from alice")
                #expect(try bob.read().text == "hello from alice")
                try bob.sendText("hi alice")
                #expect(try alice.read().text == "hi alice")
                // A newcomer gets the backlog first.
                let carol = try WSClient(port: s.port, path: "/websocket")
                #expect(try carol.read().text == "hello from alice")
                #expect(try carol.read().text == "hi alice")

                let red = try WSClient(port: s.port, path: "/rooms/red")
                #expect(try red.read().text == "joined red")
                let red2 = try WSClient(port: s.port, path: "/rooms/red")
                #expect(try red2.read().text == "joined red")
                try red.sendText("ping")
                #expect(try red.read().text == "red: ping")
                #expect(try red2.read().text == "red: ping")
                try red2.sendText("poll")
                #expect(try red2.read().text == "nothing")

                let echo = try WSClient(port: s.port, path: "/async-echo")
                try echo.sendText("async")
                #expect(try echo.read().text == "async")
                // An HTTP request to a WebSocket route that is not an upgrade goes to Flask.
                #expect(try RawClient.get(s.port, "/websocket").status == 404)
            }
        }
    }
}
