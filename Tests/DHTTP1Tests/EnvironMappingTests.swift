import Testing

@testable import DHTTP1

@Suite struct EnvironMappingTests {
    /// (PATH_INFO as latin-1 text, QUERY_STRING) for a request target.
    func environ(_ target: String) -> (String, String) {
        let b = Array(target.utf8)
        return b.withUnsafeBytes { raw in
            let (path, query) = EnvironMapping.split(raw, target: 0..<b.count)
            var out: [UInt8] = []
            EnvironMapping.decodePath(raw, path, target: 0..<b.count, into: &out)
            return (String(out.map { Character(Unicode.Scalar($0)) }), String(decoding: b[query], as: UTF8.self))
        }
    }

    @Test(arguments: [
        ("/", "/", ""),
        ("/a/b?x=1&y=2", "/a/b", "x=1&y=2"),
        ("/a%20b%2Fc?q=%20", "/a b/c", "q=%20"),  // PATH_INFO decoded, QUERY_STRING raw
        ("/%zz%4", "/%zz%4", ""),  // invalid escapes stay
        ("/%C3%A9", "/\u{C3}\u{A9}", ""),  // bytes as latin-1 (PEP 3333)
        ("/p#frag", "/p", ""),
        ("/p?q#frag", "/p", "q"),
        ("http://example.com:8/x/y?z=1", "/x/y", "z=1"),
        ("http://example.com?z=1", "/", "z=1"),
        ("https://example.com", "/", ""),
        ("*", "*", ""),
        ("///keep//slashes", "///keep//slashes", ""),
    ])
    func pathAndQuery(_ target: String, _ path: String, _ query: String) {
        let (p, q) = environ(target)
        #expect(p == path, "\(target)")
        #expect(q == query, "\(target)")
    }

    func key(_ name: String) -> EnvironMapping.Key {
        Array(name.utf8).withUnsafeBytes { EnvironMapping.key(forField: $0) }
    }

    @Test func headerKeys() {
        #expect(key("Content-Type") == .contentType)
        #expect(key("CONTENT-LENGTH") == .contentLength)
        #expect(key("X-Forwarded-For") == .http)
        #expect(key("X_Forwarded_For") == .dropped)
        let http = Array("x-Custom-Header".utf8).withUnsafeBytes { EnvironMapping.httpKey($0) }
        #expect(String(decoding: http, as: UTF8.self) == "HTTP_X_CUSTOM_HEADER")
        #expect(Array("Cookie".utf8).withUnsafeBytes { EnvironMapping.joinSeparator(forField: $0) }.description == "; ")
        #expect(Array("Accept".utf8).withUnsafeBytes { EnvironMapping.joinSeparator(forField: $0) }.description == ", ")
    }
}
