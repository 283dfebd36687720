internal import DHTTP1

/// What to answer for a static file, from its metadata and the request's conditional and
/// range fields (RFC 9110 sections 13 and 14). Pure: the worker supplies the values.
public enum StaticResponse: Equatable, Sendable {
    case full
    case notModified
    /// Bytes `first...last` (206).
    case partial(first: Int, last: Int)
    /// 416, with `Content-Range: bytes */size`.
    case unsatisfiable

    public struct Request: Sendable {
        public var ifNoneMatch: String? = nil
        public var ifModifiedSince: String? = nil
        public var range: String? = nil
        public var ifRange: String? = nil
        public init() {}
    }

    /// A strong validator from the file's size, modification time (ns) and inode.
    public static func etag(size: Int, mtimeNanoseconds: Int, inode: UInt64) -> String {
        "\"\(String(size, radix: 16))-\(String(mtimeNanoseconds, radix: 16))-\(String(inode, radix: 16))\""
    }

    public static func decide(_ r: Request, size: Int, mtime: Int, etag: String) -> StaticResponse {
        if let inm = r.ifNoneMatch {
            // Weak comparison (RFC 9110 13.1.2): W/ prefixes do not matter.
            let tags = inm.split(separator: ",").map { $0.trimmingSpaces }
            if tags.contains(where: { $0 == "*" || stripWeak($0) == etag }) { return .notModified }
        } else if let ims = r.ifModifiedSince, let since = HTTPDate.parse(ims), mtime <= since {
            return .notModified
        }
        guard let range = r.range else { return .full }
        if let ifRange = r.ifRange {
            // Strong comparison for an entity tag; an exact Last-Modified match for a date.
            let matches = ifRange.hasPrefix("\"") ? ifRange == etag : HTTPDate.parse(ifRange) == mtime
            if !matches { return .full }
        }
        return parseRange(range, size: size)
    }

    /// One `bytes=` range; several ranges are answered with the whole file (RFC 9110 allows it),
    /// and a field we do not understand is ignored.
    static func parseRange(_ field: String, size: Int) -> StaticResponse {
        let f = field.trimmingSpaces
        guard f.lowercased().hasPrefix("bytes=") else { return .full }
        let spec = f.dropFirst(6)
        if spec.contains(",") { return .full }
        let parts = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map {
            String($0).trimmingSpaces
        }
        guard parts.count == 2 else { return .full }
        let digits: (String) -> Bool = { !$0.isEmpty && $0.allSatisfy { $0 >= "0" && $0 <= "9" } && $0.count <= 18 }
        if parts[0].isEmpty {
            guard digits(parts[1]), let n = Int(parts[1]) else { return .full }
            if n == 0 || size == 0 { return .unsatisfiable }
            return .partial(first: max(0, size - n), last: size - 1)
        }
        guard digits(parts[0]), let first = Int(parts[0]) else { return .full }
        var last = size - 1
        if !parts[1].isEmpty {
            guard digits(parts[1]), let l = Int(parts[1]), l >= first else { return .full }
            last = min(l, size - 1)
        }
        if first >= size { return .unsatisfiable }
        return .partial(first: first, last: last)
    }

    static func stripWeak(_ tag: String) -> String {
        tag.hasPrefix("W/") ? String(tag.dropFirst(2)) : tag
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
