import DWSGI
import Foundation
import Testing

/// The bridge in this process: WSGIApplication driven with parsed request heads and a fake
/// transport, the exact bytes of each response checked. One interpreter for the whole target
/// (PythonHost); the suite is serialized so that each test's requests run back to back.
@Suite(.serialized) struct WSGIBridgeTests {
    let host = PythonHost.shared

    /// A 200 head: the app's fields, then the server's: the fixed test date, Server, then `framing`.
    func head(
        _ fields: [String] = ["Content-Type: text/plain"], framing: String?, version: String = "HTTP/1.1"
    ) -> String {
        var lines = ["\(version) 200 OK"] + fields + ["Date: \(Exchange.date)", "Server: dispatchd"]
        if let framing { lines.append(framing) }
        return lines.joined(separator: "\r\n") + "\r\n\r\n"
    }

    static let internalError =
        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\n"
        + "Date: \(Exchange.date)\r\nServer: dispatchd\r\nContent-Length: 22\r\n\r\nInternal Server Error\n"

    @Test func listGetsContentLength() async throws {
        let r = try await host.exchange("GET /list HTTP/1.1\r\nHost: test\r\n\r\n")
        #expect(r.text == head(framing: "Content-Length: 11") + "hello world")
        #expect(r.status == 200 && r.bodyBytes == 11 && r.keepAlive)
        #expect(r.steps.isEmpty)
    }

    @Test func generatorIsChunkedAndSkipsEmptyItems() async throws {
        let r = try await host.exchange("GET /generator HTTP/1.1\r\nHost: test\r\n\r\n")
        #expect(r.text == head(framing: "Transfer-Encoding: chunked") + "2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n")
        #expect(r.bodyBytes == 5 && r.keepAlive)
    }

    @Test func generatorToHTTP10IsCloseDelimited() async throws {
        let r = try await host.exchange("GET /generator HTTP/1.0\r\n\r\n")
        #expect(r.text == head(framing: "Connection: close", version: "HTTP/1.0") + "abcde")
        #expect(!r.keepAlive)
    }

    @Test func declaredContentLengthIsKept() async throws {
        let r = try await host.exchange("GET /declared HTTP/1.1\r\nHost: test\r\n\r\n")
        #expect(r.text == head([], framing: "Content-Length: 5") + "abcde")
        #expect(r.keepAlive)
    }

