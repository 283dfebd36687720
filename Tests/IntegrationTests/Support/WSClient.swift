import Foundation
import Testing

/// A raw WebSocket client for the tests: sends any frame (masked or not, any bits), reads the
/// server's frames, so protocol rules can be checked byte by byte.
final class WSClient {
    let raw: RawClient
    let handshake: HTTPResponse

    /// The first header byte of the last frame read (FIN, RSV bits, opcode).
    var lastHeaderByte: UInt8 = 0

    struct Frame: Equatable {
        var fin: Bool
        var opcode: UInt8
        var payload: [UInt8]
        var text: String { String(decoding: payload, as: UTF8.self) }
        /// A close frame's code (1005 when it has none).
        var closeCode: Int { payload.count >= 2 ? Int(payload[0]) << 8 | Int(payload[1]) : 1005 }
    }

    static let key = "dGhlIHNhbXBsZSBub25jZQ=="

    init(port: Int, path: String, headers: String = "", receiveBuffer: Int32? = nil) throws {
        raw = try RawClient(port: port, receiveBuffer: receiveBuffer)
        try raw.send(
            "GET \(path) HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: \(Self.key)\r\nSec-WebSocket-Version: 13\r\n\(headers)\r\n"
        )
        handshake = try raw.readResponse(head: true)
    }

    func send(_ opcode: UInt8, _ payload: [UInt8], fin: Bool = true, rsv: UInt8 = 0, masked: Bool = true) throws {
        try raw.send(Self.frame(opcode, payload, fin: fin, rsv: rsv, masked: masked))
    }

    /// A client frame's bytes (to send several in one write, or a part of one).
    static func frame(
        _ opcode: UInt8, _ payload: [UInt8], fin: Bool = true, rsv: UInt8 = 0, masked: Bool = true
    )
        -> [UInt8]
    {
        var out: [UInt8] = [(fin ? 0x80 : 0) | rsv | opcode]
        let m: UInt8 = masked ? 0x80 : 0
        let n = payload.count
        if n < 126 {
            out.append(m | UInt8(n))
        } else if n <= 0xFFFF {
            out += [m | 126, UInt8(n >> 8), UInt8(n & 0xFF)]
        } else {
            out.append(m | 127)
            for s in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: n >> s)) }
        }
        let key: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        if masked {
            out += key
            for (i, b) in payload.enumerated() { out.append(b ^ key[i & 3]) }
        } else {
            out += payload
        }
        return out
    }

    func sendText(_ text: String) throws { try send(0x1, Array(text.utf8)) }

    /// The next frame, if all of it has arrived already (never waits).
    func bufferedFrame() -> Frame? {
        let b = raw.buffer
        guard b.count >= 2 else { return nil }
        var n = Int(b[1] & 0x7F)
        var offset = 2
        if n == 126 {
            guard b.count >= 4 else { return nil }
            n = Int(b[2]) << 8 | Int(b[3])
            offset = 4
        } else if n == 127 {
            guard b.count >= 10 else { return nil }
            n = 0
            for i in 2..<10 { n = n << 8 | Int(b[i]) }
            offset = 10
        }
        guard b.count >= offset + n else { return nil }
        #expect(b[1] & 0x80 == 0, "server frames must not be masked")
        lastHeaderByte = b[0]
        let frame = Frame(fin: b[0] & 0x80 != 0, opcode: b[0] & 0x0F, payload: Array(b[offset..<(offset + n)]))
        raw.buffer.removeFirst(offset + n)
        return frame
    }

    func read(timeout: TimeInterval = 5) throws -> Frame {
        while true {
            if let frame = bufferedFrame() { return frame }
            if try !raw.fill(timeout: timeout) {
                throw ClientError(description: "connection closed while reading a frame")
            }
        }
    }

    /// Reads `count` frames from several connections at once, in the order they arrive: each
    /// entry is the index of its client and the frame.
    static func readArrivals(_ clients: [WSClient], count: Int, timeout: TimeInterval = 5) throws -> [(Int, Frame)] {
        var arrivals: [(Int, Frame)] = []
        let deadline = Date().addingTimeInterval(timeout)
        while arrivals.count < count {
            var fds = clients.map { pollfd(fd: $0.raw.fd, events: Int16(POLLIN), revents: 0) }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 || poll(&fds, nfds_t(fds.count), Int32(left * 1000)) <= 0 {
                throw ClientError(description: "timed out after \(arrivals.count) of \(count) frames")
            }
            for (i, p) in fds.enumerated() where p.revents != 0 {
                if try !clients[i].raw.fill(timeout: 0) { throw ClientError(description: "connection \(i) closed") }
                while let frame = clients[i].bufferedFrame() { arrivals.append((i, frame)) }
            }
        }
        return arrivals
    }

    /// Reads frames until a close frame; returns it.
    func readClose(timeout: TimeInterval = 5) throws -> Frame {
        while true {
            let f = try read(timeout: timeout)
            if f.opcode == 0x8 { return f }
        }
    }
}

