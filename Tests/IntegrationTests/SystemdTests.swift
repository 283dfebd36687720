import Foundation
import Testing

extension IntegrationSuite {
    /// Issue 14, systemd: socket activation (with systemd-socket-activate from apt) and the
    /// `Type=notify` protocol (a datagram socket in NOTIFY_SOCKET, as systemd gives one).
    @Suite struct SystemdTests {
        /// A unix datagram socket the test reads sd_notify messages from.
        final class NotifySocket {
            let fd: Int32
            let path: String

            init() throws {
                path = NSTemporaryDirectory() + "dispatchd-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
                unlink(path)
                fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
                var address = sockaddr_un()
                address.sun_family = sa_family_t(AF_UNIX)
                withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
                let bound = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                    }
                }
                guard bound == 0 else { throw ServerStartError(description: "cannot bind \(path)") }
                var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            }

            deinit {
                close(fd)
                unlink(path)
            }

            /// Messages until one contains `text` (and it), or what came within `timeout`.
            func wait(for text: String, timeout: TimeInterval = 15) -> [String] {
                var got: [String] = []
                let deadline = Date().addingTimeInterval(timeout)
                var buffer = [UInt8](repeating: 0, count: 4096)
                while Date() < deadline {
                    let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                    guard n > 0 else { continue }
                    let message = String(decoding: buffer[0..<n], as: UTF8.self)
                    got.append(message)
                    if message.contains(text) { break }
                }
                return got
            }
        }

        /// The variables of a process's environment (/proc/PID/environ).
        static func environment(of pid: Int32) -> String {
            let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") ?? Data()
            return String(decoding: data.map { $0 == 0 ? 10 : $0 }, as: UTF8.self)
        }

        @Test func notify() throws {
            let socket = try NotifySocket()
            let s = try ServerProcess(
                ["testapp:application"], waitReady: false,
                environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "400000"])
            var got = socket.wait(for: "READY=1")
            #expect(got.contains { $0.hasPrefix("READY=1") && $0.contains("STATUS=2 of 2 workers ready") }, "\(got)")
            #expect(got.contains("WATCHDOG=1"), "a first ping at once: \(got)")
            try s.waitUntilReady()
            // Workers and the app do not inherit the variables.
            for pid in s.liveWorkerPids() {
                #expect(!Self.environment(of: pid).contains("NOTIFY_SOCKET"))
            }
            for _ in 0..<50 { _ = try RawClient.get(s.port, "/hello") }
            got = socket.wait(for: "requests/s", timeout: 3)
            got += socket.wait(for: "requests/s", timeout: 2)
            #expect(got.filter { $0 == "WATCHDOG=1" }.count >= 3, "pings every 0.2 s: \(got)")
            #expect(
                got.contains { $0.hasPrefix("STATUS=2 of 2 workers ready, ") && !$0.hasSuffix(" 0 requests/s") },
                "\(got)")
            kill(s.pid, SIGHUP)
            got = socket.wait(for: "READY=1", timeout: 20)
            let reloading = got.firstIndex { $0.hasPrefix("RELOADING=1\nMONOTONIC_USEC=") }
            #expect(reloading != nil && got.last?.hasPrefix("READY=1") == true, "\(got)")
            kill(s.pid, SIGTERM)
            got = socket.wait(for: "STOPPING=1", timeout: 5)
            #expect(got.contains("STOPPING=1"), "\(got)")
            #expect(s.waitForExit(timeout: 15) == 0, "\(s.stderr.text)")
        }

        /// systemd-socket-activate listens, and starts dispatchd with the socket at the first
        /// connection: that connection, made before the server existed, is answered.
        @Test func socketActivation() throws {
            let port = Nginx.freePorts(1)[0]
            let s = try ServerProcess(
                ["testapp:application"], bind: "127.0.0.1:1", waitReady: false,
                wrapper: ["systemd-socket-activate", "-l", "127.0.0.1:\(port)"])
            defer { s.stop() }
            Thread.sleep(forTimeInterval: 0.3)
            let early = try RawClient(port: port)
            try early.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            try s.waitUntilReady()
            #expect(try early.readResponse().text == "Hello, World!")
            #expect(s.stderr.text.contains("listening on http://127.0.0.1:\(port) (from systemd)"), "\(s.stderr.text)")
            #expect(!s.stderr.text.contains("listening on http://127.0.0.1:1\n"), "the configured address is not bound")
            for pid in s.liveWorkerPids() {
                #expect(!Self.environment(of: pid).contains("LISTEN_FDS"), "workers do not see LISTEN_FDS")
            }
        }

        /// More sockets than listeners: a clear error, no start.
        @Test func socketActivationMismatch() throws {
            let ports = Nginx.freePorts(2)
            let s = try ServerProcess(
                ["testapp:application"], waitReady: false,
                wrapper: ["systemd-socket-activate", "-l", "127.0.0.1:\(ports[0])", "-l", "127.0.0.1:\(ports[1])"])
            Thread.sleep(forTimeInterval: 0.3)
            _ = try? RawClient(port: ports[0])
            #expect(s.waitForExit(timeout: 10) == 1)
            #expect(
                s.stderr.text.contains(
                    "systemd passed 2 listening sockets (LISTEN_FDS), but the configuration has 1 listener"),
                "\(s.stderr.text)")
        }
    }
}
