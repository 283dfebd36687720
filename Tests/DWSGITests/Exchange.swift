import DHTTP1
import DWSGI

/// One request through the bridge, driven as the worker's Connection drives it: `handle`, then
/// `resume` each time the output has drained, and for `.sendFile` the output and then the file
/// before `fileSent`. Holds what the client received.
struct Exchange: Sendable {
    enum Step: Sendable, Equatable {
        case more
        case sendFile(offset: Int, count: Int)
    }

    /// Every byte the client received.
    var wire: [UInt8]
    var status: Int
    var bodyBytes: Int
    var keepAlive: Bool
    /// The steps after the first, in order.
    var steps: [Step]
    /// Times write() waited for the client.
    var waits: Int

    var text: String { String(decoding: wire, as: UTF8.self) }

    /// nil when the client received exactly `expected`; otherwise where it differs (a failed
    /// comparison of whole arrays would print hundreds of kilobytes).
    func difference(from expected: [UInt8]) -> String? {
        guard wire != expected else { return nil }
        let common = min(wire.count, expected.count)
        let at = (0..<common).first { wire[$0] != expected[$0] } ?? common
        func around(_ bytes: [UInt8]) -> String {
            String(decoding: bytes[max(0, at - 40)..<min(bytes.count, at + 40)], as: UTF8.self)
        }
        return
            "\(wire.count) bytes, expected \(expected.count); first difference at \(at): \(around(wire).debugDescription), expected \(around(expected).debugDescription)"
    }

    /// The Date every test response carries.
    static let date = "Sun, 06 Nov 1994 08:49:37 GMT"
    static let info = WSGIConnectionInfo(
        serverName: "localhost", serverPort: "8000", remoteAddr: "127.0.0.1", remotePort: "40000")

    /// Sends the request head `request` (CRLF line ends, parsed as the worker parses it) to
    /// `app`; the body comes from `transport`. With `abortOnMore`, the client goes away at the
    /// first `.more`. On the interpreter's thread.
    static func perform(
        _ app: WSGIApplication, request: String, transport: FakeTransport, abortOnMore: Bool
    ) -> Exchange {
        let bytes = Array(request.utf8)
        var parser = RequestHeadParser(
            limits: HTTPLimits(requestLine: 8192, fieldLine: 8192, headSize: 65536, fieldCount: 100))
        var head = RequestHead()
        let parsed = bytes.withUnsafeBytes { parser.parse($0, into: &head) }
        precondition(parsed == .complete, "not a complete request head: \(parsed)")
        var steps: [Step] = []
        let outcome = bytes.withUnsafeBytes { raw -> WSGIOutcome in
            let buffer = UnsafeRawBufferPointer(rebasing: raw[0..<head.length])
            var progress = app.handle(
                head: head, buffer: buffer, info: info, transport: transport, output: transport.output,
                keepAlive: head.keepAlive, date: Array(date.utf8))
            while true {
                switch progress {
                case .done(let outcome):
                    transport.drain()
                    return outcome
                case .more(let response):
                    steps.append(.more)
                    if abortOnMore { return response.abort() }
                    transport.drain()
                    progress = response.resume(head, buffer)
                case .sendFile(let response, let fd, let offset, let count):
                    steps.append(.sendFile(offset: offset, count: count))
                    transport.drain()
                    transport.sendFile(fd: fd, offset: offset, count: count)
                    response.fileSent(count)
                    progress = response.resume(head, buffer)
                }
            }
        }
        return Exchange(
            wire: transport.wire, status: outcome.status, bodyBytes: outcome.bodyBytes, keepAlive: outcome.keepAlive,
            steps: steps, waits: transport.waits)
    }
}