/// Raw DEFLATE for the tests, through Python's zlib (the tests' reference, not the server's).
enum Deflate {
    /// Runs `code` with `input` on stdin; its stdout. A script that fails (a zlib error) throws.
    static func python(_ code: String, _ input: [UInt8]) throws -> [UInt8] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [ProcessInfo.processInfo.environment["PYTHON"] ?? "python3", "-c", "import sys, zlib\n" + code]
        let stdin = Pipe()
        let stdout = Pipe()
        p.standardInput = stdin
        p.standardOutput = stdout
        try p.run()
        stdin.fileHandleForWriting.write(Data(input))
        try stdin.fileHandleForWriting.close()
        let data = stdout.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        if p.terminationStatus != 0 { throw ClientError(description: "python failed (status \(p.terminationStatus))") }
        return [UInt8](data)
    }

    /// Compressed as RFC 7692 sends it (sync flush, without the final 00 00 FF FF).
    static func raw(_ bytes: [UInt8]) throws -> [UInt8] {
        try python(
            "c = zlib.compressobj(6, zlib.DEFLATED, -15)\nd = c.compress(sys.stdin.buffer.read()) + c.flush(zlib.Z_SYNC_FLUSH)\nsys.stdout.buffer.write(d[:-4])",
            bytes)
    }

    /// Inflates one message with a fresh context and a window of 2^`windowBits` bytes: a
    /// message that refers back further (a larger window, or an earlier message) fails. The
    /// output is taken 64 bytes at a time, so zlib can look back only through its window (in one
    /// call it would copy from its own output buffer, whatever the window).
    static func inflate(_ bytes: [UInt8], windowBits: Int = 15) throws -> [UInt8] {
        try python(
            """
            d = zlib.decompressobj(-\(windowBits))
            data, out = sys.stdin.buffer.read() + bytes([0, 0, 255, 255]), []
            while data:
                out.append(d.decompress(data, 64))
                data = d.unconsumed_tail
            sys.stdout.buffer.write(b''.join(out))
            """, bytes)
    }
}

extension Deflate {
    /// Messages as 4-byte big-endian lengths and bytes, the way the scripts below read and write them.
    static func framed(_ messages: [[UInt8]]) -> [UInt8] {
        messages.flatMap { m in [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: m.count >> $0) } + m }
    }

    static func unframed(_ bytes: [UInt8]) -> [[UInt8]] {
        var messages: [[UInt8]] = []
        var i = 0
        while i + 4 <= bytes.count {
            let n = bytes[i..<(i + 4)].reduce(0) { $0 << 8 | Int($1) }
            messages.append(Array(bytes[(i + 4)..<(i + 4 + n)]))
            i += 4 + n
        }
        return messages
    }

    static let framing = """
        import struct
        def read():
            b, out, i = sys.stdin.buffer.read(), [], 0
            while i < len(b):
                n = struct.unpack('>I', b[i:i + 4])[0]
                out.append(b[i + 4:i + 4 + n])
                i += 4 + n
            return out
        def write(ms): sys.stdout.buffer.write(b''.join(struct.pack('>I', len(m)) + m for m in ms))

        """

    /// Compressed as one sender with context takeover sends them: each may refer back to the
    /// earlier ones.
    static func rawMessages(_ messages: [[UInt8]], windowBits: Int = 15) throws -> [[UInt8]] {
        unframed(
            try python(
                framing + """
                    c = zlib.compressobj(6, zlib.DEFLATED, -\(windowBits))
                    write([(c.compress(m) + c.flush(zlib.Z_SYNC_FLUSH))[:-4] for m in read()])
                    """, framed(messages)))
    }

    /// Inflated as one receiver with context takeover reads them, with a window of
    /// 2^`windowBits` bytes (taken 64 bytes at a time, as `inflate` does).
    static func inflateMessages(_ messages: [[UInt8]], windowBits: Int) throws -> [[UInt8]] {
        unframed(
            try python(
                framing + """
                    d, result = zlib.decompressobj(-\(windowBits)), []
                    for m in read():
                        data, out = m + bytes([0, 0, 255, 255]), []
                        while data:
                            out.append(d.decompress(data, 64))
                            data = d.unconsumed_tail
                        result.append(b''.join(out))
                    write(result)
                    """, framed(messages)))
    }
}
