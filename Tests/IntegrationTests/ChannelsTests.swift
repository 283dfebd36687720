import Foundation
import Testing

extension IntegrationSuite {
    /// Issue 17: dispatchd.channels, publish/subscribe for WebSockets across workers.
    @Suite struct ChannelsTests {
        /// Opens a subscriber; returns it and the pid of the worker it is on.
        static func subscriber(_ port: Int, _ path: String) throws -> (WSClient, Int32) {
            let c = try WSClient(port: port, path: path)
            try #require(c.handshake.status == 101)
            let hello = try c.read(timeout: 10).text
            try #require(hello.hasPrefix("subscribed "), "\(hello)")
            return (c, Int32(hello.dropFirst("subscribed ".count))!)
        }

        /// 1,000 subscribers over 2 workers (blocking-style and async handlers of dispatchd.flask,
        /// and uWSGI's API): a publish from a handler in either worker, and from
        /// an ordinary request, reaches every one exactly once, in publish order per publisher;
        /// closed subscribers leave their channels (the next messages reach only the others).
        @Test func thousandSubscribersAcrossTwoWorkers() throws {
            try raiseDescriptorLimit(atLeast: 3000)
            try withServer(["--no-access-log", "--stats", "127.0.0.1:0", "channelsapp:app"], workers: 2) { s in
                let stats = try StatsTests.statsPort(s)
                var clients: [WSClient] = []
                var pids: [Int32] = []
                for i in 0..<1000 {
                    let (c, pid) = try Self.subscriber(
                        s.port, ["/sub/lobby", "/sub/lobby", "/async/lobby", "/uwsgi/lobby"][i % 4])
                    clients.append(c)
                    pids.append(pid)
                }
                let workers = Array(Set(pids)).sorted()
                try #require(workers.count == 2, "subscribers on \(workers.count) worker(s)")
                for w in workers { #expect(pids.filter { $0 == w }.count >= 300, "\(pids.filter { $0 == w }.count)") }
                // A blocking-style handler in each worker publishes 30 messages.
                let publishers = workers.map { w in pids.indices.first { pids[$0] == w && $0 % 4 < 2 }! }
                for p in publishers { try clients[p].sendText("publish 30") }
                // And an ordinary request (whichever worker answers it) 10 more.
                let http = try RawClient.get(s.port, "/publish?room=lobby&count=10&prefix=http")
                #expect(http.status == 200, "\(http.text)")
                for (i, c) in clients.enumerated() {
                    var got: [String: [Int]] = [:]
                    for _ in 0..<70 {
                        let f = try c.read(timeout: 10)
                        let parts = f.text.split(separator: " ")
                        got[String(parts[0]), default: []].append(Int(parts[1])!)
                    }
                    let expected = Dictionary(
                        uniqueKeysWithValues: workers.map { ("ws\($0)", Array(0..<30)) } + [("http", Array(0..<10))])
                    if got != expected { Issue.record("subscriber \(i) (worker \(pids[i])) got \(got)") }
                }
                // Exactly once: the next frame each one reads is the next message.
                #expect(try RawClient.get(s.port, "/publish?room=lobby&count=1&prefix=end").status == 200)
                for (i, c) in clients.enumerated() {
                    let f = try c.read(timeout: 10)
                    if f.text != "end 0" { Issue.record("subscriber \(i) got \(f.text) after the 70") }
                }
                // Half of them go; they leave the channel, the rest still receive.
                for c in clients[500...] { try c.send(0x8, [0x03, 0xE8]) }
                for c in clients[500...] { _ = try c.readClose() }
                Thread.sleep(forTimeInterval: 0.3)
                #expect(StatsTests.metrics(stats)["dispatchd_channel_subscriptions{}"] == 500)
                // One leaves the channel (unsubscribe): the next message skips it.
                try clients[0].sendText("leave")
                #expect(try clients[0].read().text == "left")
                #expect(StatsTests.metrics(stats)["dispatchd_channel_subscriptions{}"] == 499)
                #expect(try RawClient.get(s.port, "/publish?room=lobby&count=1&prefix=after").status == 200)
                for c in clients[1..<500] { #expect(try c.read(timeout: 10).text == "after 0") }
                let m = StatsTests.metrics(stats)
                #expect(m["dispatchd_channel_messages_total{event=published}"] == 72, "\(m)")
                #expect(m["dispatchd_channel_messages_total{event=relayed}"] == 72, "\(m)")
                #expect(m["dispatchd_channel_messages_total{event=delivered}"] == 71_499, "\(m)")
                #expect(m["dispatchd_websockets_open{}"] == 500, "\(m)")
                // Everyone goes: nothing stays subscribed.
                for c in clients[..<500] { try c.send(0x8, [0x03, 0xE8]) }
                for c in clients[..<500] { _ = try c.readClose() }
                Thread.sleep(forTimeInterval: 0.3)
                #expect(StatsTests.metrics(stats)["dispatchd_channel_subscriptions{}"] == 0)
                #expect(!s.stderr.text.contains("Traceback"), "\(s.stderr.text)")
            }
        }

        /// A subscriber that stops reading is closed with 1008 once its unsent output passes
        /// --websocket-send-queue (counted in the metrics), while the others keep receiving
        /// every message in order; what it had been sent before stays in order, then the close.
        @Test func slowSubscriberIsClosedWith1008() throws {
            try withServer(
                ["--no-access-log", "--stats", "127.0.0.1:0", "--websocket-send-queue", "262144", "channelsapp:app"],
                workers: 2
            ) { s in
                let stats = try StatsTests.statsPort(s)
                let slow = try WSClient(port: s.port, path: "/sub/feed", receiveBuffer: 4096)
                #expect(try slow.read().text.hasPrefix("subscribed "))
                let fast = try (0..<3).map { _ in try Self.subscriber(s.port, "/sub/feed").0 }
                // Bursts of 50 messages of 4 KB, each read at once by the fast subscribers, until
                // the slow one (which holds what the kernel buffers, some MB) is closed.
                func burst(_ b: Int) throws {
                    let r = try RawClient.get(s.port, "/publish?room=feed&count=50&size=4000&prefix=b\(b)")
                    #expect(r.status == 200)
                    for (i, c) in fast.enumerated() {
                        for n in 0..<50 {
                            let text = try c.read(timeout: 10).text
                            if !text.hasPrefix("b\(b) \(n)x") {
                                Issue.record("fast \(i) got \(text.prefix(12)) for b\(b) \(n)")
                            }
                        }
                    }
                }
                var b = 0
                var closes = 0.0
                while closes == 0 && b < 80 {
                    try burst(b)
                    b += 1
                    closes = StatsTests.metrics(stats)["dispatchd_websocket_send_queue_closes_total{}"] ?? -1
                }
                #expect(closes == 1)
                // The slow one: a prefix of the messages, in order, then 1008.
                var expected = 0
                while true {
                    let f = try slow.read(timeout: 10)
                    if f.opcode == 0x8 {
                        #expect(f.closeCode == 1008, "\(f.text)")
                        break
                    }
                    let prefix = "b\(expected / 50) \(expected % 50)x"
                    if !f.text.hasPrefix(prefix) {
                        Issue.record("slow got \(f.text.prefix(12)), expected \(prefix)")
                        break
                    }
                    expected += 1
                }
                #expect(expected > 50 && expected < b * 50, "the slow subscriber got \(expected) of \(b * 50) messages")
                // The others go on.
                try burst(b)
                try burst(b + 1)
                #expect(s.stderrContains("over --websocket-send-queue 262144); closing it with 1008"))
            }
        }

        /// A chat with rooms on Flask-uWSGI-WebSocket's API (`ws.subscribe`, `ws.publish`) in
        /// headless Chromium: two pages connected to different workers see each other's messages.
        @Test func browserChatAcrossWorkers() throws {
            try withServer(["--no-access-log", "fuws_rooms:app"], workers: 2) { s in
                let (status, text) = try runBrowser(
                    url: "http://127.0.0.1:\(s.port)/", expression: "window.chatState()", until: "CHAT-OK")
                #expect(status == 0, "\(text)")
                #expect(text.contains("CHAT-OK"), "\(text)")
            }
        }

        /// Two instances bridged by a real Redis: a publish on either reaches the subscribers of
        /// both, in order; with Redis stopped each instance still delivers to its own (the
        /// outage logged once, the bridge's gauge at 0); with Redis back the bridge reconnects.
        /// One instance names Redis by address, the other by name (looked up off the loop).
        @Test func redisBridgeBetweenTwoInstances() throws {
            var redis = try RedisServer()
            let port = redis.port
            func arguments(_ host: String) -> [String] {
                [
                    "--no-access-log", "--stats", "127.0.0.1:0", "--channels", "redis://\(host):\(port)/3",
                    "channelsapp:app",
                ]
            }
            try withServer(arguments("127.0.0.1")) { a in
                try withServer(arguments("localhost")) { b in
                    let stats = try [a, b].map { try StatsTests.statsPort($0) }
                    func up(_ i: Int) -> Double? { StatsTests.metrics(stats[i])["dispatchd_channels_bridge_up{}"] }
                    func waitUp(_ value: Double) {
                        let deadline = Date().addingTimeInterval(15)
                        while Date() < deadline && (up(0) != value || up(1) != value) {
                            Thread.sleep(forTimeInterval: 0.1)
                        }
                    }
                    waitUp(1)
                    #expect(up(0) == 1 && up(1) == 1)
                    let subsA = try (0..<4).map { _ in try Self.subscriber(a.port, "/sub/news").0 }
                    let subsB = try (0..<4).map { _ in try Self.subscriber(b.port, "/sub/news").0 }
                    func expectAll(_ clients: [WSClient], _ prefix: String, _ count: Int) throws {
                        for (i, c) in clients.enumerated() {
                            for n in 0..<count {
                                let text = try c.read(timeout: 10).text
                                if text != "\(prefix) \(n)" {
                                    Issue.record("subscriber \(i) got \(text), not \(prefix) \(n)")
                                }
                            }
                        }
                    }
                    #expect(try RawClient.get(a.port, "/publish?room=news&count=5&prefix=A").status == 200)
                    try expectAll(subsA + subsB, "A", 5)
                    #expect(try RawClient.get(b.port, "/publish?room=news&count=5&prefix=B").status == 200)
                    try expectAll(subsA + subsB, "B", 5)
                    // Redis goes: local delivery goes on.
                    redis.stop()
                    waitUp(0)
                    #expect(up(0) == 0 && up(1) == 0)
                    #expect(try RawClient.get(a.port, "/publish?room=news&count=3&prefix=L").status == 200)
                    try expectAll(subsA, "L", 3)
                    Thread.sleep(forTimeInterval: 1.5)  // a few reconnection attempts
                    #expect(a.stderr.text.components(separatedBy: "is unavailable").count == 2, "\(a.stderr.text)")
                    // Redis is back: the bridge reconnects; B's subscribers never got the L messages.
                    redis = try RedisServer(port: port)
                    waitUp(1)
                    #expect(up(0) == 1 && up(1) == 1)
                    #expect(try RawClient.get(b.port, "/publish?room=news&count=2&prefix=R").status == 200)
                    try expectAll(subsA + subsB, "R", 2)
                    let m = StatsTests.metrics(stats[0])
                    #expect(m["dispatchd_channels_bridge_messages_total{event=sent}"] == 5, "\(m)")
                    #expect(m["dispatchd_channels_bridge_messages_total{event=received}"] == 7, "\(m)")
                    #expect(m["dispatchd_channels_bridge_messages_total{event=dropped}"] == 3, "\(m)")
                    #expect(a.stderr.text.contains("channels: bridged through Redis at redis://127.0.0.1:\(port)/3"))
                    #expect(b.stderr.text.contains("channels: bridged through Redis at redis://localhost:\(port)/3"))
                }
            }
            redis.stop()
        }
    }
}
