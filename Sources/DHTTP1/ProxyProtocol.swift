/// The PROXY protocol header (HAProxy's, versions 1 and 2) that `--proxy-protocol` expects at
/// the start of every connection, as HAProxy's `send-proxy`/`send-proxy-v2` and cloud network
/// load balancers send it: the client's address and port, before any other byte. Pure.
public enum ProxyProtocol {
    public enum Outcome: Equatable, Sendable {
        case incomplete
        /// Not a PROXY header, or a malformed one: the connection is closed.
        case invalid(String)
        /// `length` bytes make the header; `source` is the client (nil: v1 UNKNOWN, v2 LOCAL
        /// or an address family without one: the connection's own addresses stand).
        case complete(length: Int, source: (address: String, port: Int)?)

        public static func == (a: Outcome, b: Outcome) -> Bool {
            switch (a, b) {
            case (.incomplete, .incomplete): true
            case (.invalid(let x), .invalid(let y)): x == y
            case (.complete(let l1, let s1), .complete(let l2, let s2)):
                l1 == l2 && s1?.address == s2?.address && s1?.port == s2?.port
            default: false
            }
        }
    }

    static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    /// The header at the start of `bytes` (what has arrived so far).
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        if bytes.isEmpty { return .incomplete }
        if bytes[0] == 0x0D { return parseV2(bytes) }
        if bytes[0] == UInt8(ascii: "P") { return parseV1(bytes) }
        return .invalid("the connection does not start with a PROXY protocol header")
    }

    /// `PROXY TCP4|TCP6|UNKNOWN SRC DST SPORT DPORT\r\n`, at most 107 bytes.
    static func parseV1(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        let prefix = Array("PROXY ".utf8)
        for i in 0..<min(bytes.count, prefix.count) where bytes[i] != prefix[i] {
            return .invalid("the connection does not start with a PROXY protocol header")
        }
        var end: Int? = nil
        for i in 0..<min(bytes.count, 107) where bytes[i] == 0x0A {
            end = i
            break
        }
        guard let end else {
            return bytes.count >= 107 ? .invalid("a PROXY v1 header longer than 107 bytes") : .incomplete
        }
        guard end >= 1, bytes[end - 1] == 0x0D else { return .invalid("a PROXY v1 header without CRLF") }
        let line = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0..<(end - 1)]), as: UTF8.self)
        let fields = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard fields.count >= 2 else { return .invalid("a malformed PROXY v1 header") }
        if fields[1] == "UNKNOWN" { return .complete(length: end + 1, source: nil) }
        guard fields.count == 6, fields[1] == "TCP4" || fields[1] == "TCP6",
            let port = Int(fields[4]), (0...65535).contains(port),
            Int(fields[5]).map({ (0...65535).contains($0) }) == true,
            fields[2].allSatisfy({ $0.isHexDigit || $0 == "." || $0 == ":" }), !fields[2].isEmpty
        else { return .invalid("a malformed PROXY v1 header: \(line.prefix(107))") }
        return .complete(length: end + 1, source: (fields[2], port))
    }

    /// 12-byte signature, version/command, family/protocol, 16-bit length, addresses, TLVs.
    static func parseV2(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        for i in 0..<min(bytes.count, v2Signature.count) where bytes[i] != v2Signature[i] {
            return .invalid("the connection does not start with a PROXY protocol header")
        }
        guard bytes.count >= 16 else { return .incomplete }
        let versionCommand = bytes[12]
        guard versionCommand >> 4 == 2 else { return .invalid("a PROXY v2 header of version \(versionCommand >> 4)") }
        let length = Int(bytes[14]) << 8 | Int(bytes[15])
        guard bytes.count >= 16 + length else { return .incomplete }
        let total = 16 + length
        switch versionCommand & 0x0F {
        case 0x0: return .complete(length: total, source: nil)  // LOCAL: a health check
        case 0x1: break  // PROXY
        default: return .invalid("a PROXY v2 header with command \(versionCommand & 0x0F)")
        }
        let family = bytes[13] >> 4
        let a = UnsafeRawBufferPointer(rebasing: bytes[16..<total])
        switch family {
        case 0x1:  // AF_INET: src 4, dst 4, sport 2, dport 2
            guard a.count >= 12 else { return .invalid("a short PROXY v2 IPv4 address block") }
            let address = "\(a[0]).\(a[1]).\(a[2]).\(a[3])"
            return .complete(length: total, source: (address, Int(a[8]) << 8 | Int(a[9])))
        case 0x2:  // AF_INET6: src 16, dst 16, sport 2, dport 2
            guard a.count >= 36 else { return .invalid("a short PROXY v2 IPv6 address block") }
            let groups = (0..<8).map { String(Int(a[2 * $0]) << 8 | Int(a[2 * $0 + 1]), radix: 16) }
            return .complete(length: total, source: (groups.joined(separator: ":"), Int(a[32]) << 8 | Int(a[33])))
        default:
            // AF_UNSPEC or AF_UNIX: no address that REMOTE_ADDR could hold.
            return .complete(length: total, source: nil)
        }
    }
}
