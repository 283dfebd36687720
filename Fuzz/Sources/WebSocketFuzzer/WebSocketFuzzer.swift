import DStatic
import DWebSocket
import FuzzDriver

/// Feeds arbitrary bytes as a client's frame stream to the WebSocket session, whole and in
/// pieces (a split point taken from the data): both must give the same actions; delivered
/// messages respect the size limit and text is valid UTF-8; nothing follows a close. The same
/// bytes also go through the static-file path decoder (no segment may escape) and the range
/// parser (a range stays inside the file).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let maxMessage = 300

    func run(pieces: [Int]) -> [WebSocketSession.Action] {
        var session = WebSocketSession(maxMessage: maxMessage, compression: size > 0 && bytes[0] & 1 == 1)
        var buffer: [UInt8] = []
        var actions: [WebSocketSession.Action] = []
        var fed = 0
        for end in pieces + [bytes.count] where end > fed {
            buffer += bytes[fed..<end]
            fed = end
            while true {
                let parsed = buffer.withUnsafeBytes {
                    WebSocketFrame.parse($0, allowRSV1: session.compression, maxPayload: maxMessage)
                }
                guard case .frame(let frame) = parsed else {
                    if case .invalid(let code, let reason) = parsed { actions += session.fail(code, reason) }
                    break
                }
                guard buffer.count >= frame.headerLength + frame.payloadLength else { break }
                precondition(frame.payloadLength <= maxMessage)
                var payload = Array(buffer[frame.headerLength..<(frame.headerLength + frame.payloadLength)])
                payload.withUnsafeMutableBytes { WebSocketFrame.unmask($0, key: frame.maskKey) }
                buffer.removeFirst(frame.headerLength + frame.payloadLength)
                let new = payload.withUnsafeBytes { session.receive(frame, payload: $0) }
                for a in new {
                    switch a {
                    case .message(let binary, let p):
                        precondition(p.count <= maxMessage)
                        if !binary { precondition(p.withUnsafeBytes { UTF8Validator.isValid($0) }) }
                    case .compressedMessage(_, let p):
                        precondition(p.count <= maxMessage)
                    case .send(let op, let p):
                        precondition(op == .pong || op == .close)
                        precondition(p.count <= 125)
                    default: break
                    }
                }
                actions += new
                if session.state == .closed { return actions }
            }
            if session.state == .closed { return actions }
        }
        return actions
    }
    let whole = run(pieces: [])
    let split = size > 1 ? Int(bytes[1]) % (size + 1) : 0
    let halves = run(pieces: [split])
    precondition(whole == halves, "split at \(split) disagrees")
    if let close = whole.firstIndex(of: .closeConnection) {
        precondition(close == whole.count - 1, "actions after the close")
    }

    // Static paths: decoded segments never climb out or hide separators.
    var path = Array("/a/".utf8)
    path += bytes.prefix(64)
    if case .success(let segments) = StaticPath.segments(
        path, prefix: Array("/a".utf8), allowDotfiles: size > 2 && bytes[2] & 1 == 1)
    {
        for s in segments {
            precondition(s != ".." && s != "." && !s.isEmpty)
            precondition(
                !s.utf8.contains(0) && !s.utf8.contains(UInt8(ascii: "/")) && !s.utf8.contains(UInt8(ascii: "\\")))
        }
    }
    // Ranges stay inside the file.
    let fileSize = size > 3 ? Int(bytes[3]) * 7 : 0
    var request = StaticResponse.Request()
    request.range = String(decoding: bytes.prefix(40), as: UTF8.self)
    if case .partial(let first, let last) = StaticResponse.decide(request, size: fileSize, mtime: 0, etag: "\"e\"") {
        precondition(first >= 0 && first <= last && last < fileSize, "range \(first)-\(last) of \(fileSize)")
    }
    return 0
}

/// SwiftPM links an executable target's main under this name; hand over to libFuzzer.
@_cdecl("WebSocketFuzzer_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzz(data, size) }
}
