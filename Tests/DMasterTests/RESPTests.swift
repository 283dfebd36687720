import Testing

@testable import DMaster

/// The Redis protocol as the channels bridge speaks it: commands encoded, replies and pub/sub
/// pushes cut from a stream in any pieces, garbage refused.
@Suite struct RESPTests {
    @Test func commands() {
        #expect(RESP.command("PING") == Array("*1\r\n$4\r\nPING\r\n".utf8))
        #expect(
            RESP.command([Array("PUBLISH".utf8), Array("a".utf8), [0, 0x0D, 0x0A]])
                == Array("*3\r\n$7\r\nPUBLISH\r\n$1\r\na\r\n$3\r\n".utf8) + [0, 0x0D, 0x0A, 0x0D, 0x0A])
    }

    @Test func repliesInAnyPieces() throws {
        let stream = Array(
            ("+OK\r\n-ERR wrong\r\n:42\r\n$-1\r\n*-1\r\n$0\r\n\r\n"
                + "*3\r\n$10\r\npsubscribe\r\n$13\r\ndispatchd:0:*\r\n:1\r\n"
                + "*4\r\n$8\r\npmessage\r\n$13\r\ndispatchd:0:*\r\n$14\r\ndispatchd:0:ab\r\n$4\r\nhi\r\n\r\n").utf8)
        let expected: [RESP.Value] = [
            .simple("OK"), .error("ERR wrong"), .integer(42), .bulk(nil), .array(nil), .bulk([]),
            .array([.bulk(Array("psubscribe".utf8)), .bulk(Array("dispatchd:0:*".utf8)), .integer(1)]),
            .array([
                .bulk(Array("pmessage".utf8)), .bulk(Array("dispatchd:0:*".utf8)), .bulk(Array("dispatchd:0:ab".utf8)),
                .bulk(Array("hi\r\n".utf8)),
            ]),
        ]
        for piece in [1, 2, 5, stream.count] {
            var reader = RESP.Reader()
            var values: [RESP.Value] = []
            var offset = 0
            while offset < stream.count {
                let end = min(offset + piece, stream.count)
                stream[offset..<end].withUnsafeBytes { reader.append($0) }
                offset = end
                while let v = try reader.next() { values.append(v) }
            }
            #expect(values == expected, "pieces of \(piece)")
        }
    }

    @Test func garbageIsRefused() {
        for text in ["HTTP/1.1 200 OK\r\n", ":12x\r\n", "$5\r\nabcdefg\r\n", "*99999999999\r\n"] {
            var reader = RESP.Reader()
            Array(text.utf8).withUnsafeBytes { reader.append($0) }
            #expect(throws: RESP.ParseError.self, "\(text.debugDescription)") { try reader.next() }
        }
    }

    @Test func backoffDoublesUpToFiveSeconds() {
        #expect(RedisBridge.delay(afterFailures: 0) == 0.1)
        #expect(RedisBridge.delay(afterFailures: 1) == 0.2)
        #expect(RedisBridge.delay(afterFailures: 5) == 3.2)
        #expect(RedisBridge.delay(afterFailures: 6) == 5)
        #expect(RedisBridge.delay(afterFailures: 1000) == 5)
    }
}
