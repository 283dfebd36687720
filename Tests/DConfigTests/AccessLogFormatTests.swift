import DConfig
import Foundation
import Testing

@Suite struct AccessLogFormatTests {
    @Test func templateAtoms() throws {
        let f = try AccessLogFormat.parse(
            #"%(h)s "%(r)s" %({X-Real-IP}i)s %({Location}o)s %({REMOTE_USER}e)s %(D)d 5%%"#)
        guard case .template(let atoms) = f else {
            Issue.record("not a template")
            return
        }
        #expect(
            atoms == [
                .remoteAddress, .literal(" \""), .requestLine, .literal("\" "), .requestHeader("x-real-ip"),
                .literal(" "), .responseHeader("location"), .literal(" "), .environ("REMOTE_USER"), .literal(" "),
                .microseconds, .literal(" 5%"),
            ])
        #expect(f.responseHeaders == ["location"] && f.environVariables == ["REMOTE_USER"])
        // Coded as its text, which parses to the same format.
        #expect(try AccessLogFormat.parse(f.description) == f)
        let coded = try JSONDecoder().decode(AccessLogFormat.self, from: JSONEncoder().encode(f))
        #expect(coded == f)
        #expect(try AccessLogFormat.parse("json") == .json)
        #expect(AccessLogFormat.default.description == AccessLogFormat.defaultText)
    }

    @Test func errorsNameTheOption() {
        for bad in ["%(zz)s", "%(h)", "%(h", "100%", "%({}i)s", "%({a}x)s", "%s"] {
            do {
                _ = try AccessLogFormat.parse(bad)
                Issue.record("\(bad) parsed")
            } catch {
                #expect(error.setting == .accessLogFormat, "\(bad)")
            }
        }
    }

    @Test func logLevels() throws {
        #expect(try LogLevel.parse("WARN") == .warning && LogLevel.parse("critical") == .critical)
        #expect(throws: ConfigError.self) { try LogLevel.parse("verbose") }
    }
}
