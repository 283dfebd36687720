internal import DIPC

/// The Redis protocol (RESP2), as much of it as the channels bridge speaks: commands out, and
/// replies and pub/sub pushes in, cut from a stream that arrives in any pieces. Pure.
enum RESP {
    indirect enum Value: Equatable, Sendable {
        case simple(String)
        case error(String)
        case integer(Int)
        /// nil: the null bulk string.
        case bulk([UInt8]?)
        /// nil: the null array.
        case array([Value]?)
    }

    enum ParseError: Error, Equatable {
        /// A byte that starts no RESP value, or a malformed length: the stream is not Redis's.
        case malformed(String)
    }

    /// A command as RESP sends it: an array of bulk strings.
    static func command(_ arguments: [[UInt8]]) -> [UInt8] {
        var out = Array("*\(arguments.count)\r\n".utf8)
        for a in arguments {
            out += Array("$\(a.count)\r\n".utf8)
            out += a
            out += [0x0D, 0x0A]
        }
        return out
    }

    static func command(_ arguments: String...) -> [UInt8] { command(arguments.map { Array($0.utf8) }) }

    /// Cuts replies out of the bytes read.
    struct Reader {
        var input = ReadBuffer()
        var buffer: [UInt8] { _read { yield input.bytes } }
        /// Bulk strings and arrays larger than this are refused (a corrupt stream).
        static let maxLength = 512 << 20

        mutating func append(_ bytes: UnsafeRawBufferPointer) { input.append(bytes) }

        /// The next whole value, or nil until more bytes arrive.
        mutating func next() throws(ParseError) -> Value? {
            var position = input.start
            guard let value = try parse(&position) else { return nil }
            input.start = position
            return value
        }

        /// The line from `position` up to CRLF (nil when it has not all arrived); `position`
        /// moves past it.
        func line(_ position: inout Int) -> ArraySlice<UInt8>? {
            var i = position
            while i + 1 < buffer.count {
                if buffer[i] == 0x0D && buffer[i + 1] == 0x0A {
                    let text = buffer[position..<i]
                    position = i + 2
                    return text
                }
                i += 1
            }
            return nil
        }

        func number(_ text: ArraySlice<UInt8>) throws(ParseError) -> Int {
            guard let n = Int(String(decoding: text, as: UTF8.self)) else {
                throw .malformed("bad number '\(String(decoding: text.prefix(20), as: UTF8.self))'")
            }
            return n
        }

        func parse(_ position: inout Int) throws(ParseError) -> Value? {
            guard position < buffer.count else { return nil }
            let kind = buffer[position]
            var p = position + 1
            guard let text = line(&p) else { return nil }
            let value: Value
            switch kind {
            case UInt8(ascii: "+"): value = .simple(String(decoding: text, as: UTF8.self))
            case UInt8(ascii: "-"): value = .error(String(decoding: text, as: UTF8.self))
            case UInt8(ascii: ":"): value = .integer(try number(text))
            case UInt8(ascii: "$"):
                let n = try number(text)
                if n == -1 {
                    value = .bulk(nil)
                } else {
                    guard n >= 0, n <= Self.maxLength else { throw .malformed("bulk string of \(n) bytes") }
                    guard buffer.count - p >= n + 2 else { return nil }
                    guard buffer[p + n] == 0x0D && buffer[p + n + 1] == 0x0A else {
                        throw .malformed("bulk string without CRLF")
                    }
                    value = .bulk(Array(buffer[p..<(p + n)]))
                    p += n + 2
                }
            case UInt8(ascii: "*"):
                let n = try number(text)
                if n == -1 {
                    value = .array(nil)
                } else {
                    guard n >= 0, n <= Self.maxLength else { throw .malformed("array of \(n) elements") }
                    var elements: [Value] = []
                    elements.reserveCapacity(min(n, 16))
                    for _ in 0..<n {
                        guard let element = try parse(&p) else { return nil }
                        elements.append(element)
                    }
                    value = .array(elements)
                }
            default:
                throw .malformed("unexpected byte \(kind)")
            }
            position = p
            return value
        }
    }
}
