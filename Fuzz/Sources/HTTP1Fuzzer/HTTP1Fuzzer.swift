import DHTTP1
import FuzzDriver

/// Feeds arbitrary bytes to the request parser: whole, split at a point taken from the data,
/// and byte by byte; the three must agree, ranges must stay inside the input, and a complete
/// head's body (chunked) goes through the chunked decoder in pieces, which must agree too.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let limits = HTTPLimits(requestLine: 512, fieldLine: 512, headSize: 2048, fieldCount: 16)

    func parse(cuts: [Int]) -> (RequestHeadParser.Result, RequestHead) {
        var parser = RequestHeadParser(limits: limits)
        var head = RequestHead()
        var result = RequestHeadParser.Result.incomplete
        for cut in cuts + [bytes.count] where result == .incomplete {
            result = bytes.withUnsafeBytes { parser.parse(UnsafeRawBufferPointer(rebasing: $0[0..<cut]), into: &head) }
        }
        return (result, head)
    }
    let whole = parse(cuts: [])
    let split = size > 0 ? Int(bytes[0]) % (size + 1) : 0
    let halves = parse(cuts: [split])
    precondition(halves.0 == whole.0, "split at \(split) disagrees: \(halves.0) vs \(whole.0)")
    if size <= 256 {
        let dripped = parse(cuts: Array(0..<size))
        precondition(dripped.0 == whole.0, "byte-by-byte disagrees: \(dripped.0) vs \(whole.0)")
    }
    guard whole.0 == .complete else { return 0 }
    let head = whole.1
    precondition(head.length <= size)
    for f in head.fields {
        precondition(f.name.upperBound <= head.length && f.value.upperBound <= head.length && !f.name.isEmpty)
    }
    precondition(head.target.upperBound <= head.length && head.method.upperBound <= head.length)
    precondition(!(head.chunked && head.contentLength != nil), "both framings accepted")

    if head.chunked {
        let body = Array(bytes[head.length...])
        func decode(piece: Int) -> ([UInt8], Int?, Bool) {
            var decoder = ChunkedDecoder()
            var out: [UInt8] = []
            var offset = 0
            var available = 0
            while available < body.count || offset < available {
                available = min(body.count, available + piece)
                while offset < available {
                    switch body.withUnsafeBytes({
                        decoder.step(UnsafeRawBufferPointer(rebasing: $0[offset..<available]))
                    }) {
                    case .data(let s, let c):
                        precondition(c > 0 && offset + s + c <= available)
                        out += body[(offset + s)..<(offset + s + c)]
                        offset += s + c
                    case .needMore: offset = available
                    case .done(let consumed): return (out, offset + consumed, false)
                    case .invalid: return (out, nil, true)
                    }
                }
                if available == body.count { break }
            }
            return (out, nil, false)
        }
        let a = decode(piece: max(body.count, 1))
        let b = decode(piece: 1)
        precondition(a.1 == b.1 && a.2 == b.2 && (a.2 || a.0 == b.0), "chunked decoding depends on how bytes arrive")
    }
    return 0
}

/// libFuzzer's entry point for programs that keep their own main.
/// SwiftPM links an executable target's main under this name; hand over to libFuzzer.
@_cdecl("HTTP1Fuzzer_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzz(data, size) }
}
