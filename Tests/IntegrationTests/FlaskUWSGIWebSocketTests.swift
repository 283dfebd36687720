import Foundation
import Testing

extension IntegrationSuite {
    /// Issue 13 (its third part): code written for Flask-uWSGI-WebSocket (`from
    /// flask_uwsgi_websocket import GeventWebSocket`) runs unchanged, without --uwsgi-compat:
    /// its chat example's broadcast and backlog, a blueprint's routes, recv_nb, and an async
    /// handler.
    @Suite struct FlaskUWSGIWebSocketTests {
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
