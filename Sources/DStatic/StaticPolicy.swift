/// What a static request gets, beyond the file itself: which precompressed variant (if any)
/// suits the client, and what a directory answers. Pure decisions; the worker looks the files up.
public enum StaticPolicy {
    /// Precompressed siblings a file may have, in the order the server prefers them.
    public static let variants: [(coding: String, suffix: String)] = [("br", ".br"), ("gzip", ".gz")]

    /// The content codings Accept-Encoding values accept (q > 0); `*` accepts every coding the
    /// server has variants in.
    public static func acceptedEncodings(_ values: [String]) -> Set<String> {
        var result = Set<String>()
        for value in values {
            for item in value.split(separator: ",") {
                let parts = item.split(separator: ";").map { $0.filter { $0 != " " && $0 != "\t" }.lowercased() }
                guard let name = parts.first, !name.isEmpty else { continue }
                let q = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
                if q > 0 { result.insert(name) }
            }
        }
        if result.contains("*") { result.formUnion(variants.map(\.coding)) }
        return result
    }

    /// The coding to send: the first preferred one that has a variant and is accepted; nil for
    /// the file itself.
    public static func encoding(available: [String], accepted: Set<String>) -> String? {
        variants.map(\.coding).first { available.contains($0) && accepted.contains($0) }
    }

    public enum Directory: Equatable, Sendable {
        /// No index file is configured: directories are never listed.
        case forbidden
        /// The path lacks its final slash: the index page's relative links need it.
        case redirect(location: String)
        /// Serve this file (relative to the map's directory).
        case index(relative: String)
    }

    /// What a request for a directory gets. `path` is the request's path as sent, `query` its
    /// query (with its "?"), `relative` the directory under the map.
    public static func directory(path: [UInt8], query: [UInt8], relative: String, index: String?) -> Directory {
        guard let index else { return .forbidden }
        guard path.last == UInt8(ascii: "/") else {
            return .redirect(location: String(decoding: path + [UInt8(ascii: "/")] + query, as: UTF8.self))
        }
        return .index(relative: relative.isEmpty ? index : relative + "/" + index)
    }
}
