/// RFC 7692 negotiation: picks the first permessage-deflate offer the server can honour, and
/// how much compression context each side keeps between messages within a memory bound per
/// connection (`--websocket-deflate-memory`).
///
/// A side keeps its context (context takeover) unless the client asked otherwise
/// (`server_no_context_takeover`, or its promise `client_no_context_takeover`) or the bound
/// cannot hold it: the server's compressor and the decompressor of the client's messages are
/// then the connection's own zlib streams, living as long as it does. When the bound cannot
/// hold the offer's windows, the windows are made smaller (the server's own; the client's when
/// it offered `client_max_window_bits`), then one side and then both are told not to keep
/// context: those messages go through the worker's shared streams, reset for each message, and
/// cost the connection nothing.
public struct PerMessageDeflate: Sendable, Equatable {
    /// The window the server's compressor uses (2^bits bytes).
    public var serverWindowBits: Int
    /// The server keeps its compression context between messages (a compressor of the
    /// connection's own, with `serverMemLevel`); otherwise each message is compressed alone.
    public var serverTakeover: Bool
    /// zlib's memLevel for the connection's compressor (its hash table and block buffer).
    public var serverMemLevel: Int
    /// The window the decompressor of the client's messages has (2^bits bytes).
    public var clientWindowBits: Int
    /// The client may refer back to its earlier messages (a decompressor of the connection's own).
    public var clientTakeover: Bool
    /// The Sec-WebSocket-Extensions value of the 101 answer.
    public var response: String

    /// Messages shorter than this are sent uncompressed. Alone, a message under 64 bytes rarely
    /// shrinks (deflate finds repeats only inside it); with the context of earlier messages a
    /// short one can (a repeated 11-byte text takes 4), and one under 8 bytes wins 5 at most
    /// where deflate can add 3.
    public var compressMinimum: Int { serverTakeover ? 8 : 64 }

    /// Bytes of zlib state the connection keeps between messages.
    public var memory: Int {
        (serverTakeover ? Self.compressorMemory(windowBits: serverWindowBits, memLevel: serverMemLevel) : 0)
            + (clientTakeover ? Self.decompressorMemory(windowBits: clientWindowBits) : 0)
    }

    /// What zlib allocates for a raw deflate stream: the window (two bytes a position, doubled),
    /// the hash chains, the hash heads and the block buffer, and its state (5,952 bytes in zlib
    /// 1.2.13); plus the stream's own objects. Counted with a counting allocator in the tests.
    public static func compressorMemory(windowBits: Int, memLevel: Int) -> Int {
        (1 << (windowBits + 2)) + (1 << (memLevel + 9)) + 5952 + streamOverhead
    }

    /// What zlib allocates for a raw inflate stream once it has inflated: its window and its
    /// state (7,160 bytes); plus the stream's own objects.
    public static func decompressorMemory(windowBits: Int) -> Int { (1 << windowBits) + 7160 + streamOverhead }

    /// A stream's z_stream, the Swift object around it and the allocator's block headers.
    static let streamOverhead = 512

    /// `offers`: the comma-separated elements of the client's Sec-WebSocket-Extensions.
    /// `memory`: the bytes of zlib state a connection may keep between messages.
    public static func negotiate(_ offers: [String], memory: Int) -> PerMessageDeflate? {
        for element in offers {
            if let offer = Offer(element) { return decide(offer, memory: memory) }
        }
        return nil
    }

    /// One permessage-deflate offer's parameters (RFC 7692 7.1).
    struct Offer: Equatable {
        var serverNoContextTakeover = false
        var clientNoContextTakeover = false
        /// server_max_window_bits=N: the server's compressor may use at most 2^N bytes.
        var serverMaxWindowBits: Int? = nil
        /// client_max_window_bits, with or without a value: the server may limit the client's
        /// window in its answer.
        var clientMaxWindowBitsOffered = false
        /// Its value: the client's window is at most this (15 without a value).
        var clientMaxWindowBits = 15

