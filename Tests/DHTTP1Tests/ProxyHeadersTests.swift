import DHTTP1
import Testing

/// X-Forwarded-* and Forwarded from trusted proxies, and the PROXY protocol header.
@Suite struct ProxyHeadersTests {
    static let proxies: Set<String> = ["127.0.0.1", "10.0.0.2", "10.0.0.3"]

    func resolve(_ build: (inout ForwardedHeaders.Fields) -> Void) -> ForwardedHeaders {
        var fields = ForwardedHeaders.Fields()
        build(&fields)
        return ForwardedHeaders.resolve(fields) { Self.proxies.contains($0) }
    }

    @Test func xForwarded() {
        let r = resolve {
            $0.forwardedFor = ["203.0.113.7, 198.51.100.9", "10.0.0.3"]
            $0.proto = ["https"]
            $0.host = ["example.com:8443"]
        }
        // The rightmost address that is not a proxy: what is left of it the client could forge.
        #expect(
            r == ForwardedHeaders(remoteAddr: "198.51.100.9", scheme: "https", host: "example.com:8443", port: "8443"))
        #expect(
            resolve { $0.forwardedFor = ["10.0.0.2, 10.0.0.3"] }.remoteAddr == "10.0.0.2", "all proxies: the leftmost")
        #expect(
            resolve {
                $0.port = ["8080"]
                $0.host = ["h"]
            } == ForwardedHeaders(host: "h", port: "8080"))
    }

    @Test func forwardedWins() {
        let r = resolve {
            $0.forwarded = [#"for="[2001:db8::1]:4711";proto=HTTPS;host=h.example, for=10.0.0.2"#]
            $0.forwardedFor = ["192.0.2.1"]
        }
        #expect(r == ForwardedHeaders(remoteAddr: "2001:db8::1", scheme: "https", host: "h.example"))
        #expect(resolve { $0.forwarded = ["for=192.0.2.43:47011"] }.remoteAddr == "192.0.2.43")
    }

    @Test func malformedIsIgnored() {
        let r = resolve {
            $0.forwardedFor = ["not an address"]
            $0.proto = ["ftp"]
            $0.host = ["a b/c"]
            $0.port = ["99999"]
        }
        #expect(r == ForwardedHeaders())
        #expect(resolve { $0.forwarded = ["for=unknown"] }.remoteAddr == nil)
        #expect(resolve { $0.forwarded = [";;=,,"] } == ForwardedHeaders())
    }

    @Test func fieldNames() {
        for (name, expected) in [
            ("X-Forwarded-For", ForwardedHeaders.Name.forwardedFor), ("x-forwarded-proto", .proto),
            ("X-FORWARDED-HOST", .host), ("X-Forwarded-Port", .port), ("Forwarded", .forwarded),
        ] {
            #expect(Array(name.utf8).withUnsafeBytes { ForwardedHeaders.name($0) } == expected, "\(name)")
        }
        #expect(Array("X-Forwarded-Fox".utf8).withUnsafeBytes { ForwardedHeaders.name($0) } == nil)
    }

    func parse(_ bytes: [UInt8]) -> ProxyProtocol.Outcome { bytes.withUnsafeBytes { ProxyProtocol.parse($0) } }

    @Test func proxyV1() {
        let line = Array("PROXY TCP4 192.0.2.7 10.0.0.1 56324 443\r\nGET / HTTP/1.1\r\n".utf8)
        #expect(parse(line) == .complete(length: 41, source: ("192.0.2.7", 56324)))
        for cut in 0..<41 { #expect(parse(Array(line[0..<cut])) == .incomplete, "\(cut)") }
        #expect(parse(Array("PROXY UNKNOWN\r\n".utf8)) == .complete(length: 15, source: nil))
        #expect(
            parse(Array("PROXY TCP6 2001:db8::1 ::1 1 2\r\n".utf8)) == .complete(length: 32, source: ("2001:db8::1", 1))
        )
        if case .invalid = parse(Array("GET / HTTP/1.1\r\n".utf8)) {
        } else {
            Issue.record("an HTTP request is no header")
        }
        if case .invalid = parse(Array("PROXY TCP4 1.2.3.4 5.6.7.8 70000 1\r\n".utf8)) {} else { Issue.record("port") }
        if case .invalid = parse(
            Array(repeating: UInt8(ascii: "P"), count: 1) + Array("ROXY ".utf8) + Array(repeating: 0x41, count: 120))
        {
        } else {
            Issue.record("too long")
        }
    }

    @Test func proxyV2() {
        let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
        // PROXY, TCP over IPv4, 12 address bytes plus a 3-byte TLV.
        let v4 =
            signature + [0x21, 0x11, 0x00, 15, 192, 0, 2, 7, 10, 0, 0, 1, 0xDC, 0x04, 0x01, 0xBB, 0x04, 0x00, 0x00]
        #expect(parse(v4 + [0x47]) == .complete(length: 31, source: ("192.0.2.7", 0xDC04)))
        for cut in 0..<31 { #expect(parse(Array(v4[0..<cut])) == .incomplete, "\(cut)") }
        let local = signature + [0x20, 0x00, 0x00, 0x00]
        #expect(parse(local) == .complete(length: 16, source: nil), "LOCAL: a health check")
        var v6 =
            signature + [0x21, 0x21, 0x00, 36] + [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [1]
        v6 += [UInt8](repeating: 0, count: 16) + [0x00, 0x50, 0x01, 0xBB]
        #expect(parse(v6) == .complete(length: 52, source: ("2001:db8:0:0:0:0:0:1", 80)))
        if case .invalid = parse(signature + [0x11, 0x11, 0x00, 0x00]) {
        } else {
            Issue.record("version 1 in a v2 header")
        }
    }
}
