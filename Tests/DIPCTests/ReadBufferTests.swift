import Testing

@testable import DIPC

@Suite struct ReadBufferTests {
    func append(_ buffer: inout ReadBuffer, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buffer.append($0) }
    }

    /// Consumed bytes go at the next append: all of them once everything was consumed; the
    /// consumed part once it is over 64 KiB and over half; otherwise they stay (no copy for
    /// little). What was not consumed is kept, in order.
    @Test func consumedBytesAreDroppedOnAppend() {
        var buffer = ReadBuffer()
        append(&buffer, Array(repeating: 1, count: 100_000) + [2, 3])
        buffer.start = 100_000
        append(&buffer, [4])
        #expect(buffer.start == 0 && buffer.bytes == [2, 3, 4])
        buffer.start = 1
        append(&buffer, [5])
        #expect(buffer.start == 1 && buffer.bytes == [2, 3, 4, 5] && buffer.unconsumed == 3)
        buffer.start = 4
        append(&buffer, [6])
        #expect(buffer.start == 0 && buffer.bytes == [6])
    }
}
