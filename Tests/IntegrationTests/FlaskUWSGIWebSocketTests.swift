import Foundation
import Testing

extension IntegrationSuite {
    /// Issue 13 (its third part): code written for Flask-uWSGI-WebSocket (`from
    /// flask_uwsgi_websocket import GeventWebSocket`) runs unchanged, without --uwsgi-compat:
    /// its chat example's broadcast and backlog, a blueprint's routes, recv_nb, and an async
    /// handler.
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
