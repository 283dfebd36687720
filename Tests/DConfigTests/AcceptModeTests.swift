import DConfig
import Testing

/// --accept-mode: single by default, shared when asked, and an error naming the option for
/// anything else; the workers get it in the encoded configuration.
@Suite struct AcceptModeTests {
    @Test func defaultIsSingle() throws {
        var b = builder()
        #expect(try build(&b).workers.acceptMode == .single)
    }

    @Test func sharedIsKeptThroughTheEncoding() throws {
        var b = builder()
        b.setAcceptMode("shared")
        let config = try build(&b)
        #expect(config.workers.acceptMode == .shared)
        #expect(try ServerConfiguration(encoded: config.encoded()).workers.acceptMode == .shared)
        #expect(try AcceptMode.parse("SINGLE") == .single)
    }

    @Test func anythingElseNamesTheOption() {
        let errors = problems { $0.setAcceptMode("reuseport") }
        #expect(errors == [ConfigError(.acceptMode, .invalid("reuseport", reason: "is not single or shared"))])
        #expect(errors.first?.message(spelling: { "--\($0.rawValue)" }).contains("--accept-mode") == true)
    }
}
