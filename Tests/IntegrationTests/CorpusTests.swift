import Foundation
import Testing

/// The request corpora in Tests/Fixtures/conformance/http (gunicorn's and llhttp's), sent to the real
/// server whose app echoes what it saw with status 299, so a test can tell the app answered.
enum Corpus {
    /// gunicorn's `.http` notation: real newlines are layout; `\r`, `\n`, `\t`, `\0`, `\xHH`
    /// stand for bytes.
    static func decodeGunicorn(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        let b = latin1(text)
        var i = 0
        while i < b.count {
            if b[i] == 10 {
                i += 1
                continue
            }
            if b[i] == 92, i + 1 < b.count {
                switch b[i + 1] {
                case UInt8(ascii: "r"):
                    out.append(13)
                    i += 2
                    continue
                case UInt8(ascii: "n"):
                    out.append(10)
                    i += 2
                    continue
                case UInt8(ascii: "t"):
                    out.append(9)
                    i += 2
                    continue
                case UInt8(ascii: "0"):
                    out.append(0)
                    i += 2
                    continue
                case UInt8(ascii: "x"):
                    if i + 3 < b.count, let v = UInt8(String(decoding: b[(i + 2)...(i + 3)], as: UTF8.self), radix: 16)
                    {
                        out.append(v)
                        i += 4
                        continue
                    }
                default: break
                }
            }
            out.append(b[i])
            i += 1
        }
        return out
    }

    /// True for an HTTP/1.1 request with no Host field anywhere in the input.
    static func http11WithoutHost(_ bytes: [UInt8]) -> Bool {
        // After an HTTP/1.0 request without keep-alive the connection closes: what follows is
        // body or never read.
        let text = String(decoding: bytes, as: UTF8.self)
        guard let firstLine = text.components(separatedBy: "\r\n").first(where: { !$0.isEmpty }) else { return false }
        if firstLine.hasSuffix(" HTTP/1.0") && text.range(of: "keep-alive", options: .caseInsensitive) == nil {
            return false
        }
        return text.contains(" HTTP/1.1\r\n") && text.range(of: "\r\nhost:", options: .caseInsensitive) == nil
    }