        /// Nil for another extension, and for an offer the server declines: an unknown or
        /// repeated parameter, a value that is not allowed, or a server window of 8 bits (zlib's
        /// raw deflate cannot compress with a 256-byte window, and the answer may not be larger
        /// than the offer).
        init?(_ element: String) {
            let parts = element.split(separator: ";").map { String($0).trimmed }
            guard parts.first?.lowercased() == "permessage-deflate" else { return nil }
            var seen = Set<String>()
            for param in parts.dropFirst() {
                let kv = param.split(separator: "=", maxSplits: 1).map { String($0).trimmed }
                let key = kv[0].lowercased()
                var value = kv.count > 1 ? kv[1] : nil
                if let v = value, v.count >= 2, v.hasPrefix("\""), v.hasSuffix("\"") {
                    value = String(v.dropFirst().dropLast())
                }
                guard seen.insert(key).inserted else { return nil }
                switch key {
                case "server_no_context_takeover", "client_no_context_takeover":
                    guard value == nil else { return nil }
                    if key == "server_no_context_takeover" {
                        serverNoContextTakeover = true
                    } else {
                        clientNoContextTakeover = true
                    }
                case "server_max_window_bits":
                    guard let bits = Self.windowBits(value), bits >= 9 else { return nil }
                    serverMaxWindowBits = bits
                case "client_max_window_bits":
                    clientMaxWindowBitsOffered = true
                    if let value {
                        guard let bits = Self.windowBits(value) else { return nil }
                        clientMaxWindowBits = bits
                    }
                default:
                    return nil
                }
            }
        }

        /// 8 to 15, in decimal without leading zeros (RFC 7692 7.1.2).
        static func windowBits(_ value: String?) -> Int? {
            guard let value, value.first != "0", let bits = Int(value), (8...15).contains(bits) else { return nil }
            return bits
        }
    }

    /// The first of these that fits in `memory` and that the offer allows: both sides keep
    /// context, with windows from 15 bits down to 9 (memLevel 7 under the server's window
    /// bits, as zlib's default pairs 15 with 8); then the server's side alone (the server's
    /// compressor is the costly one, and what a server sends is usually the bulk of it); then the
    /// client's alone; then neither.
    static func decide(_ offer: Offer, memory: Int) -> PerMessageDeflate {
        let serverMax = offer.serverMaxWindowBits ?? 15
        // The windows the server may give the client's messages: when the client offered
        // client_max_window_bits, any from its own down to 9 (zlib clients cannot compress with 8,
        // and one that offered 8 gets a decompressor of 9, which also reads what zlib before
        // 1.2.9 made of a request for 8); otherwise its own.
        let clientMax = max(offer.clientMaxWindowBits, 9)
        let clientChoices = offer.clientMaxWindowBitsOffered ? Array((9...clientMax).reversed()) : [clientMax]
        let canServer = !offer.serverNoContextTakeover
        let canClient = !offer.clientNoContextTakeover
        var candidates: [(server: Int?, client: Int?)] = []
        if canServer && canClient {
            for bits in (9...15).reversed() {
                candidates.append((min(bits, serverMax), clientChoices.first { $0 <= bits } ?? clientChoices.last!))
            }
        }
        if canServer { candidates += (9...serverMax).reversed().map { ($0, nil) } }
        if canClient { candidates += clientChoices.map { (nil, $0) } }
        func cost(_ c: (server: Int?, client: Int?)) -> Int {
            (c.server.map { compressorMemory(windowBits: $0, memLevel: $0 - 7) } ?? 0)
                + (c.client.map { decompressorMemory(windowBits: $0) } ?? 0)
        }
        let pick = candidates.first { cost($0) <= memory } ?? (nil, nil)

        let serverBits = pick.server ?? serverMax
        var response = "permessage-deflate"
        if pick.server == nil { response += "; server_no_context_takeover" }
        if pick.client == nil { response += "; client_no_context_takeover" }
        // Required when offered (the same or smaller); otherwise it tells the client that a
        // smaller window does to decompress.
        if offer.serverMaxWindowBits != nil || serverBits < 15 { response += "; server_max_window_bits=\(serverBits)" }
        if let clientBits = pick.client, offer.clientMaxWindowBitsOffered, clientBits < offer.clientMaxWindowBits {
            response += "; client_max_window_bits=\(clientBits)"
        }
        return PerMessageDeflate(
            serverWindowBits: serverBits, serverTakeover: pick.server != nil,
            serverMemLevel: pick.server.map { $0 - 7 } ?? 8,
            clientWindowBits: pick.client ?? 15, clientTakeover: pick.client != nil, response: response)
    }
}
