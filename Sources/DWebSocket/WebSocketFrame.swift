/// RFC 6455 section 5.2: the frame header, parsed from a client (whose frames must be masked)
/// and written for the server (whose frames are not).
public struct WebSocketFrame: Sendable, Equatable {
    public enum Opcode: UInt8, Sendable {
        case continuation = 0x0
        case text = 0x1
        case binary = 0x2
        case close = 0x8
        case ping = 0x9
        case pong = 0xA
        public var isControl: Bool { rawValue & 0x8 != 0 }
    }

    public var fin: Bool
    /// RSV1 (permessage-deflate's "compressed" bit).
    public var rsv1: Bool
    public var opcode: Opcode
    public var maskKey: UInt32
    public var payloadLength: Int
    /// Bytes of the header, before the payload.
    public var headerLength: Int

    public enum Parse: Sendable, Equatable {
        case incomplete
        case frame(WebSocketFrame)
        /// The connection must be closed with this code (1002 protocol error, 1009 too big).
        case invalid(code: UInt16, reason: String)
    }

    /// Parses a client frame header at the start of `bytes`. `allowRSV1`: permessage-deflate
    /// was negotiated. `maxPayload`: the largest payload accepted (the message limit).
    public static func parse(_ bytes: UnsafeRawBufferPointer, allowRSV1: Bool, maxPayload: Int) -> Parse {
        guard bytes.count >= 2 else { return .incomplete }
        let b0 = bytes[0]
        let b1 = bytes[1]
        let fin = b0 & 0x80 != 0
        let rsv1 = b0 & 0x40 != 0
        if b0 & 0x30 != 0 || (rsv1 && !allowRSV1) { return .invalid(code: 1002, reason: "reserved bits set") }
        guard let opcode = Opcode(rawValue: b0 & 0x0F) else {
            return .invalid(code: 1002, reason: "unknown opcode \(b0 & 0x0F)")
        }
        guard b1 & 0x80 != 0 else { return .invalid(code: 1002, reason: "client frames must be masked") }
        var length = Int(b1 & 0x7F)
        var offset = 2
        if opcode.isControl {
            if !fin { return .invalid(code: 1002, reason: "fragmented control frame") }
            if length > 125 { return .invalid(code: 1002, reason: "control frame payload over 125 bytes") }
            if rsv1 { return .invalid(code: 1002, reason: "compressed control frame") }
        }
        if length == 126 {
            guard bytes.count >= 4 else { return .incomplete }
            length = Int(bytes[2]) << 8 | Int(bytes[3])
            if length < 126 { return .invalid(code: 1002, reason: "payload length not minimally encoded") }
            offset = 4
        } else if length == 127 {
            guard bytes.count >= 10 else { return .incomplete }
            if bytes[2] & 0x80 != 0 { return .invalid(code: 1002, reason: "payload length has its top bit set") }
            var v: UInt64 = 0
            for i in 2..<10 { v = v << 8 | UInt64(bytes[i]) }
            if v <= 0xFFFF { return .invalid(code: 1002, reason: "payload length not minimally encoded") }
            if v > UInt64(maxPayload) { return .invalid(code: 1009, reason: "message too big") }
            length = Int(v)
            offset = 10
        }
        if length > maxPayload { return .invalid(code: 1009, reason: "message too big") }
        guard bytes.count >= offset + 4 else { return .incomplete }
        let key =
            UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8
            | UInt32(bytes[offset + 3])
        return .frame(
            WebSocketFrame(
                fin: fin, rsv1: rsv1, opcode: opcode, maskKey: key, payloadLength: length, headerLength: offset + 4))
    }

    /// Unmasks `payload` in place; `position` is the offset of its first byte in the frame's
    /// payload (for a payload that arrives in pieces).
    public static func unmask(_ payload: UnsafeMutableRawBufferPointer, key: UInt32, position: Int = 0) {
        let k: (UInt8, UInt8, UInt8, UInt8) = (
            UInt8(key >> 24), UInt8(truncatingIfNeeded: key >> 16), UInt8(truncatingIfNeeded: key >> 8),
            UInt8(truncatingIfNeeded: key)
        )
        for i in 0..<payload.count {
            let m: UInt8
            switch (position + i) & 3 {
            case 0: m = k.0
            case 1: m = k.1
            case 2: m = k.2
            default: m = k.3
            }
            payload[i] ^= m
        }
    }

    /// Appends a server frame (unmasked, final unless `fin` is false).
    public static func append(
        to out: inout [UInt8], opcode: Opcode, payload: UnsafeRawBufferPointer, fin: Bool = true, rsv1: Bool = false
    ) {
        out.append((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode.rawValue)
        let n = payload.count
        if n < 126 {
            out.append(UInt8(n))
        } else if n <= 0xFFFF {
            out.append(126)
            out.append(UInt8(n >> 8))
            out.append(UInt8(n & 0xFF))
        } else {
            out.append(127)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: n >> shift)) }
        }
        out.append(contentsOf: payload)
    }

    /// A close frame's payload: the code, then the reason (cut to fit 125 bytes).
    public static func closePayload(code: UInt16, reason: String) -> [UInt8] {
        var p: [UInt8] = [UInt8(code >> 8), UInt8(code & 0xFF)]
        var r = Array(reason.utf8.prefix(123))
        // Do not cut a UTF-8 sequence in half.
        while !r.isEmpty && !r.withUnsafeBytes({ UTF8Validator.isValid($0) }) { r.removeLast() }
        p += r
        return p
    }

    /// RFC 6455 7.4: codes a peer may send in a close frame.
    public static func isValidCloseCode(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1011: true
        case 1012...1014: true  // IANA-registered since the RFC
        case 3000...4999: true
        default: false
        }
    }
}
