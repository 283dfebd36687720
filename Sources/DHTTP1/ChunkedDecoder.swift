/// Decodes a chunked request body (RFC 9112 §7.1) incrementally, strictly: hex sizes without
/// overflow, chunk extensions without control characters, CRLF after every chunk's data, and
/// trailer fields that are consumed and dropped.
public struct ChunkedDecoder: Sendable {
    public enum Step: Equatable {
        /// `input[start ..< start + count]` is body data; everything up to its end is consumed.
        case data(start: Int, count: Int)
        /// Every byte of the input was consumed; more is needed.
        case needMore
        /// The body ended; `consumed` bytes of the input belonged to it.
        case done(consumed: Int)
        case invalid(HTTPError)
    }

    enum ExtensionState: Sendable, Equatable {
        case beforeSemicolon, beforeName, name, afterName, beforeValue, token, quoted, quotedEscape
    }

    enum State: Sendable, Equatable {
        case size(digits: Int, value: Int)
        /// chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )
        case ext(ExtensionState)
        case sizeLF(last: Bool)
        case data(remaining: Int)
        case dataCR
        case dataLF
        case trailerLineStart
        case trailerName
        case trailerLine
        case trailerLF(empty: Bool)
        case finished
    }

    var state: State = .size(digits: 0, value: 0)
    var metadataBytes = 0
    /// The longest chunk-size line or trailer line accepted.
    public var maxLine = 4096

    public init() {}

    public var isFinished: Bool { state == .finished }

    /// Decodes from `input`; call again with the rest after a `.data` step.
    /// At most `maxData` body bytes are returned by one step.
    public mutating func step(_ input: UnsafeRawBufferPointer, maxData: Int = .max) -> Step {
        var i = 0
        let n = input.count
        while i < n {
            let c = input[i]
            switch state {
            case .size(let digits, let value):
                if let h = Self.hexValue(c) {
                    if digits >= 15 { return .invalid(.bad("chunk size too large")) }
                    state = .size(digits: digits + 1, value: value << 4 | h)
                } else if digits == 0 {
                    return .invalid(.bad("invalid chunk size"))
                } else if c == 13 {
                    state = .sizeLF(last: value == 0)
                    if value != 0 { pendingSize = value }
                } else if c == 59 || c == 32 || c == 9 {
                    pendingSize = value
                    state = .ext(c == 59 ? .beforeName : .beforeSemicolon)
                } else {
                    return .invalid(.bad("invalid chunk size"))
                }
                metadataBytes += 1
            case .ext(let e):
                guard let next = Self.extensionStep(e, c) else { return .invalid(.bad("invalid chunk extension")) }
                if let next {
                    state = .ext(next)
                } else {
                    state = .sizeLF(last: pendingSize == 0)
                }
                metadataBytes += 1
            case .sizeLF(let last):
                if c != 10 { return .invalid(.bad("bare CR in chunk size line")) }
                metadataBytes = 0
                state = last ? .trailerLineStart : .data(remaining: pendingSize)
            case .data(let remaining):
                let count = min(remaining, n - i, maxData)
                state = count == remaining ? .dataCR : .data(remaining: remaining - count)
                return .data(start: i, count: count)
            case .dataCR:
                if c != 13 { return .invalid(.bad("missing CRLF after chunk data")) }
                state = .dataLF
            case .dataLF:
                if c != 10 { return .invalid(.bad("missing CRLF after chunk data")) }
                state = .size(digits: 0, value: 0)
                pendingSize = 0
            case .trailerLineStart:
                if c == 13 {
                    state = .trailerLF(empty: true)
                } else if ByteClass.token[Int(c)] {
                    state = .trailerName
                    trailerName = UInt64(ByteClass.lower(c))
                    trailerNameLength = 1
                } else {
                    return .invalid(.bad("invalid trailer field"))
                }
                metadataBytes = 1
            case .trailerName:
                if c == 58 {
                    if Self.forbiddenTrailers.contains(where: { $0 == (trailerName, trailerNameLength) }) {
                        return .invalid(.bad("framing field in chunked trailers"))
                    }
                    state = .trailerLine
                } else if ByteClass.token[Int(c)] {
                    // A rolling hash of the lower-cased name, compared against a few names.
                    trailerName = trailerName &* 31 &+ UInt64(ByteClass.lower(c))
                    trailerNameLength += 1
                } else {
                    return .invalid(.bad("invalid trailer field name"))
                }
                metadataBytes += 1
            case .trailerLine:
                if c == 13 {
                    state = .trailerLF(empty: false)
                } else if !ByteClass.fieldValue[Int(c)] {
                    return .invalid(.bad("invalid trailer field"))
                }
                metadataBytes += 1
            case .trailerLF(let empty):
                if c != 10 { return .invalid(.bad("bare CR in trailer")) }
                if empty {
                    state = .finished
                    return .done(consumed: i + 1)
                }
                state = .trailerLineStart
            case .finished:
                return .done(consumed: i)
            }
            if metadataBytes > maxLine { return .invalid(.bad("chunk metadata line too long")) }
            i += 1
        }
        return .needMore
    }

