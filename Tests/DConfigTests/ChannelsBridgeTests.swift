import DConfig
import Testing

/// `--channels redis://HOST[:PORT][/DB]`: what is accepted, and errors that name the option.
@Suite struct ChannelsBridgeTests {
    @Test func accepted() throws {
        #expect(try ChannelsBridge.parse("redis://cache") == ChannelsBridge(host: "cache", port: 6379, database: 0))
        #expect(
            try ChannelsBridge.parse("redis://10.0.0.5:6380/2")
                == ChannelsBridge(host: "10.0.0.5", port: 6380, database: 2))
        #expect(try ChannelsBridge.parse("redis://[::1]:7000/") == ChannelsBridge(host: "::1", port: 7000, database: 0))
        #expect(try ChannelsBridge.parse("redis://[::1]").description == "redis://[::1]:6379/0")
    }

    @Test func refusedWithTheOptionNamed() {
        for (text, reason) in [
            ("http://x", "is not a redis://HOST[:PORT][/DB] URL"), ("redis://", "has no host"),
            ("redis://x:0", "has a port out of range (0)"), ("redis://x:http", "has a bad port"),
            ("redis://x/one", "has a database that is not a number (one)"),
            ("redis://user:pw@x", "has a password: give Redis's address only (AUTH is not supported)"),
        ] {
            #expect(throws: ConfigError(.channels, .invalid(text, reason: reason))) { try ChannelsBridge.parse(text) }
        }
        #expect(
            "\(ConfigError(.channels, .invalid("http://x", reason: "is not a redis://HOST[:PORT][/DB] URL")))"
                == "channels: 'http://x' is not a redis://HOST[:PORT][/DB] URL")
    }
}
