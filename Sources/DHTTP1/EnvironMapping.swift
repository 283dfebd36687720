/// The parts of a PEP 3333 environ that are pure byte work, kept apart from the Python bridge
/// so they are unit-tested: where PATH_INFO and QUERY_STRING are in a request target, how
/// PATH_INFO is percent-decoded, which environ key a header field gets, and CONTENT_LENGTH.
public enum EnvironMapping {
    /// The path and query of a request target. For an absolute-form target
    /// ("http://host:8/p?q") the scheme and authority are skipped; a fragment is dropped.
    public static func split(_ b: UnsafeRawBufferPointer, target: Range<Int>) -> (path: Range<Int>, query: Range<Int>) {
        var pathStart = target.lowerBound
        if let afterAuthority = absoluteFormPathStart(b, target) { pathStart = afterAuthority }
        var pathEnd = pathStart
        while pathEnd < target.upperBound && b[pathEnd] != 63 && b[pathEnd] != 35 { pathEnd += 1 }
        var query = pathEnd..<pathEnd
        if pathEnd < target.upperBound && b[pathEnd] == 63 {
            var q = pathEnd + 1
            while q < target.upperBound && b[q] != 35 { q += 1 }
            query = (pathEnd + 1)..<q
        }
        return (pathStart..<pathEnd, query)
    }

    /// For an absolute-form target, where the path starts (after scheme "://" authority).
    static func absoluteFormPathStart(_ b: UnsafeRawBufferPointer, _ target: Range<Int>) -> Int? {
        guard target.count > 7, b[target.lowerBound] != 47 else { return nil }
        var i = target.lowerBound
        while i < target.upperBound && b[i] != 58 && b[i] != 47 { i += 1 }
        guard i + 2 < target.upperBound, b[i] == 58, b[i + 1] == 47, b[i + 2] == 47 else { return nil }
        i += 3
        while i < target.upperBound && b[i] != 47 && b[i] != 63 { i += 1 }
        return i
    }

    /// PATH_INFO's bytes: %XX decoded (an invalid escape stays as it is); "/" for the empty
    /// path of an absolute-form target ("http://host?q").
    public static func decodePath(
        _ b: UnsafeRawBufferPointer, _ path: Range<Int>, target: Range<Int>, into out: inout [UInt8]
    ) {
        out.removeAll(keepingCapacity: true)
        var i = path.lowerBound
        while i < path.upperBound {
            let c = b[i]
            if c == 37, i + 2 < path.upperBound, let h = hex(b[i + 1]), let l = hex(b[i + 2]) {
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(c)
                i += 1
            }
        }
        if out.isEmpty && path.lowerBound > target.lowerBound { out.append(47) }
    }

    @inline(__always)
    static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: c - 48
        case 65...70: c - 55
        case 97...102: c - 87
        default: nil
        }
    }

    /// Where a header field goes in the environ.
    public enum Key: Equatable, Sendable {
        case contentType
        /// Not copied from the field: CONTENT_LENGTH is `contentLength(of:)`.
        case contentLength
        /// HTTP_ + the name upper-cased with "-" as "_".
        case http
        /// Names with "_" are dropped: "X_Forwarded_For" would alias "X-Forwarded-For" and let
        /// a client spoof a field a proxy sets.
        case dropped
    }

    public static func key(forField name: UnsafeRawBufferPointer) -> Key {
        if name.contains(95) { return .dropped }
        if name.equalsLowercase("content-type") { return .contentType }
        if name.equalsLowercase("content-length") { return .contentLength }
        return .http
    }

    /// "HTTP_" + the upper-cased name with "-" as "_".
    public static func httpKey(_ name: UnsafeRawBufferPointer) -> [UInt8] {
        var key: [UInt8] = Array("HTTP_".utf8)
        key.reserveCapacity(5 + name.count)
        for c in name { key.append(c == 45 ? 95 : (c >= 97 && c <= 122 ? c - 32 : c)) }
        return key
    }

    /// CONTENT_LENGTH: the one decimal length the server framed the body with, whatever form
    /// the client sent it in ("5, 5", a repeated field, "5,", "005"), so that `int()` reads it
    /// and it agrees with the bytes in wsgi.input; nil without one (a chunked request never
    /// has one: the parser refuses Content-Length with Transfer-Encoding).
    public static func contentLength(of head: RequestHead) -> String? {
        head.contentLength.map { String($0) }
    }

    /// The separator for repeated fields: "; " for Cookie (RFC 6265), ", " for the rest.
    public static func joinSeparator(forField name: UnsafeRawBufferPointer) -> StaticString {
        name.equalsLowercase("cookie") ? "; " : ", "
    }
}