    /// Adds "Host: corpus.invalid" after every HTTP/1.1 request line.
    static func insertHost(_ bytes: [UInt8]) -> [UInt8] {
        let text = String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
        let fixed = text.replacingOccurrences(
            of: #"(?m)^([!-~]+ [!-~]+ HTTP/1\.1\r\n)"#, with: "$1Host: corpus.invalid\r\n", options: .regularExpression)
        return latin1(fixed)
    }

    static func latin1(_ s: String) -> [UInt8] { s.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) } }

    /// Sends `bytes` on a new connection and collects responses until the server closes or
    /// stays silent; 299 responses carry the app's view.
    static func exchange(
        _ port: Int, _ bytes: [UInt8], expect: Int, heads: [Bool] = []
    ) -> (responses: [HTTPResponse], closed: Bool) {
        guard let c = try? RawClient(port: port) else { return ([], true) }
        try? c.send(bytes)
        // The client has nothing more to say: an incomplete request then ends at EOF.
        shutdown(c.fd, Int32(SHUT_WR))
        var responses: [HTTPResponse] = []
        while let r = try? c.readResponse(
            head: responses.count < heads.count && heads[responses.count], timeout: responses.count < expect ? 3 : 0.3)
        {
            responses.append(r)
            if r.status != 299 { break }
        }
        return (responses, c.eof)
    }

    static func percentDecode(_ s: String) -> String {
        var out: [UInt8] = []
        let b = latin1(s)
        var i = 0
        while i < b.count {
            if b[i] == 37, i + 2 < b.count,
                let v = UInt8(String(decoding: b[(i + 1)...(i + 2)], as: UTF8.self), radix: 16)
            {
                out.append(v)
                i += 3
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return String(out.map { Character(Unicode.Scalar($0)) })
    }

    /// Compares the app's view with an expected parse; nil when they agree.
    static func compare(
        _ seen: [String: Any], method: String, rawURI: String, version: String,
        headers: [[String]], body: String
    ) -> String? {
        var problems: [String] = []
        if seen["method"] as? String != method { problems.append("method \(seen["method"] ?? "-") != \(method)") }
        if seen["raw_uri"] as? String != rawURI { problems.append("raw_uri \(seen["raw_uri"] ?? "-") != \(rawURI)") }
        if seen["protocol"] as? String != "HTTP/\(version)" {
            problems.append("protocol \(seen["protocol"] ?? "-") != \(version)")
        }
        if seen["body"] as? String != body {
            problems.append("body \((seen["body"] as? String ?? "-").debugDescription) != \(body.debugDescription)")
        }
        let environ = seen["environ"] as? [String: String] ?? [:]
        var expected: [String: [String]] = [:]
        for h in headers where !h[0].contains("_") {
            let upper = h[0].uppercased().replacingOccurrences(of: "-", with: "_")
            let key = (upper == "CONTENT_TYPE" || upper == "CONTENT_LENGTH") ? upper : "HTTP_" + upper
            expected[key, default: []].append(h[1])
        }
        for (key, values) in expected {
            let sep = key == "HTTP_COOKIE" ? "; " : ", "
            var want = values.joined(separator: sep)
            if key == "CONTENT_LENGTH" {
                // The one decimal the body was framed with ("003" is 3, "5, 5" is 5).
                let members = Set(
                    want.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
                if members.count == 1, let n = Int(members.first!) { want = String(n) }
            }
            if environ[key] != want && !(key == "CONTENT_LENGTH" && environ[key] == nil) {
                problems.append("\(key) \(environ[key].debugDescription) != \(want.debugDescription)")
            }
        }
        return problems.isEmpty ? nil : problems.joined(separator: "; ")
    }
}

extension IntegrationSuite {
    @Suite struct CorpusTests {
        /// gunicorn's valid requests parse exactly as gunicorn expects; its invalid ones are
        /// answered with an error (or a close) and never reach the app.
        @Test func gunicornCorpus() throws {
            let base = Paths.conformance.appendingPathComponent("gunicorn")
            try withServer(["--no-access-log", "testapp:corpus_app"], workers: 1) { s in
                // A rejection must be an answer, not a crash: a worker that traps closes the
                // connection too (and the master would quietly replace it for the next case).
                let worker = try #require(s.liveWorkerPids().first)
                let valid = try FileManager.default.contentsOfDirectory(
                    atPath: base.appendingPathComponent("valid").path
                )
                .filter { $0.hasSuffix(".http") }.sorted()
                #expect(valid.count > 40)
                var checked = 0
                for file in valid {
                    let name = String(file.dropLast(5))
                    let jsonURL = base.appendingPathComponent("valid/\(name).json")
                    let spec = try JSONSerialization.jsonObject(with: Data(contentsOf: jsonURL)) as! [String: Any]
                    // Cases for non-default gunicorn settings are optional.
                    if let cfg = spec["cfg"] as? [String: Any], !cfg.isEmpty { continue }
                    var bytes = Corpus.decodeGunicorn(
                        try String(contentsOf: base.appendingPathComponent("valid/\(file)"), encoding: .isoLatin1))
                    let requests = spec["requests"] as! [[String: Any]]
                    if name == "099" { bytes = Self.fixDeclaredLength(bytes) }
                    if Corpus.http11WithoutHost(bytes) {
                        // RFC 9112 §3.2: an HTTP/1.1 request without Host is answered 400. The
                        // rest of the parse is checked on a copy with a Host field added.
                        let (responses, _) = Corpus.exchange(s.port, bytes, expect: requests.count)
                        #expect(
                            responses.contains { $0.status == 400 },
                            "valid/\(name) without Host: \(responses.map(\.status))")
                        bytes = Corpus.insertHost(bytes)
                    }
                    let (responses, _) = Corpus.exchange(s.port, bytes, expect: requests.count)
                    try #require(ProcFS.isAlive(worker), "valid/\(name): the worker died\n\(s.stderr.text)")
                    if let (status, reason) = Self.gunicornValidDecidedOtherwise[name] {
                        #expect(
                            responses.map(\.status) == [status],
                            "valid/\(name): \(reason); got \(responses.map(\.status))")
                        continue
                    }
                    #expect(
                        responses.count == requests.count && responses.allSatisfy { $0.status == 299 },
                        "valid/\(name): got \(responses.map(\.status)) for \(requests.count) requests")
                    for (r, want) in zip(responses, requests) where r.status == 299 {
                        let uri = want["uri"] as! [String: Any]
                        let v = want["version"] as! [Int]
                        var wantHeaders = want["headers"] as! [[String]]
                        // 099 was sent with its true length.
                        if name == "099" { wantHeaders.removeAll { $0[0] == "CONTENT-LENGTH" } }
                        var headers = wantHeaders
                        if !headers.contains(where: { $0[0] == "HOST" }) { headers.append(["HOST", "corpus.invalid"]) }
                        let problem = Corpus.compare(
                            r.json, method: want["method"] as! String, rawURI: uri["raw"] as! String,
                            version: "\(v[0]).\(v[1])",
                            headers: wantHeaders.contains { $0[0] == "HOST" } || v[1] == 0 ? wantHeaders : headers,
                            body: want["body_latin1"] as! String)
                        #expect(problem == nil, "valid/\(name): \(problem ?? "")")
                        // CONNECT's authority-form has no path (gunicorn reports the port); we pass
                        // the authority as PATH_INFO and RAW_URI.
                        let path =
                            want["method"] as? String == "CONNECT"
                            ? uri["raw"] as! String : Corpus.percentDecode(uri["path"] as! String)
                        #expect(r.json["path"] as? String == path, "valid/\(name): PATH_INFO")
                        #expect(r.json["query"] as? String == uri["query"] as? String, "valid/\(name): QUERY_STRING")
                    }
                    checked += 1
                }
                #expect(checked > 30)

                let invalid = try FileManager.default.contentsOfDirectory(
                    atPath: base.appendingPathComponent("invalid").path
                )
                .filter { $0.hasSuffix(".http") }.sorted()
                #expect(invalid.count > 40)
                for file in invalid {
                    let name = String(file.dropLast(5))
                    let spec =
                        try JSONSerialization.jsonObject(
                            with: Data(contentsOf: base.appendingPathComponent("invalid/\(name).json")))
                        as! [String: Any]
                    if let cfg = spec["cfg"] as? [String: Any], !cfg.isEmpty { continue }
                    let bytes = Corpus.decodeGunicorn(
                        try String(contentsOf: base.appendingPathComponent("invalid/\(file)"), encoding: .isoLatin1))
                    let (responses, closed) = Corpus.exchange(s.port, bytes, expect: 1)
                    try #require(ProcFS.isAlive(worker), "invalid/\(name): the worker died\n\(s.stderr.text)")
                    if let reason = Self.gunicornInvalidDecidedOtherwise[name] {
                        #expect(responses.map(\.status) == [299], "invalid/\(name): \(reason)")
                        if name == "rfc9112_smuggle_cl_list_form_01", let seen = responses.first {
                            #expect(
                                (seen.json["environ"] as? [String: String])?["CONTENT_LENGTH"] == "5",
                                "invalid/\(name): CONTENT_LENGTH")
                            #expect(seen.json["body"] as? String == "hello", "invalid/\(name): body")
                        }
                        continue
                    }
                    let seen = responses.filter { $0.status == 299 }.count
                    #expect(seen == 0, "invalid/\(name) (\(spec["expect_error"] ?? "")) reached the app")
                    #expect(responses.contains { $0.status >= 400 } || closed, "invalid/\(name): no error and no close")
                }
            }
        }

        /// llhttp's request cases (strict mode): complete messages reach the app exactly as
        /// llhttp parses them; inputs llhttp rejects never reach the app past the messages
        /// before the error. Where RFC 9112 lets a server decide, our decisions are listed in
        /// `llhttpDecidedOtherwise`.
        @Test func llhttpCorpus() throws {
            let data = try Data(contentsOf: Paths.conformance.appendingPathComponent("llhttp/requests.json"))
            let cases = try JSONSerialization.jsonObject(with: data) as! [[String: Any]]
            #expect(cases.count > 100)
            try withServer(["--no-access-log", "testapp:corpus_app"], workers: 1) { s in
                let worker = try #require(s.liveWorkerPids().first)
                var checkedValid = 0
                var checkedInvalid = 0
                for c in cases {
                    let source = (c["source"] as! String).replacingOccurrences(of: "llhttp test/request/", with: "")
                    var bytes = [UInt8](Data(base64Encoded: c["raw_b64"] as! String)!)
                    let messages = c["messages"] as! [[String: Any]]
                    let rejected = !(c["error"] is NSNull)
                    let partial = !(c["partial"] is NSNull)
                    if let (accept, reason) = Self.llhttpDecidedOtherwise[source] {
                        if accept && Corpus.http11WithoutHost(bytes) { bytes = Corpus.insertHost(bytes) }
                        let (responses, _) = Corpus.exchange(s.port, bytes, expect: 1)
                        try #require(ProcFS.isAlive(worker), "\(source): the worker died\n\(s.stderr.text)")
                        let seen = responses.filter { $0.status == 299 }.count
                        #expect(
                            accept
                                ? seen > messages.count
                                : seen <= messages.count && responses.last?.status ?? 400 >= 400,
                            "\(source): \(reason); got \(responses.map(\.status))")
                        continue
                    }
                    if Corpus.http11WithoutHost(bytes) {
                        let (responses, _) = Corpus.exchange(s.port, bytes, expect: messages.count)
                        #expect(
                            !responses.contains { $0.status == 299 } || responses.contains { $0.status == 400 },
                            "\(source) without Host: \(responses.map(\.status))")
                        bytes = Corpus.insertHost(bytes)
                    }
                    let heads = messages.map { $0["method"] as? String == "HEAD" }
                    let (responses, _) = Corpus.exchange(s.port, bytes, expect: messages.count, heads: heads)
                    try #require(ProcFS.isAlive(worker), "\(source): the worker died\n\(s.stderr.text)")
                    let seen = responses.filter { $0.status == 299 }
                    if rejected || partial {
                        #expect(
                            seen.count <= messages.count,
                            "\(source): \(seen.count) requests reached the app, llhttp completes \(messages.count)")
                        checkedInvalid += 1
                    } else {
                        #expect(
                            seen.count == messages.count && responses.count == messages.count,
                            "\(source): got \(responses.map(\.status)) for \(messages.count) messages")
                        checkedValid += 1
                    }
                    for (r, m) in zip(seen, messages) where m["method"] as? String != "HEAD" {  // HEAD: no body to read
                        var headers = (m["headers"] as! [[String]]).map {
                            [$0[0], $0[1].trimmingCharacters(in: CharacterSet(charactersIn: " \t"))]
                        }
                        if m["version"] as? String == "1.1"
                            && !headers.contains(where: { $0[0].lowercased() == "host" })
                        {
                            headers.append(["Host", "corpus.invalid"])
                        }
                        // llhttp stops at a CONNECT head (the tunnel begins); we serve CONNECT as an
                        // ordinary request with its declared body, since WSGI has no tunnels.
                        let isConnect = m["method"] as? String == "CONNECT"
                        let body = isConnect ? (r.json["body"] as? String ?? "") : m["body"] as! String
                        let problem = Corpus.compare(
                            r.json, method: m["method"] as! String, rawURI: m["url"] as! String,
                            version: m["version"] as! String, headers: headers, body: body)
                        #expect(problem == nil, "\(source): \(problem ?? "")")
                    }
                }
                #expect(checkedValid > 20)
                #expect(checkedInvalid > 40)
            }
        }

        /// llhttp cases where we differ, with RFC 9112's word for our choice. `true`: we accept
        /// what llhttp rejects; `false`: we refuse what llhttp accepts.
        static let llhttpDecidedOtherwise: [String: (Bool, String)] = [
            "invalid.md:66": (
                true, "ANNOUNCE over HTTP/1.0: methods are extensible tokens (RFC 9110 §9.1); llhttp keeps a list"
            ),
            "invalid.md:356": (true, "MKCOLA is a valid token method (RFC 9110 §9.1); llhttp keeps a list"),
            "method.md:135": (false, "M-SEARCH *: the asterisk-form is only for OPTIONS (RFC 9112 §3.2.4)"),
            "method.md:372": (false, "ICE/1.0 is not HTTP"),
            "method.md:400": (false, "RTSP/1.0 is not HTTP"),
            "method.md:430": (false, "RTSP/1.0 is not HTTP"),
            "sample.md:314": (false, "HTTP/0.9 request lines (no version) are not served"),
            "transfer-encoding.md:751": (
                false, "deflate, chunked: we decode no coding but chunked, so 501 (RFC 9112 §6.1)"
            ),
            "transfer-encoding.md:793": (false, "as transfer-encoding.md:751"),
            "uri.md:148": (
                true,
                "raw UTF-8 bytes in the path are passed on as latin-1 (PEP 3333), as gunicorn does; they cannot change framing"
            ),
            "uri.md:222": (false, "userinfo in an absolute-form target is an error (RFC 9110 §4.2.4)"),
        ]

        /// valid/099 declares a longer body than it carries (README of the corpus): send it
        /// with its true length.
        static func fixDeclaredLength(_ bytes: [UInt8]) -> [UInt8] {
            let text = String(decoding: bytes, as: UTF8.self)
            guard let headEnd = text.range(of: "\r\n\r\n") else { return bytes }
            let bodyCount = text.utf8.distance(
                from: headEnd.upperBound.samePosition(in: text.utf8)!, to: text.utf8.endIndex)
            let head = text[..<headEnd.lowerBound].replacingOccurrences(
                of: #"Content-Length: \d+"#, with: "Content-Length: \(bodyCount)", options: .regularExpression)
            return Array(head.utf8) + Array("\r\n\r\n".utf8) + Array(text[headEnd.upperBound...].utf8)
        }

        /// gunicorn's valid cases that we refuse, with our status and the rule behind it.
        static let gunicornValidDecidedOtherwise: [String: (Int, String)] = [
            "009": (
                400,
                "Transfer-Encoding: identity with Content-Length: identity is no transfer coding since RFC 7230, and a request with both framings is refused (RFC 9112 §6.1)"
            ),
            "025": (
                501,
                "gzip, chunked: we do not decode gzip request bodies; RFC 9112 §6.1 answers an unknown coding with 501"
            ),
            "025_line": (501, "gzip,chunked: as 025"),
            "029": (501, "identity, chunked: identity is not a registered coding since RFC 7230"),
            "030": (501, "identity, chunked: as 029"),
            "rfc9112_smuggle_gzip_chunked_01": (501, "as 025"),
            "rfc9112_smuggle_te_identity_chunked_01": (501, "as 029"),
            "rfc9112_target_absolute_userinfo_01": (
                400, "userinfo in an http(s) target is an error (RFC 9110 §4.2.4), as llhttp decides"
            ),
        ]

        /// gunicorn's invalid cases that we accept, and why.
        static let gunicornInvalidDecidedOtherwise: [String: String] = [
            "006": "a 4112-byte request line is under our default limit of 8 KiB (gunicorn's is 4094)",
            "008": "an 8189-byte header field is under our default limit of 8 KiB (gunicorn's is 8190 with the name)",
            // RFC 9112 §6.3 lets a recipient either refuse a list of identical Content-Length
            // values or process the message with that one value; gunicorn and llhttp refuse. We
            // collapse: the body is framed with the one value, and CONTENT_LENGTH is that decimal
            // ("5"), as if the client had sent it once (RequestHeadParser.mergeContentLength).
            // Empty members are ignored as in any list ("5," is 5); differing values get 400.
            "rfc9112_smuggle_cl_list_form_01":
                "Content-Length: 5, 5 has identical values: processed as Content-Length: 5 (RFC 9112 §6.3)",
        ]
    }
}
