import Foundation

/// Debian's redis-server (apt; scripts/setup installs it), run in the foreground by the test on
/// a port of its own, without persistence.
final class RedisServer {
    let process = Process()
    let port: Int

    init(port: Int? = nil) throws {
        self.port = port ?? Nginx.freePorts(1)[0]
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "redis-server", "--port", String(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--daemonize", "no",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let c = try? RawClient(port: self.port) {
                try? c.send("PING\r\n")
                if (try? c.fill(timeout: 1)) == true, String(decoding: c.buffer, as: UTF8.self).hasPrefix("+PONG") {
                    return
                }
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw ClientError(description: "redis-server did not start on port \(self.port)")
    }

    /// Kills it (SIGKILL: the server inherits the test thread's signal mask, in which SIGTERM
    /// may be blocked; nothing is persisted anyway).
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}
