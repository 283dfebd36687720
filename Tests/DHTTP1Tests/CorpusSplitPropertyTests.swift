import Foundation
import Testing

@testable import DHTTP1

/// Property: every input of the conformance corpora parses the same whether it arrives whole,
/// byte by byte, or split at any position (every position up to 2 KB, then every 16th).
@Suite struct CorpusSplitPropertyTests {
    /// Tests/Fixtures/conformance/http: gunicorn's and llhttp's corpora, kept in the repository.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/conformance/http")

    static func inputs() throws -> [(String, [UInt8])] {
        var out: [(String, [UInt8])] = []
        let data = try Data(contentsOf: root.appendingPathComponent("llhttp/requests.json"))
        for c in try JSONSerialization.jsonObject(with: data) as! [[String: Any]] {
            out.append((c["source"] as! String, [UInt8](Data(base64Encoded: c["raw_b64"] as! String)!)))
        }
        for kind in ["valid", "invalid"] {
            let dir = root.appendingPathComponent("gunicorn/\(kind)")
            for file in try FileManager.default.contentsOfDirectory(atPath: dir.path) where file.hasSuffix(".http") {
                let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .isoLatin1)
                let raw = text.replacingOccurrences(of: "\n", with: "").replacingOccurrences(of: "\\r", with: "\r")
                    .replacingOccurrences(of: "\\n", with: "\n").replacingOccurrences(of: "\\t", with: "\t")
                    .replacingOccurrences(of: "\\0", with: "\u{0}")
                    .replacing(#/\\x([0-9A-Fa-f]{2})/#) { String(Unicode.Scalar(UInt8($0.1, radix: 16)!)) }
                out.append(("gunicorn/\(kind)/\(file)", raw.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) }))
            }
        }
        return out
    }

    func parse(_ bytes: [UInt8], cuts: [Int]) -> (RequestHeadParser.Result, [RequestHead.Field], Int) {
        var parser = RequestHeadParser(limits: roomyLimits)
        var head = RequestHead()
        var result = RequestHeadParser.Result.incomplete
        for cut in cuts + [bytes.count] where result == .incomplete {
            result = bytes.withUnsafeBytes { parser.parse(UnsafeRawBufferPointer(rebasing: $0[0..<cut]), into: &head) }
        }
        return (result, result == .complete ? head.fields : [], result == .complete ? head.length : 0)
    }

    @Test func everySplitParsesAlike() throws {
        let cases = try Self.inputs()
        #expect(cases.count >= 250)
        for (name, bytes) in cases {
            let whole = parse(bytes, cuts: [])
            let drip = parse(bytes, cuts: Array(0..<bytes.count))
            #expect(drip.0 == whole.0 && drip.1 == whole.1 && drip.2 == whole.2, "\(name): byte by byte")
            let step = bytes.count <= 2048 ? 1 : 16
            for cut in stride(from: 0, through: bytes.count, by: step) {
                let split = parse(bytes, cuts: [cut])
                if split.0 != whole.0 || split.1 != whole.1 || split.2 != whole.2 {
                    Issue.record("\(name): split at \(cut) gives \(split.0), whole gives \(whole.0)")
                    break
                }
            }
        }
    }
}
