internal import CDPosix

#if canImport(Glibc)
    internal import Glibc
#endif

/// The address of a connection's peer as accept() reported it: small and fixed-size, so the
/// master can pass it to the worker with the descriptor (saving the worker a getpeername).
public struct PeerAddress: Sendable, Equatable {
    /// 4 (IPv4), 6 (IPv6) or 0 (unix socket).
    public var family: UInt8 = 0
    public var port: UInt16 = 0
    public var address: (UInt64, UInt64) = (0, 0)

    public init() {}

    public static func == (a: PeerAddress, b: PeerAddress) -> Bool {
        a.family == b.family && a.port == b.port && a.address == b.address
    }

    /// The address's bytes (4 for IPv4, 16 for IPv6, none for a unix socket), without copying.
    public func withAddressBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeBytes(of: address) { raw in
            body(UnsafeRawBufferPointer(rebasing: raw[0..<(family == 4 ? 4 : family == 6 ? 16 : 0)]))
        }
    }

    /// Bytes in the encoded form.
    public static let encodedSize = 19

    public func encode(into out: inout [UInt8]) {
        out.append(family)
        out.append(UInt8(port >> 8))
        out.append(UInt8(port & 0xFF))
        withUnsafeBytes(of: address) { out.append(contentsOf: $0) }
    }

    public init?(decoding bytes: ArraySlice<UInt8>) {
        guard bytes.count >= Self.encodedSize else { return nil }
        let b = bytes.startIndex
        family = bytes[b]
        port = UInt16(bytes[b + 1]) << 8 | UInt16(bytes[b + 2])
        // One copy of the 16 address bytes (a loop of checked subscripts cost ~200 instructions
        // a connection).
        bytes.withUnsafeBytes { source in
            withUnsafeMutableBytes(of: &address) {
                $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[3..<Self.encodedSize]))
            }
        }
    }

    /// The port as decimal text, without the generic integer formatting (every connection's
    /// REMOTE_PORT).
    public var portText: String {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 5) { out in
            var n = 5
            var v = Int(port)
            repeat {
                n -= 1
                out[n] = UInt8(48 + v % 10)
                v /= 10
            } while v > 0
            return String(decoding: UnsafeBufferPointer(rebasing: out[n...]), as: UTF8.self)
        }
    }

    init(_ storage: inout sockaddr_storage) {
        switch CInt(storage.ss_family) {
        case AF_INET:
            withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    family = 4
                    port = UInt16(bigEndian: sin.pointee.sin_port)
                    var a = sin.pointee.sin_addr
                    withUnsafeMutableBytes(of: &address) { raw in withUnsafeBytes(of: &a) { raw.copyMemory(from: $0) } }
                }
            }
        case AF_INET6:
            withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin in
                    family = 6
                    port = UInt16(bigEndian: sin.pointee.sin6_port)
                    var a = sin.pointee.sin6_addr
                    withUnsafeMutableBytes(of: &address) { raw in withUnsafeBytes(of: &a) { raw.copyMemory(from: $0) } }
                }
            }
        default:
            family = 0
        }
    }

    /// The address as text ("127.0.0.1", "::1"); empty for a unix socket.
    public var host: String {
        guard family != 0 else { return "" }
        if family == 4 {
            // Dotted quads by hand: glibc's inet_ntop formats IPv4 with sprintf, about 1,000
            // instructions, for every connection. At most 15 bytes: a String without allocation.
            return withUnsafeBytes(of: address) { raw in
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16) { out in
                    var n = 0
                    for i in 0..<4 {
                        if i > 0 {
                            out[n] = 46
                            n += 1
                        }
                        let b = Int(raw[i])
                        if b >= 100 {
                            out[n] = UInt8(48 + b / 100)
                            n += 1
                        }
                        if b >= 10 {
                            out[n] = UInt8(48 + b / 10 % 10)
                            n += 1
                        }
                        out[n] = UInt8(48 + b % 10)
                        n += 1
                    }
                    return String(decoding: UnsafeBufferPointer(rebasing: out[..<n]), as: UTF8.self)
                }
            }
        }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        var a = address
        withUnsafeBytes(of: &a) { raw in
            _ = inet_ntop(family == 4 ? AF_INET : AF_INET6, raw.baseAddress, &buffer, socklen_t(buffer.count))
        }
        return Socket.cString(buffer)
    }
}
