internal import Glibc

/// `--forwarded-allow-ips`: the peers whose `X-Forwarded-*` and `Forwarded` fields are believed
/// (gunicorn's name and default). Addresses and networks (`10.0.0.0/8`, `fd00::/8`), or `*` for
/// every peer; an IPv4-mapped IPv6 address (`::ffff:10.1.2.3`) counts as its IPv4 address.
public struct TrustedProxies: Codable, Equatable, Sendable, CustomStringConvertible {
    public var everyone = false
    public var networks: [Network] = []

    public struct Network: Codable, Equatable, Sendable {
        /// 4 bytes (IPv4) or 16 (IPv6), and how many leading bits count.
        public var bytes: [UInt8]
        public var prefix: Int
    }

    public static let loopback = TrustedProxies(
        everyone: false,
        networks: [
            Network(bytes: [127, 0, 0, 1], prefix: 32),
            Network(bytes: [UInt8](repeating: 0, count: 15) + [1], prefix: 128),
        ])

    /// A comma-separated list (spaces allowed); `*` trusts every peer.
    public static func parse(_ text: String) throws(ConfigError) -> TrustedProxies {
        var result = TrustedProxies()
        for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: " ") }) where !item.isEmpty {
            if item == "*" {
                result.everyone = true
                continue
            }
            let parts = item.split(separator: "/", maxSplits: 1).map(String.init)
            guard let bytes = Self.bytes(of: parts[0]) else {
                throw ConfigError(.forwardedAllowIps, .invalid(item, reason: "is not an IP address or network"))
            }
            var prefix = bytes.count * 8
            if parts.count == 2 {
                guard let p = Int(parts[1]), p >= 0, p <= bytes.count * 8 else {
                    throw ConfigError(.forwardedAllowIps, .invalid(item, reason: "has an invalid prefix length"))
                }
                prefix = p
            }
            result.networks.append(Network(bytes: bytes, prefix: prefix))
        }
        return result
    }

    /// Whether the textual address `address` is trusted; false for anything that is not an
    /// IP address.
    public func contains(_ address: String) -> Bool {
        if everyone { return true }
        guard let bytes = Self.bytes(of: address) else { return false }
        return bytes.withUnsafeBytes { contains(rawAddress: $0) }
    }

    /// The same for an address's bytes (4 or 16; an IPv4-mapped IPv6 address counts as its
    /// IPv4 address), as a socket gives them: no text to format and parse per connection.
    public func contains(rawAddress raw: UnsafeRawBufferPointer) -> Bool {
        if everyone { return true }
        var bytes = raw
        if raw.count == 16 && raw[0..<10].allSatisfy({ $0 == 0 }) && raw[10] == 0xFF && raw[11] == 0xFF {
            bytes = UnsafeRawBufferPointer(rebasing: raw[12..<16])
        }
        return networks.contains { network in
            guard network.bytes.count == bytes.count else { return false }
            var bits = network.prefix
            for i in 0..<bytes.count where bits > 0 {
                let mask: UInt8 = bits >= 8 ? 0xFF : ~(0xFF >> UInt8(bits))
                if bytes[i] & mask != network.bytes[i] & mask { return false }
                bits -= 8
            }
            return true
        }
    }

    /// An address's bytes (4 or 16), nil when it is not one. IPv4-mapped IPv6 gives 4.
    public static func bytes(of address: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, address, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
            return Array(bytes[12..<16])
        }
        return bytes
    }

    public var description: String {
        if everyone { return "*" }
        return networks.map { n in
            var text = [CChar](repeating: 0, count: 64)
            n.bytes.withUnsafeBufferPointer { b in
                _ = inet_ntop(n.bytes.count == 4 ? AF_INET : AF_INET6, b.baseAddress, &text, 64)
            }
            let address = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return n.prefix == n.bytes.count * 8 ? address : "\(address)/\(n.prefix)"
        }.joined(separator: ",")
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Character) -> String { String(self).trimmingCharacters(in: set) }
}
