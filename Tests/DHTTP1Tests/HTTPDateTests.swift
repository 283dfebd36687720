import DHTTP1
import Testing

@Suite struct HTTPDateTests {
    @Test func formatsAndParses() {
        #expect(HTTPDate.format(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.format(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDate.format(951_782_400) == "Tue, 29 Feb 2000 00:00:00 GMT")
        for t in [0, 784_111_777, 951_782_400, 1_700_000_000, 4_102_444_800] {
            #expect(HTTPDate.parse(HTTPDate.format(t)) == t)
        }
        #expect(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT") == 784_111_777)
        #expect(HTTPDate.parse("Sun Nov  6 08:49:37 1994") == 784_111_777)
        #expect(HTTPDate.parse("yesterday") == nil)
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 25:49:37 GMT") == nil)
    }

    /// The cached Date value and log timestamp are the same second formatted the one way.
    @Test func cachedCurrentSecond() {
        var date = HTTPDate()
        date.update(second: 784_111_777)
        #expect(String(decoding: date.imfFixdate, as: UTF8.self) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(String(decoding: date.commonLog, as: UTF8.self) == "06/Nov/1994:08:49:37 +0000")
        date.update(second: 951_782_400)
        #expect(String(decoding: date.imfFixdate, as: UTF8.self) == HTTPDate.format(951_782_400))
    }
}
