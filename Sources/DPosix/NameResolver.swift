internal import CDPosix

#if canImport(Glibc)
    internal import Glibc
#endif

/// A host name resolved off the event loop's thread. getaddrinfo may wait for DNS for seconds
/// (its timeouts and retries when a server does not answer), and the master's loop must never
/// wait: the lookup runs on a thread of its own, which makes `wakeUp` readable when `take` has
/// the outcome. An address literal needs no DNS and is resolved at once.
public final class NameResolver: @unchecked Sendable {
    /// A resolved address: its `sockaddr`'s bytes.
    public struct Address: Sendable, Equatable {
        public var bytes: [UInt8]
        public init(bytes: [UInt8]) { self.bytes = bytes }
    }

    /// A name's addresses, in getaddrinfo's order (never empty on success).
    public typealias Lookup = @Sendable (_ host: String, _ port: Int) -> Result<[Address], SystemError>

    /// Readable once the outcome is in (at once for an address literal).
    public let wakeUp: WakeUp
    let lock = ConditionLock()
    var outcome: Result<[Address], SystemError>? = nil

    /// Starts resolving `host`:`port` with `lookUp` (getaddrinfo unless a test gives another).
    public init(host: String, port: Int, lookUp: @escaping Lookup = NameResolver.getaddrinfo) throws(SystemError) {
        wakeUp = try WakeUp()
        if let literal = Self.literal(host, port) {
            outcome = .success([literal])
            wakeUp.signal()
            return
        }
        try Posix.startThread { [self] in
            let result = lookUp(host, port)
            lock.withLock { outcome = result }
            wakeUp.signal()
        }
    }

    /// The outcome, once it is in.
    public func take() -> Result<[Address], SystemError>? {
        lock.withLock { outcome }
    }

    /// The addresses getaddrinfo gives for `host`:`port` (a stream socket's). May wait.
    @Sendable public static func getaddrinfo(_ host: String, _ port: Int) -> Result<[Address], SystemError> {
        let found = addresses(host, port, flags: AI_NUMERICSERV)
        return found.isEmpty
            ? .failure(SystemError(errno: EHOSTUNREACH, call: "getaddrinfo(\(host))")) : .success(found)
    }

    /// `host` when it is an IPv4 or IPv6 address: no DNS.
    static func literal(_ host: String, _ port: Int) -> Address? {
        addresses(host, port, flags: AI_NUMERICSERV | AI_NUMERICHOST).first
    }

    /// getaddrinfo's addresses for a stream socket to `host`:`port` (none when it fails).
    static func addresses(_ host: String, _ port: Int, flags: CInt) -> [Address] {
        var hints = addrinfo()
        hints.ai_flags = flags
        hints.ai_socktype = CInt(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>? = nil
        guard Glibc.getaddrinfo(host, String(port), &hints, &result) == 0 else { return [] }
        defer { freeaddrinfo(result) }
        var found: [Address] = []
        var next = result
        while let info = next {
            let bytes = UnsafeRawBufferPointer(start: info.pointee.ai_addr, count: Int(info.pointee.ai_addrlen))
            found.append(Address(bytes: Array(bytes)))
            next = info.pointee.ai_next
        }
        return found
    }
}