    var pendingSize = 0
    var trailerName: UInt64 = 0
    var trailerNameLength = 0

    /// Fields that must not appear in trailers (RFC 9110 §6.5.1): message framing and routing.
    static let forbiddenTrailers: [(UInt64, Int)] = [
        "content-length", "transfer-encoding", "host",
        "connection", "trailer", "expect", "upgrade",
    ].map { name in
        var h: UInt64 = 0
        for c in name.utf8 { h = h &* 31 &+ UInt64(c) }
        return (h, name.utf8.count)
    }

    /// The next extension state after byte `c`; `.some(nil)` at the CR ending the line; nil
    /// for a byte the grammar does not allow there.
    static func extensionStep(_ s: ExtensionState, _ c: UInt8) -> ExtensionState?? {
        let ws = c == 32 || c == 9
        let tchar = ByteClass.token[Int(c)]
        switch s {
        case .beforeSemicolon:
            // BWS is allowed only before another ";" (RFC 9112 §7.1.1), not before CRLF.
            if ws { return .some(.beforeSemicolon) }
            if c == 59 { return .some(.beforeName) }
        case .beforeName:
            if ws { return .some(.beforeName) }
            if tchar { return .some(.name) }
        case .name:
            if tchar { return .some(.name) }
            if ws { return .some(.afterName) }
            if c == 61 { return .some(.beforeValue) }
            if c == 59 { return .some(.beforeName) }
            if c == 13 { return .some(nil) }
        case .afterName:
            if ws { return .some(.afterName) }
            if c == 61 { return .some(.beforeValue) }
            if c == 59 { return .some(.beforeName) }
            if c == 13 { return .some(nil) }
        case .beforeValue:
            if ws { return .some(.beforeValue) }
            if c == 34 { return .some(.quoted) }
            if tchar { return .some(.token) }
        case .token:
            if tchar { return .some(.token) }
            if ws { return .some(.beforeSemicolon) }  // then only ";"
            if c == 59 { return .some(.beforeName) }
            if c == 13 { return .some(nil) }
        case .quoted:
            if c == 34 { return .some(.afterName) }
            if c == 92 { return .some(.quotedEscape) }
            if c == 9 || (c >= 32 && c != 127) { return .some(.quoted) }
        case .quotedEscape:
            if c == 9 || (c >= 32 && c != 127) { return .some(.quoted) }
        }
        return nil
    }

    @inline(__always)
    static func hexValue(_ c: UInt8) -> Int? {
        switch c {
        case 48...57: Int(c - 48)
        case 65...70: Int(c - 55)
        case 97...102: Int(c - 87)
        default: nil
        }
    }
}
