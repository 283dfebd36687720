/// Character classes of RFC 9110 used by the parsers, as lookup tables.
enum ByteClass {
    /// tchar: "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
    static let token: [Bool] = {
        var t = [Bool](repeating: false, count: 256)
        for c in UInt8(ascii: "0")...UInt8(ascii: "9") { t[Int(c)] = true }
        for c in UInt8(ascii: "a")...UInt8(ascii: "z") { t[Int(c)] = true }
        for c in UInt8(ascii: "A")...UInt8(ascii: "Z") { t[Int(c)] = true }
        for c in "!#$%&'*+-.^_`|~".utf8 { t[Int(c)] = true }
        return t
    }()

    /// Bytes allowed in a field value: HTAB, SP, VCHAR, obs-text. No other control character.
    static let fieldValue: [Bool] = {
        var t = [Bool](repeating: false, count: 256)
        t[9] = true
        for c in 0x20...0x7E { t[c] = true }
        for c in 0x80...0xFF { t[c] = true }
        return t
    }()

    /// Bytes allowed in a request target: visible ASCII and obs-text; no SP, no control.
    static let target: [Bool] = {
        var t = [Bool](repeating: false, count: 256)
        for c in 0x21...0x7E { t[c] = true }
        for c in 0x80...0xFF { t[c] = true }
        return t
    }()

    /// Bytes allowed in a Host value (reg-name, IP literal, port).
    static let host: [Bool] = {
        var t = [Bool](repeating: false, count: 256)
        for c in UInt8(ascii: "0")...UInt8(ascii: "9") { t[Int(c)] = true }
        for c in UInt8(ascii: "a")...UInt8(ascii: "z") { t[Int(c)] = true }
        for c in UInt8(ascii: "A")...UInt8(ascii: "Z") { t[Int(c)] = true }
        for c in "-._~!$&'()*+,;=:[]%".utf8 { t[Int(c)] = true }
        return t
    }()

    @inline(__always)
    static func lower(_ c: UInt8) -> UInt8 { (c >= 65 && c <= 90) ? c | 0x20 : c }
}

extension UnsafeRawBufferPointer {
    /// Case-insensitive comparison of the whole buffer with a lower-case ASCII literal.
    @inline(__always)
    public func equalsLowercase(_ literal: StaticString) -> Bool {
        equalsLowercase(0..<count, literal)
    }

    /// Case-insensitive comparison of `range` with a lower-case ASCII literal.
    @inline(__always)
    func equalsLowercase(_ range: Range<Int>, _ literal: StaticString) -> Bool {
        guard range.count == literal.utf8CodeUnitCount else { return false }
        let lit = literal.utf8Start
        var i = 0
        for j in range {
            if ByteClass.lower(self[j]) != lit[i] { return false }
            i += 1
        }
        return true
    }
}
