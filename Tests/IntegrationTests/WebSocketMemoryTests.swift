import Foundation
import Testing

extension IntegrationSuite {
    /// Issue 17: an idle WebSocket costs its worker little memory. Its buffers are allocated on
    /// demand and given back once drained, and the handler (a greenlet waiting in
    /// `websocket_recv()`) keeps no Python object but its own beyond the environ and the socket.
    /// `Benchmarks/ws_bench.py --scenarios hold` measures it with 10,000 connections on a
    /// release build (README, "Benchmarks").
    @Suite struct WebSocketMemoryTests {
        /// 2,000 connections on one worker, each having echoed a message, then idle: the worker
        /// grows by at most 12 KiB a connection (debug build: 9.4 KiB; 13.4 with the output
        /// buffer kept once drained, as it was).
        @Test func idleConnectionsCostLittle() throws {
            try raiseDescriptorLimit(atLeast: 5000)
            try withServer(
                ["--no-access-log", "--uwsgi-compat", "--pythonpath", Paths.benchmarkApps, "ws_uwsgi_app:application"],
                workers: 1
            ) { s in
                let worker = try #require(s.liveWorkerPids().first)
                // The first connections import greenlet and touch the code of every path.
                var clients = try Self.open(100, port: s.port)
                Thread.sleep(forTimeInterval: 0.5)
                let before = ProcFS.rssKiB(worker)
                let count = 2000
                clients += try Self.open(count, port: s.port)
                Thread.sleep(forTimeInterval: 0.5)
                let perConnection = Double(ProcFS.rssKiB(worker) - before) / Double(count)
                #expect(perConnection <= 12, "\(perConnection) KiB a connection")
                // Every one still answers.
                for i in stride(from: 0, to: clients.count, by: 97) {
                    try clients[i].sendText("still here")
                    #expect(try clients[i].read().text == "still here")
                }
            }
        }

        /// `n` connections that each echo one message.
        static func open(_ n: Int, port: Int) throws -> [WSClient] {
            var clients: [WSClient] = []
            clients.reserveCapacity(n)
            for i in 0..<n {
                let c = try WSClient(port: port, path: "/ws")
                try #require(c.handshake.status == 101, "connection \(i)")
                try c.sendText("message \(i)")
                clients.append(c)
            }
            for (i, c) in clients.enumerated() { #expect(try c.read(timeout: 10).text == "message \(i)") }
            return clients
        }
    }
}
