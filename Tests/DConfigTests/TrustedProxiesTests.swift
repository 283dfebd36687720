import DConfig
import Testing

@Suite struct TrustedProxiesTests {
    @Test func addressesAndNetworks() throws {
        let t = try TrustedProxies.parse("127.0.0.1, 10.0.0.0/8,fd00::/8")
        #expect(t.contains("127.0.0.1") && t.contains("10.200.3.4") && t.contains("fd12::1"))
        #expect(t.contains("::ffff:10.1.2.3"), "IPv4-mapped")
        #expect(
            !t.contains("127.0.0.2") && !t.contains("11.0.0.1") && !t.contains("fe80::1") && !t.contains("localhost"))
        #expect(t.description == "127.0.0.1,10.0.0.0/8,fd00::/8")
        #expect(try TrustedProxies.parse("*").contains("203.0.113.9"))
        #expect(TrustedProxies.loopback.contains("::1") && TrustedProxies.loopback.contains("127.0.0.1"))
        #expect(!TrustedProxies.loopback.contains("127.0.0.5"))
    }

    @Test func errorsNameTheOption() {
        for bad in ["10.0.0.300", "10.0.0.0/33", "example.com"] {
            #expect(throws: ConfigError.self) { try TrustedProxies.parse(bad) }
            do { _ = try TrustedProxies.parse(bad) } catch { #expect(error.setting == .forwardedAllowIps) }
        }
    }
}
