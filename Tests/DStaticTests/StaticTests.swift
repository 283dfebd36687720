import DHTTP1
import DStatic
import Testing

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
    let mtime = 784_111_777

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
        #expect(decide { $0.ifModifiedSince = HTTPDate.format(mtime) } == .notModified)
        #expect(decide { $0.ifModifiedSince = HTTPDate.format(mtime - 1) } == .full)
        // If-None-Match wins over If-Modified-Since.
        #expect(
            decide {
                $0.ifNoneMatch = "\"other\""
                $0.ifModifiedSince = HTTPDate.format(mtime)
            } == .full)
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
        #expect(
            decide {
                $0.range = "bytes=0-9"
                $0.ifRange = etag
            } == .partial(first: 0, last: 9))
        #expect(
            decide {
                $0.range = "bytes=0-9"
                $0.ifRange = "\"stale\""
            } == .full)
        #expect(
            decide {
                $0.range = "bytes=0-9"
                $0.ifRange = HTTPDate.format(mtime)
            } == .partial(first: 0, last: 9))
        #expect(
            decide {
                $0.range = "bytes=0-9"
                $0.ifRange = HTTPDate.format(mtime - 5)
            } == .full)
    }
}

@Suite struct StaticPolicyTests {
    /// Accept-Encoding: codings with q > 0, case and spaces ignored; `*` takes every variant.
    @Test func acceptedEncodings() {
        #expect(StaticPolicy.acceptedEncodings(["gzip, deflate, br"]) == ["gzip", "deflate", "br"])
        #expect(StaticPolicy.acceptedEncodings(["GZip ; q=0.5", "br;q=0"]) == ["gzip"])
        #expect(StaticPolicy.acceptedEncodings(["*"]) == ["*", "br", "gzip"])
        #expect(StaticPolicy.acceptedEncodings([]).isEmpty)
    }

    /// Brotli before gzip, and only what exists and is accepted.
    @Test func preferredVariant() {
        #expect(StaticPolicy.encoding(available: ["gzip", "br"], accepted: ["gzip", "br"]) == "br")
        #expect(StaticPolicy.encoding(available: ["gzip"], accepted: ["gzip", "br"]) == "gzip")
        #expect(StaticPolicy.encoding(available: ["br"], accepted: ["gzip"]) == nil)
    }

    /// A directory: 403 without an index, a redirect adding the slash (keeping the query), or
    /// its index file.
    @Test func directories() {
        let docs = Array("/assets/docs".utf8)
        #expect(StaticPolicy.directory(path: docs, query: [], relative: "docs", index: nil) == .forbidden)
        #expect(
            StaticPolicy.directory(path: docs, query: Array("?x=1".utf8), relative: "docs", index: "index.html")
                == .redirect(location: "/assets/docs/?x=1"))
        #expect(
            StaticPolicy.directory(path: docs + [47], query: [], relative: "docs", index: "index.html")
                == .index(relative: "docs/index.html"))
        #expect(
            StaticPolicy.directory(path: Array("/assets/".utf8), query: [], relative: "", index: "index.html")
                == .index(relative: "index.html"))
    }
}
