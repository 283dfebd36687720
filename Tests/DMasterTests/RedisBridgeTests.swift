import DConfig
import DEventLoop
import DPosix
import Glibc
import Testing

@testable import DMaster

@Suite struct RedisBridgeTests {
    /// A name lookup that waits (a DNS server that does not answer: here 1 s) does not hold up
    /// the master's loop: its timers fire all along, and the failed lookup is then the outage
    /// logged.
    @Test func slowNameLookupDoesNotBlockTheLoop() {
        let loop = EventLoop()
        var ticks = 0
        var ticksWhenLogged: Int? = nil
        var logged: [String] = []
        let tick = Watcher(loop: loop, kind: .timer, persist: true) { _ in ticks += 1 }
        tick.arm(timeout: 0.05)
        let bridge = RedisBridge(
            target: ChannelsBridge(host: "redis.example", port: 6379), loop: loop, deliver: { _ in },
            log: { message, _ in
                logged.append(message)
                if ticksWhenLogged == nil {
                    ticksWhenLogged = ticks
                    loop.stop()
                }
            },
            lookUp: { host, _ in
                usleep(1_000_000)
                return .failure(SystemError(errno: EHOSTUNREACH, call: "getaddrinfo(\(host))"))
            })
        let started = MonotonicClock.nanoseconds()
        bridge.connect()
        #expect(MonotonicClock.nanoseconds() - started < 100_000_000, "connect() waited for the lookup")
        loop.run()
        tick.disarm()
        #expect((ticksWhenLogged ?? 0) >= 10, "the loop's timer fired \(ticksWhenLogged ?? 0) times during the lookup")
        #expect(logged.first?.contains("is unavailable (getaddrinfo(redis.example)") == true, "\(logged)")
    }

    /// A name with several addresses: when the first refuses, the next attempt takes the
    /// next address (localhost may give ::1 first to a Redis listening on 127.0.0.1 only).
    @Test func eachAttemptTakesTheNextAddress() throws {
        func listener() throws -> (fd: CInt, address: NameResolver.Address) {
            let fd = socket(AF_INET, CInt(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            let bytes = withUnsafeBytes(of: &address) { Array($0) }
            return (fd, NameResolver.Address(bytes: bytes))
        }
        let refusing = try listener()  // bound, not listening: connections are refused
        let redis = try listener()
        #expect(listen(redis.fd, 4) == 0)
        defer {
            close(refusing.fd)
            close(redis.fd)
        }
        let loop = EventLoop()
        let addresses = [refusing.address, redis.address]
        var received: [UInt8] = []
        var client: CInt = -1
        var reading: Watcher? = nil
        let accepted = Watcher(loop: loop, kind: .read(redis.fd), persist: false) { _ in
            client = accept(redis.fd, nil, nil)
            // What the bridge sends once connected (the loop must run on for it to be sent).
            reading = Watcher(loop: loop, kind: .read(client), persist: false) { _ in
                var buffer = [UInt8](repeating: 0, count: 256)
                let n = recv(client, &buffer, buffer.count, 0)
                received = Array(buffer[0..<max(n, 0)])
                loop.stop()
            }
            reading?.arm()
        }
        accepted.arm()
        let giveUp = Watcher(loop: loop, kind: .timer, persist: false) { _ in loop.stop() }
        giveUp.arm(timeout: 5)
        var logged: [String] = []
        let bridge = RedisBridge(
            target: ChannelsBridge(host: "redis.example", port: 6379), loop: loop, deliver: { _ in },
            log: { message, _ in logged.append(message) },
            lookUp: { _, _ in .success(addresses) })
        bridge.connect()
        loop.run()
        reading?.disarm()
        if client >= 0 { close(client) }
        #expect(String(decoding: received, as: UTF8.self).contains("PSUBSCRIBE"), "\(received) \(logged)")
        #expect(logged.first?.contains("is unavailable") == true, "\(logged)")
    }

    /// An address literal needs no lookup: resolved at once, on the loop's thread.
    @Test func literalsAreNotLookedUp() throws {
        for (host, family) in [("127.0.0.1", AF_INET), ("::1", AF_INET6)] {
            let resolver = try NameResolver(host: host, port: 6379) { _, _ in
                .failure(SystemError(errno: EINVAL, call: "lookUp"))
            }
            let addresses = try #require(try resolver.take()?.get())
            #expect(addresses.count == 1)
            #expect(addresses[0].bytes.withUnsafeBytes { CInt($0.load(as: sa_family_t.self)) } == family)
        }
    }
}
