import Testing

@testable import DHTTP1

/// Decodes `input` fed in pieces of `piece` bytes; returns the body or the error.
func decodeChunked(_ input: [UInt8], piece: Int) -> (body: [UInt8], consumed: Int, error: HTTPError?) {
    var decoder = ChunkedDecoder()
    var body: [UInt8] = []
    var offset = 0
    var available = 0
    while true {
        available = min(input.count, available + piece)
        var progressed = false
        while offset < available {
            let step = input.withUnsafeBytes { decoder.step(UnsafeRawBufferPointer(rebasing: $0[offset..<available])) }
            switch step {
            case .data(let s, let c):
                body += input[(offset + s)..<(offset + s + c)]
                offset += s + c
                progressed = true
            case .needMore:
                offset = available
            case .done(let consumed):
                return (body, offset + consumed, nil)
            case .invalid(let e):
                return (body, offset, e)
            }
        }
        if available == input.count && !progressed && offset == available {
            return (body, offset, HTTPError(0, "incomplete"))
        }
    }
}

@Suite struct ChunkedDecoderTests {
    @Test func decodesInEveryPieceSize() {
        let wire = Array(
            "5 ; a = b\r\nhello\r\n7;ext=1;q=\"x\\\"y\" ; flag\r\n, world\r\n0\r\nX-Trailer: v\r\n\r\nNEXT".utf8)
        for piece in 1...wire.count {
            let r = decodeChunked(wire, piece: piece)
            #expect(r.error == nil, "piece \(piece)")
            #expect(String(decoding: r.body, as: UTF8.self) == "hello, world", "piece \(piece)")
            #expect(r.consumed == wire.count - 4, "piece \(piece)")
        }
    }

    @Test(arguments: [
        "x\r\nabc\r\n0\r\n\r\n",  // not hex
        "3\r\nabcX\r\n0\r\n\r\n",  // no CRLF after data
        "3\nabc\r\n0\r\n\r\n",  // bare LF
        "1234567890abcdef0\r\n",  // overflow
        "3;a\u{0}b\r\nabc\r\n0\r\n\r\n",  // control character in extension
        "0\r\nBad Trailer\u{1}\r\n\r\n",
        "5 ilovew3\r\nhello\r\n0\r\n\r\n",  // no ";" before the extension
        "5;a=\"x\r\nhello\r\n0\r\n\r\n",  // unterminated quoted value
        "5;=v\r\nhello\r\n0\r\n\r\n",  // empty name
        "0\r\nContent-Length: 5\r\n\r\n",  // framing field in trailers
    ])
    func rejects(_ text: String) {
        let r = decodeChunked(Array(text.utf8), piece: 1000)
        #expect(r.error?.status == 400, "\(text.debugDescription) gave \(String(describing: r.error))")
    }

    @Test func limitsDataPerStep() {
        var decoder = ChunkedDecoder()
        let wire = Array("a\r\n0123456789\r\n0\r\n\r\n".utf8)
        let step = wire.withUnsafeBytes { decoder.step($0, maxData: 4) }
        #expect(step == .data(start: 3, count: 4))
    }
}
