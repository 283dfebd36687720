import DStatic
import Testing

@Suite struct HTTPTimestampTests {
    @Test func formatsAndParses() {
        #expect(HTTPTimestamp.format(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPTimestamp.format(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPTimestamp.format(951782400) == "Tue, 29 Feb 2000 00:00:00 GMT")
        for t in [0, 784111777, 951782400, 1_700_000_000, 4_102_444_800] {
            #expect(HTTPTimestamp.parse(HTTPTimestamp.format(t)) == t)
        }
        #expect(HTTPTimestamp.parse("Sunday, 06-Nov-94 08:49:37 GMT") == 784111777)
        #expect(HTTPTimestamp.parse("Sun Nov  6 08:49:37 1994") == 784111777)
        #expect(HTTPTimestamp.parse("yesterday") == nil)
        #expect(HTTPTimestamp.parse("Sun, 06 Nov 1994 25:49:37 GMT") == nil)
    }
}

@Suite struct StaticPathTests {
    func seg(_ p: String, dot: Bool = false) -> Result<[String], StaticPath.Refusal> {
        StaticPath.segments(Array(p.utf8), prefix: Array("/assets".utf8), allowDotfiles: dot)
    }

    @Test func decodesAndRefuses() {
        #expect(seg("/assets/css/site.css") == .success(["css", "site.css"]))
        #expect(seg("/assets/a%20b.txt") == .success(["a b.txt"]))
        #expect(seg("/assets/./x//y") == .success(["x", "y"]))
        #expect(seg("/assets/../etc/passwd") == .failure(.forbidden))
        #expect(seg("/assets/%2e%2e/etc/passwd") == .failure(.forbidden))
        #expect(seg("/assets/%2E%2E/x") == .failure(.forbidden))
        #expect(seg("/assets/a%2fb") == .failure(.notFound))
        #expect(seg("/assets/a%5c..%5cb") == .failure(.notFound))
        #expect(seg("/assets/a\\b") == .failure(.notFound))
        #expect(seg("/assets/a%00.txt") == .failure(.badRequest))
        #expect(seg("/assets/a%zz") == .failure(.badRequest))
        #expect(seg("/assets/a%2") == .failure(.badRequest))
        #expect(seg("/assets/.env") == .failure(.notFound))
        #expect(seg("/assets/.well-known/x", dot: true) == .success([".well-known", "x"]))
    }

    @Test func mime() {
        #expect(MIMETypes.type(forPath: "a/site.CSS") == "text/css; charset=utf-8")
        #expect(MIMETypes.type(forPath: "x.png") == "image/png")
        #expect(MIMETypes.type(forPath: "noext") == "application/octet-stream")
        #expect(MIMETypes.type(forPath: "dir.d/noext") == "application/octet-stream")
    }
}

@Suite struct StaticResponseTests {
    let etag = StaticResponse.etag(size: 1000, mtimeNanoseconds: 5, inode: 7)
    let mtime = 784111777

    func decide(_ f: (inout StaticResponse.Request) -> Void) -> StaticResponse {
        var r = StaticResponse.Request()
        f(&r)
        return StaticResponse.decide(r, size: 1000, mtime: mtime, etag: etag)
    }

    @Test func conditionals() {
        #expect(decide { _ in } == .full)
        #expect(decide { $0.ifNoneMatch = etag } == .notModified)
        #expect(decide { $0.ifNoneMatch = "\"other\", W/\(etag)" } == .notModified)
        #expect(decide { $0.ifNoneMatch = "*" } == .notModified)
        #expect(decide { $0.ifNoneMatch = "\"other\"" } == .full)
        #expect(decide { $0.ifModifiedSince = HTTPTimestamp.format(mtime) } == .notModified)
        #expect(decide { $0.ifModifiedSince = HTTPTimestamp.format(mtime - 1) } == .full)
        // If-None-Match wins over If-Modified-Since.
        #expect(decide { $0.ifNoneMatch = "\"other\""; $0.ifModifiedSince = HTTPTimestamp.format(mtime) } == .full)
        #expect(decide { $0.ifModifiedSince = "garbage" } == .full)
    }

    @Test func ranges() {
        #expect(decide { $0.range = "bytes=0-99" } == .partial(first: 0, last: 99))
        #expect(decide { $0.range = "bytes=990-" } == .partial(first: 990, last: 999))
        #expect(decide { $0.range = "bytes=-10" } == .partial(first: 990, last: 999))
        #expect(decide { $0.range = "bytes=-5000" } == .partial(first: 0, last: 999))
        #expect(decide { $0.range = "bytes=500-5000" } == .partial(first: 500, last: 999))
        #expect(decide { $0.range = "bytes=1000-" } == .unsatisfiable)
        #expect(decide { $0.range = "bytes=-0" } == .unsatisfiable)
        #expect(decide { $0.range = "bytes=0-1,5-6" } == .full)
        #expect(decide { $0.range = "bytes=9-1" } == .full)
        #expect(decide { $0.range = "items=0-1" } == .full)
        #expect(decide { $0.range = "bytes=0-9"; $0.ifRange = etag } == .partial(first: 0, last: 9))
        #expect(decide { $0.range = "bytes=0-9"; $0.ifRange = "\"stale\"" } == .full)
        #expect(decide { $0.range = "bytes=0-9"; $0.ifRange = HTTPTimestamp.format(mtime) } == .partial(first: 0, last: 9))
        #expect(decide { $0.range = "bytes=0-9"; $0.ifRange = HTTPTimestamp.format(mtime - 5) } == .full)
    }
}
