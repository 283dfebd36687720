/// The protocol state of one WebSocket connection after the handshake (RFC 6455): frames as
/// their bytes arrive, message reassembly, UTF-8 checks, control frames and the close
/// handshake. Pure: fed the client's bytes, it returns what the connection must do.
///
/// Strict about timing, as Autobahn|Testsuite's strict cases are: a frame's header is judged
/// as soon as it has arrived (reserved bits and opcodes, fragmentation, the message limit), a
/// text payload's UTF-8 as each piece of it arrives, so that a bad frame fails the connection
/// before its end. And a close, the peer's echoed or a protocol error's, does not overtake the
/// answers to earlier messages: while the application has not finished with a message it was
/// given, the close waits for it (`State.closing`).
public struct WebSocketSession: Sendable {
    public enum Action: Sendable, Equatable {
        /// A complete message for the application.
        case message(binary: Bool, payload: [UInt8])
        /// A complete permessage-deflate message: decompress it, then check its size (and, for
        /// text, its UTF-8) with `checkDecompressed`.
        case compressedMessage(binary: Bool, payload: [UInt8])
        /// A frame to send (a pong, a close).
        case send(WebSocketFrame.Opcode, [UInt8])
        /// A pong arrived (keepalive bookkeeping).
        case pongReceived
        /// Close the TCP connection once what is queued is sent.
        case closeConnection
    }

    public enum State: Sendable, Equatable {
        case open
        /// A close is owed to the peer (the echo of its own, or a protocol error's: `failure`)
        /// while the application had not finished with a message it was given: nothing more is
        /// read, the application may still send, and the close goes once it asks for its next
        /// message (`applicationWaiting`), closes or ends, or waited too long (`sendOwedClose`).
        case closing
        /// We sent a close frame and wait for the peer's.
        case closeSent
        case closed
    }

    public let maxMessage: Int
    /// permessage-deflate was negotiated (RSV1 marks compressed messages).
    public let compression: Bool
    public private(set) var state: State = .open
    /// The code the peer closed with (1005 when its close frame had none), once closed.
    public private(set) var peerCloseCode: UInt16? = nil
    /// Why the session failed the connection (a protocol error), if it did.
    public private(set) var failure: (code: UInt16, reason: String)? = nil
    /// A message went to the application, which has not asked for another since.
    public private(set) var applicationBusy = false
    var fragmentBinary: Bool? = nil
    var fragmentCompressed = false
    var message: [UInt8] = []
    var utf8 = UTF8Validator()
    /// The frame whose payload is arriving, and how much of that payload has arrived.
    var frame: WebSocketFrame? = nil
    var frameReceived = 0
    /// The payload of the control frame that is arriving (at most 125 bytes).
    var control: [UInt8] = []
    /// The payload of the close frame owed to the peer (`closing`).
    var owedClose: [UInt8] = []

    public init(maxMessage: Int, compression: Bool = false) {
        self.maxMessage = maxMessage
        self.compression = compression
    }

    /// Frames are still read: open, or waiting for the peer's close.
    public var isReading: Bool { state == .open || state == .closeSent }

    /// Payload bytes of the frame that is arriving still to come (0 between frames, and once
    /// nothing more is read).
    public var framePayloadRemaining: Int {
        guard isReading, let frame else { return 0 }
        return frame.payloadLength - frameReceived
    }

    /// The client's bytes, unmasked in place. Returns how many it used and what to do. It stops
    /// after a frame that gave actions, so that the connection carries them out before the next
    /// frame (a compressed message is decompressed and checked in between); without actions, it
    /// used every byte it could and needs more. Once it no longer reads, every byte counts as
    /// used (what follows a close or a protocol error is dropped).
    public mutating func receive(_ bytes: UnsafeMutableRawBufferPointer) -> (used: Int, actions: [Action]) {
        var used = 0
        while isReading {
            let current: WebSocketFrame
            if let frame {
                current = frame
            } else {
                switch WebSocketFrame.parse(
                    UnsafeRawBufferPointer(rebasing: bytes[used...]), allowRSV1: compression, maxPayload: maxMessage)
                {
                case .incomplete:
                    return (used, [])
                case .invalid(let code, let reason):
                    return (bytes.count, fail(code, reason))
                case .frame(let header):
                    used += header.headerLength
                    let refused = begin(header)
                    if !refused.isEmpty || !isReading { return (bytes.count, refused) }
                    current = header
                }
            }
            let n = min(current.payloadLength - frameReceived, bytes.count - used)
            let piece = UnsafeMutableRawBufferPointer(rebasing: bytes[used..<(used + n)])
            WebSocketFrame.unmask(piece, key: current.maskKey, position: frameReceived)
            used += n
            frameReceived += n
            let refused = take(current, UnsafeRawBufferPointer(piece))
            if !refused.isEmpty || !isReading { return (bytes.count, refused) }
            guard frameReceived == current.payloadLength else { return (used, []) }
            frame = nil
            let actions = end(current)
            if !actions.isEmpty || !isReading { return (isReading ? used : bytes.count, actions) }
        }
        return (bytes.count, [])
    }

