/// RFC 7692 negotiation: picks the first permessage-deflate offer the server can honour. The
/// server always answers with no context takeover on both sides, so that every message is
/// compressed and decompressed on its own and a connection keeps no zlib state between
/// messages (a worker shares its zlib streams among all its connections).
public struct PerMessageDeflate: Sendable, Equatable {
    /// The window the server's compressor may use (the client's server_max_window_bits).
    public var serverWindowBits: Int
    /// The Sec-WebSocket-Extensions value of the 101 answer.
    public var response: String

    /// `offers`: the comma-separated elements of the client's Sec-WebSocket-Extensions.
    public static func negotiate(_ offers: [String]) -> PerMessageDeflate? {
        offerLoop: for offer in offers {
            let parts = offer.split(separator: ";").map { String($0).trimmed }
            guard parts.first?.lowercased() == "permessage-deflate" else { continue }
            var seen = Set<String>()
            var serverBits = 15
            var requestedServerBits = false
            for param in parts.dropFirst() {
                let kv = param.split(separator: "=", maxSplits: 1).map { String($0).trimmed }
                let key = kv[0].lowercased()
                var value = kv.count > 1 ? kv[1] : nil
                if let v = value, v.count >= 2, v.hasPrefix("\""), v.hasSuffix("\"") {
                    value = String(v.dropFirst().dropLast())
                }
                guard seen.insert(key).inserted else { continue offerLoop }
                switch key {
                case "server_no_context_takeover", "client_no_context_takeover":
                    guard value == nil else { continue offerLoop }
                case "server_max_window_bits":
                    // zlib's raw deflate cannot use a 256-byte window: decline 8.
                    guard let v = value, let bits = Int(v), (9...15).contains(bits), v.first != "0" else {
                        continue offerLoop
                    }
                    serverBits = bits
                    requestedServerBits = true
                case "client_max_window_bits":
                    if let v = value {
                        guard let bits = Int(v), (8...15).contains(bits), v.first != "0" else { continue offerLoop }
                    }
                default:
                    continue offerLoop
                }
            }
            var response = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
            if requestedServerBits { response += "; server_max_window_bits=\(serverBits)" }
            return PerMessageDeflate(serverWindowBits: serverBits, response: response)
        }
        return nil
    }
}
