import DStatic
import DWebSocket
import FuzzDriver

/// Feeds arbitrary bytes as a client's frame stream to the WebSocket session, whole and in
/// pieces (a split point taken from the data, anywhere in a header or a payload): both must
/// give the same actions; delivered messages respect the size limit and text is valid UTF-8;
/// nothing follows a close, and a session that stops reading has closed or closes once it
/// gives up waiting for the application. The same
/// bytes also go through the static-file path decoder (no segment may escape) and the range
/// parser (a range stays inside the file).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let maxMessage = 300

    // Bit 1 of the first byte: the application asks for its next message after each one (a
    // close then goes at once), or never does (a close waits for it: `closing`).
    let applicationKeepsUp = size > 0 && bytes[0] & 2 == 2

    func run(pieces: [Int]) -> [WebSocketSession.Action] {
        var session = WebSocketSession(maxMessage: maxMessage, compression: size > 0 && bytes[0] & 1 == 1)
        var buffer: [UInt8] = []
        var actions: [WebSocketSession.Action] = []
        var fed = 0
        for end in pieces + [bytes.count] where end > fed {
            buffer += bytes[fed..<end]
            fed = end
            var used = 0
            while true {
                let step = buffer.withUnsafeMutableBytes {
                    session.receive(UnsafeMutableRawBufferPointer(rebasing: $0[used...]))
                }
                used += step.used
                precondition(used <= buffer.count)
                for a in step.actions {
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
                actions += step.actions
                if applicationKeepsUp && step.actions.contains(where: { if case .message = $0 { true } else { false } })
                {
                    actions += session.applicationWaiting()
                }
                if !session.isReading {
                    precondition(used == buffer.count, "bytes left after the session stopped reading")
                    // A close that waits for the application goes when it gives up waiting.
                    if session.state == .closing { actions += session.sendOwedClose() }
                    precondition(session.state == .closed)
                    return actions
                }
                if step.actions.isEmpty { break }
            }
            buffer.removeFirst(used)
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