    @Test func headHasNoBody() async throws {
        let list = try await host.exchange("HEAD /list HTTP/1.1\r\nHost: test\r\n\r\n")
        #expect(list.text == head(framing: nil))
        #expect(list.bodyBytes == 0 && list.keepAlive)
        // A declared length is reported; the body is not sent.
        let declared = try await host.exchange("HEAD /declared HTTP/1.1\r\nHost: test\r\n\r\n")
        #expect(
            declared.text
                == "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nDate: \(Exchange.date)\r\nServer: dispatchd\r\n\r\n")
    }

    @Test func exceptionBeforeTheHeadIs500AndNothingElse() async throws {
        for target in ["/raise", "/str-body", "/no-start"] {
            let r = try await host.exchange("GET \(target) HTTP/1.1\r\nHost: test\r\n\r\n")
            #expect(r.text == Self.internalError, "\(target)")
            #expect(r.status == 500 && r.keepAlive, "\(target)")
        }
        // HEAD: the same head (the length a GET gets is announced), no body.
        let r = try await host.exchange("HEAD /raise HTTP/1.1\r\nHost: test\r\n\r\n")
        #expect(r.text == Self.internalError.replacingOccurrences(of: "Internal Server Error\n", with: ""))
    }

    /// `dispatchd.RequestTimeout` (what --timeout raises in a request) answers 504 when nothing
    /// was sent, and the connection is kept; once the head is out it cuts the response. It is a
    /// BaseException: `except Exception` lets it through.
    @Test func requestTimeoutIs504() async throws {
        let gatewayTimeout =
            "HTTP/1.1 504 Gateway Timeout\r\nContent-Type: text/plain; charset=utf-8\r\n"
            + "Date: \(Exchange.date)\r\nServer: dispatchd\r\nContent-Length: 16\r\n\r\nGateway Timeout\n"
        for target in ["/times-out", "/catches-exception"] {
            let r = try await host.exchange("GET \(target) HTTP/1.1\r\nHost: test\r\n\r\n")
            #expect(r.text == gatewayTimeout, "\(target)")
            #expect(r.status == 504 && r.keepAlive, "\(target)")
        }
        let late = try await host.exchange("GET /times-out-late HTTP/1.1\r\nHost: test\r\n\r\n")
        #expect(late.text == head(framing: "Transfer-Encoding: chunked") + "7\r\npartial\r\n")
        #expect(late.status == 200 && !late.keepAlive)
    }

    /// Once the head is out, a failure can only cut the response: no last chunk, no keep-alive.
    @Test func exceptionAfterTheHeadCutsTheResponse() async throws {
        let r = try await host.exchange("GET /raise-late HTTP/1.1\r\nHost: test\r\n\r\n")
        #expect(r.text == head(framing: "Transfer-Encoding: chunked") + "7\r\npartial\r\n")
        #expect(r.status == 200 && !r.keepAlive)
    }

    @Test func writeCallableOutputComesFirst() async throws {
        let r = try await host.exchange("GET /write HTTP/1.1\r\nHost: test\r\n\r\n")
        #expect(
            r.text == head(framing: "Transfer-Encoding: chunked") + "8\r\nwritten \r\nc\r\nand returned\r\n0\r\n\r\n")
        #expect(r.waits == 0 && r.keepAlive)
    }

    /// write() returns while up to 256 KiB are unsent; past that it waits for the client.
    @Test func writeWaitsOnlyPastTheHighWaterMark() async throws {
        let r = try await host.exchange("GET /write-large HTTP/1.1\r\nHost: test\r\n\r\n", sendWindow: 16384)
        let body = (0..<4).flatMap { [UInt8](repeating: 97 + UInt8($0), count: 100 * 1024) }
        #expect(r.difference(from: Array(head([], framing: "Content-Length: 409600").utf8) + body) == nil)
        #expect(r.waits == 1 && r.keepAlive)
    }

    @Test func writeToAGoneClientRaisesClientDisconnected() async throws {
        let r = try await host.exchange("GET /write-gone HTTP/1.1\r\nHost: test\r\n\r\n", clientGone: true)
        #expect(r.wire.isEmpty && !r.keepAlive)
        #expect(try await host.get("/closed?write-gone-ClientDisconnected") == "yes")
    }

    @Test func inputRead() async throws {
        let body = Array("hello body".utf8)
        let r = try await host.exchange(
            "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\n", body: body, readPiece: 3)
        #expect(r.text == head(framing: "Content-Length: 13") + "10 hello body")
        let chunked = try await host.exchange(
            "POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n", body: body)
        #expect(chunked.text.hasSuffix("\r\n\r\n- hello body"))
    }

    /// readline() and read(n) cut the body where asked, across the bridge's refills.
    @Test func inputReadlineAndIteration() async throws {
        let lines = try await host.exchange(
            "POST /lines HTTP/1.1\r\nHost: test\r\nContent-Length: 18\r\n\r\n",
            body: Array("one\ntwo\nthree\nfour".utf8), readPiece: 3)
        #expect(lines.text.hasSuffix(#"\#r\#n\#r\#n["one\n", "tw", "o\n", "thr", "ee\n", "four", ""]"#))
        let iterated = try await host.exchange(
            "POST /iterate HTTP/1.1\r\nHost: test\r\nContent-Length: 6\r\n\r\n",
            body: Array("a\nb\n\nc".utf8), readPiece: 1)
        #expect(iterated.text.hasSuffix(#"\#r\#n\#r\#n["a\n", "b\n", "\n", "c"]"#))
    }

    @Test func environ() async throws {
        let body = try await host.get("/environ?a=b%20c")
        #expect(
            body
                == #"{"REQUEST_METHOD": "GET", "PATH_INFO": "/environ", "QUERY_STRING": "a=b%20c", "SERVER_PROTOCOL": "HTTP/1.1", "#
                + #""HTTP_X_TEST": null, "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.input_terminated": true}"#
        )
        let r = try await host.exchange("GET /environ HTTP/1.1\r\nHost: test\r\nX-Test: yes\r\nX_Test: spoofed\r\n\r\n")
        #expect(r.text.contains(#""HTTP_X_TEST": "yes""#))
    }

    /// PEP 3333: the iterable's close() is called when the response ends, fails, or is abandoned.
    @Test func closeIsCalled() async throws {
        let r = try await host.exchange("GET /closing?done HTTP/1.1\r\nHost: test\r\n\r\n")
        #expect(r.text == head(framing: "Transfer-Encoding: chunked") + "3\r\none\r\n3\r\ntwo\r\n0\r\n\r\n")
        #expect(try await host.get("/closed?done") == "yes")
        #expect(try await host.get("/closed?never-used") == "no")

        let failed = try await host.exchange("GET /closing-fails?failed HTTP/1.1\r\nHost: test\r\n\r\n")
        #expect(failed.text == Self.internalError)
        #expect(try await host.get("/closed?failed") == "yes")

        let abandoned = try await host.exchange(
            "GET /closing-big?abandoned HTTP/1.1\r\nHost: test\r\n\r\n",
            sendWindow: 4096, abortOnMore: true)
        #expect(abandoned.steps == [.more] && !abandoned.keepAlive)
        #expect(try await host.get("/closed?abandoned") == "yes")
    }

    /// A slow client gets a large streamed response in steps, each resumed once output drained.
    @Test func largeResponseComesInSteps() async throws {
        let r = try await host.exchange("GET /big HTTP/1.1\r\nHost: test\r\n\r\n", sendWindow: 4096)
        #expect(!r.steps.isEmpty && r.steps.allSatisfy { $0 == .more })
        var expected = Array(
            head(["Content-Type: application/octet-stream"], framing: "Transfer-Encoding: chunked").utf8)
        for i in 0..<40 {
            expected += Array("4000\r\n".utf8) + [UInt8](repeating: 65 + UInt8(i % 26), count: 16384) + [13, 10]
        }
        expected += Array("0\r\n\r\n".utf8)
        #expect(r.difference(from: expected) == nil)
        #expect(r.bodyBytes == 40 * 16384 && r.keepAlive)
    }

    /// wsgi.file_wrapper over a real file: the head, then the file from its current offset with sendfile.
    @Test func fileWrapperIsSentWithSendfile() async throws {
        let file = try [UInt8](Data(contentsOf: PythonHost.fixtures.appendingPathComponent("bridge_app.py")))
        let r = try await host.exchange("GET /file?10 HTTP/1.1\r\nHost: test\r\n\r\n")
        #expect(r.steps == [.sendFile(offset: 10, count: file.count - 10)])
        #expect(
            r.difference(
                from: Array(head(["Content-Type: text/x-python"], framing: "Content-Length: \(file.count - 10)").utf8)
                    + file[10...]) == nil)
        #expect(r.bodyBytes == file.count - 10 && r.keepAlive)

        let headRequest = try await host.exchange("HEAD /file HTTP/1.1\r\nHost: test\r\n\r\n")
        #expect(headRequest.steps.isEmpty)
        #expect(headRequest.text == head(["Content-Type: text/x-python"], framing: nil))
    }
}
