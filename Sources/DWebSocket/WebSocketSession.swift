/// The protocol state of one WebSocket connection after the handshake (RFC 6455): message
/// reassembly, UTF-8 checks, control frames and the close handshake. Pure: fed parsed frames,
/// it returns what the connection must do.
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
    var fragmentBinary: Bool? = nil
    var fragmentCompressed = false
    var message: [UInt8] = []
    var utf8 = UTF8Validator()

    public init(maxMessage: Int, compression: Bool = false) {
        self.maxMessage = maxMessage
        self.compression = compression
    }

    /// A frame from the peer, with its payload unmasked.
    public mutating func receive(_ frame: WebSocketFrame, payload: UnsafeRawBufferPointer) -> [Action] {
        switch state {
        case .closed:
            return []
        case .closeSent:
            // Data after our close is dropped; the peer's close ends the handshake.
            guard frame.opcode == .close else { return [] }
            state = .closed
            peerCloseCode = Self.code(of: payload)
            return [.closeConnection]
        case .open:
            break
        }
        switch frame.opcode {
        case .ping:
            return [.send(.pong, Array(payload))]
        case .pong:
            return [.pongReceived]
        case .close:
            return receiveClose(payload)
        case .text, .binary:
            guard fragmentBinary == nil else { return fail(1002, "a new message began before the last one ended") }
            fragmentBinary = frame.opcode == .binary
            fragmentCompressed = frame.rsv1
            message.removeAll(keepingCapacity: true)
            utf8 = UTF8Validator()
            return receiveData(frame, payload)
        case .continuation:
            guard fragmentBinary != nil else { return fail(1002, "continuation frame without a message") }
            if frame.rsv1 { return fail(1002, "RSV1 set on a continuation frame") }
            return receiveData(frame, payload)
        }
    }

    mutating func receiveData(_ frame: WebSocketFrame, _ payload: UnsafeRawBufferPointer) -> [Action] {
        guard message.count + payload.count <= maxMessage else { return fail(1009, "message over \(maxMessage) bytes") }
        let binary = fragmentBinary!
        if !binary && !fragmentCompressed {
            guard utf8.feed(payload) else { return fail(1007, "invalid UTF-8 in a text message") }
            if frame.fin && !utf8.isComplete { return fail(1007, "a text message ends inside a UTF-8 sequence") }
        }
        message.append(contentsOf: payload)
        guard frame.fin else { return [] }
        fragmentBinary = nil
        let done = message
        message = []
        return [
            fragmentCompressed
                ? .compressedMessage(binary: binary, payload: done) : .message(binary: binary, payload: done)
        ]
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
        state = .closed
        let code = Self.code(of: payload)
        peerCloseCode = code
        // Echo the peer's code (RFC 6455 5.5.1).
        let reply: [UInt8] = payload.count >= 2 ? [payload[0], payload[1]] : []
        return [.send(.close, reply), .closeConnection]
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
        return [.message(binary: binary, payload: payload)]
    }

    /// A protocol error: send a close with `code`, then close the connection.
    public mutating func fail(_ code: UInt16, _ reason: String) -> [Action] {
        guard state != .closed else { return [] }
        state = .closed
        peerCloseCode = nil
        failure = (code, reason)
        return [.send(.close, WebSocketFrame.closePayload(code: code, reason: reason)), .closeConnection]
    }

    /// The application closes: send a close frame and wait for the peer's.
    public mutating func close(code: UInt16, reason: String) -> [Action] {
        guard state == .open else { return [] }
        state = .closeSent
        return [.send(.close, WebSocketFrame.closePayload(code: code, reason: reason))]
    }
}
