/// Maps a request path under a static prefix to a relative file path, refusing everything that
/// could leave the directory or reach what is not meant to be served.
public enum StaticPath {
    public enum Refusal: Error, Equatable, Sendable {
        /// 400: a NUL byte or broken percent-encoding.
        case badRequest
        /// 403: a `..` segment.
        case forbidden
        /// 404: an encoded slash, a backslash, or a dotfile (when not allowed).
        case notFound
    }

    /// `path`: the request's path (before its query), still percent-encoded, starting with
    /// `prefix`. Returns the decoded segments below the prefix.
    public static func segments(_ path: [UInt8], prefix: [UInt8], allowDotfiles: Bool) -> Result<[String], Refusal> {
        var rest = Array(path[prefix.count...])
        var segments: [String] = []
        if rest.first == UInt8(ascii: "/") { rest.removeFirst() }
        for raw in rest.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            var decoded: [UInt8] = []
            var i = raw.startIndex
            while i < raw.endIndex {
                let b = raw[i]
                if b == UInt8(ascii: "%") {
                    guard raw.endIndex - i >= 3, let h = hex(raw[i + 1]), let l = hex(raw[i + 2]) else {
                        return .failure(.badRequest)
                    }
                    let v = h << 4 | l
                    if v == UInt8(ascii: "/") { return .failure(.notFound) }
                    decoded.append(v)
                    i += 3
                } else {
                    decoded.append(b)
                    i += 1
                }
            }
            if decoded.contains(0) { return .failure(.badRequest) }
            if decoded.contains(UInt8(ascii: "\\")) { return .failure(.notFound) }
            if decoded.isEmpty || decoded == [UInt8(ascii: ".")] { continue }
            if decoded == [UInt8(ascii: "."), UInt8(ascii: ".")] { return .failure(.forbidden) }
            if decoded.first == UInt8(ascii: ".") && !allowDotfiles { return .failure(.notFound) }
            segments.append(String(decoding: decoded, as: UTF8.self))
        }
        return .success(segments)
    }

    static func hex(_ b: UInt8) -> UInt8? {
        switch b {
        case 48...57: b - 48
        case 65...70: b - 55
        case 97...102: b - 87
        default: nil
        }
    }
}