    /// A frame's header arrived: what it may not do here is refused before its payload.
    mutating func begin(_ header: WebSocketFrame) -> [Action] {
        frame = header
        frameReceived = 0
        if header.opcode.isControl {
            control.removeAll(keepingCapacity: true)
            return []
        }
        // After our close, data frames are dropped unread.
        guard state == .open else { return [] }
        if header.opcode == .continuation {
            guard fragmentBinary != nil else { return fail(1002, "continuation frame without a message") }
            if header.rsv1 { return fail(1002, "RSV1 set on a continuation frame") }
        } else {
            guard fragmentBinary == nil else { return fail(1002, "a new message began before the last one ended") }
            fragmentBinary = header.opcode == .binary
            fragmentCompressed = header.rsv1
            message.removeAll(keepingCapacity: true)
            utf8 = UTF8Validator()
        }
        guard message.count + header.payloadLength <= maxMessage else {
            return fail(1009, "message over \(maxMessage) bytes")
        }
        // Room for a message in one frame (not for all that a header may claim).
        if header.opcode != .continuation { message.reserveCapacity(min(header.payloadLength, 1 << 20)) }
        return []
    }

    /// A piece of the current frame's payload (unmasked): text is checked as it arrives.
    mutating func take(_ header: WebSocketFrame, _ piece: UnsafeRawBufferPointer) -> [Action] {
        if header.opcode.isControl {
            control.append(contentsOf: piece)
            return []
        }
        guard state == .open else { return [] }
        if fragmentBinary == false && !fragmentCompressed {
            guard utf8.feed(piece) else { return fail(1007, "invalid UTF-8 in a text message") }
        }
        message.append(contentsOf: piece)
        return []
    }

    /// The current frame's payload is complete.
    mutating func end(_ header: WebSocketFrame) -> [Action] {
        if state == .closeSent {
            // Data after our close is dropped; the peer's close ends the handshake.
            guard header.opcode == .close else { return [] }
            state = .closed
            peerCloseCode = control.withUnsafeBytes { Self.code(of: $0) }
            return [.closeConnection]
        }
        switch header.opcode {
        case .ping:
            return [.send(.pong, control)]
        case .pong:
            return [.pongReceived]
        case .close:
            return control.withUnsafeBytes { receiveClose($0) }
        case .text, .binary, .continuation:
            break
        }
        guard header.fin else { return [] }
        let binary = fragmentBinary!
        if !binary && !fragmentCompressed && !utf8.isComplete {
            return fail(1007, "a text message ends inside a UTF-8 sequence")
        }
        fragmentBinary = nil
        let done = message
        message = []
        if fragmentCompressed { return [.compressedMessage(binary: binary, payload: done)] }
        applicationBusy = true
        return [.message(binary: binary, payload: done)]
    }

    mutating func receiveClose(_ payload: UnsafeRawBufferPointer) -> [Action] {
        if payload.count == 1 { return fail(1002, "close frame with a 1-byte payload") }
        if payload.count >= 2 {
            let code = UInt16(payload[0]) << 8 | UInt16(payload[1])
            guard WebSocketFrame.isValidCloseCode(code) else { return fail(1002, "invalid close code \(code)") }
            guard UTF8Validator.isValid(UnsafeRawBufferPointer(rebasing: payload[2...])) else {
                return fail(1007, "invalid UTF-8 in the close reason")
            }
        }
        peerCloseCode = Self.code(of: payload)
        // Echo the peer's code (RFC 6455 5.5.1).
        return closeAfterApplication(payload.count >= 2 ? [payload[0], payload[1]] : [])
    }

    static func code(of payload: UnsafeRawBufferPointer) -> UInt16 {
        payload.count >= 2 ? UInt16(payload[0]) << 8 | UInt16(payload[1]) : 1005
    }

    /// Checks a decompressed message: its size, and UTF-8 for text. The actions: deliver it, or
    /// fail the connection.
    public mutating func checkDecompressed(binary: Bool, payload: [UInt8]) -> [Action] {
        guard payload.count <= maxMessage else { return fail(1009, "message over \(maxMessage) bytes") }
        if !binary && !payload.withUnsafeBytes({ UTF8Validator.isValid($0) }) {
            return fail(1007, "invalid UTF-8 in a text message")
        }
        applicationBusy = true
        return [.message(binary: binary, payload: payload)]
    }

    /// A protocol error: send a close with `code`, then close the connection (once the
    /// application has finished with its messages: `closing`).
    public mutating func fail(_ code: UInt16, _ reason: String) -> [Action] {
        guard isReading else { return [] }
        failure = (code, reason)
        peerCloseCode = nil
        return closeAfterApplication(WebSocketFrame.closePayload(code: code, reason: reason))
    }

    /// Sends `payload`'s close and closes, or, while the application has not finished with a
    /// message it was given, waits for it (`closing`: no actions yet).
    mutating func closeAfterApplication(_ payload: [UInt8]) -> [Action] {
        owedClose = payload
        if state == .open && applicationBusy {
            state = .closing
            return []
        }
        return sendOwedClose()
    }

    /// The close owed to the peer goes now (`closing`: the application waited long enough).
    public mutating func sendOwedClose() -> [Action] {
        guard state != .closed else { return [] }
        state = .closed
        return [.send(.close, owedClose), .closeConnection]
    }

    /// The application asked for a message and none was waiting: it has finished with every
    /// message it was given. A close that waited for it goes now.
    public mutating func applicationWaiting() -> [Action] {
        applicationBusy = false
        return state == .closing ? sendOwedClose() : []
    }

    /// The application closes: send a close frame and wait for the peer's. While a close is
    /// owed to the peer (`closing`), that one goes instead.
    public mutating func close(code: UInt16, reason: String) -> [Action] {
        if state == .closing { return sendOwedClose() }
        guard state == .open else { return [] }
        state = .closeSent
        return [.send(.close, WebSocketFrame.closePayload(code: code, reason: reason))]
    }
}
