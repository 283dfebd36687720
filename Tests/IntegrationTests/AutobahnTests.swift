import Foundation
import Testing

extension IntegrationSuite {
    /// Issue 17: Autobahn|Testsuite's fuzzing client against the binary under test
    /// (`Benchmarks/autobahn.py`; scripts/setup installs the suite).
    @Suite struct AutobahnTests {
        /// Cases 1 to 11 (framing, pings and pongs, reserved bits, opcodes, fragmentation,
        /// UTF-8, the close handshake, limits): every one OK, strict, but for the three the
        /// suite never grades (INFORMATIONAL: 7.1.6, 7.13.1 and 7.13.2).
        @Test func cases1To11() {
            let (status, output) = Command.run([
                ProcessInfo.processInfo.environment["PYTHON"] ?? "python3",
                Paths.repository + "/Benchmarks/autobahn.py", "--binary", Paths.binary, "--cases", "1-11",
            ])
            #expect(status == 0, "\(output)")
            #expect(output.contains("301 cases (1-11)"), "\(output)")
            // The script lists every case that is not OK, indented: "  3.2: NON-STRICT ...".
            let notOK = output.split(separator: "\n").compactMap { line -> String? in
                guard line.range(of: #"^  \d+(\.\d+)+: "#, options: .regularExpression) != nil else { return nil }
                return String(line.dropFirst(2).prefix { $0 != ":" })
            }
            #expect(notOK == ["7.1.6", "7.13.1", "7.13.2"], "\(output)")
        }
    }
}
