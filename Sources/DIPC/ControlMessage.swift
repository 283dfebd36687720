public import DPosix

/// The messages on the SEQPACKET channel between the master and a worker. The first byte is
/// the kind; a connection batch carries the listener it came from, when the master accepted
/// it (for the queue-time histogram) and each peer's address, with the descriptors attached in
/// the same order.
public enum ControlMessage: UInt8, Sendable {
    /// master → worker: accepted connections are attached.
    case connections = 0x43  // "C"
    /// master → worker: idle keep-alive connections are attached (handed back by a retiring
    /// worker): they wait for their next request with the keep-alive timeout.
    case keptAlive = 0x4B  // "K"
    /// worker → master: a retiring worker's idle keep-alive connections are attached, for a
    /// live worker.
    case handBack = 0x42  // "B"
    /// master → worker: stop taking connections, finish in-flight requests, exit.
    case drain = 0x44  // "D"
    /// master → worker: you are replaced (your replacement is ready): hand idle keep-alive
    /// connections back, finish the rest, exit.
    case retire = 0x54  // "T"
    /// worker → master: replace me (one byte follows: a `RecycleReason`).
    case recycle = 0x59  // "Y"
    /// worker → master: the application is loaded; the worker takes connections.
    case ready = 0x52  // "R"
    /// worker → master (--reload): source files of the application, NUL-separated.
    case watchFiles = 0x57  // "W"
    /// worker → master: a leaving worker has no connection left; it exits once released.
    case drained = 0x45  // "E"
    /// master → worker: a drained worker may exit (nothing more will be sent to it).
    case release = 0x58  // "X"
    /// Master to worker: reopen the --access-log and --error-log files (SIGUSR1, logrotate).
    case reopenLogs = 0x4F  // "O"
    /// master → worker: the worker's end of its channel bus (`BusStream`, dispatchd.channels)
    /// is attached. Sent first, as the channel opens.
    case bus = 0x50  // "P"

    /// Sends `paths` in as many messages as they need, without blocking; false when the channel
    /// could not take them all.
    public static func sendWatchFiles(on channel: CInt, paths: [String]) -> Bool {
        var payload: [UInt8] = [watchFiles.rawValue]
        for path in paths {
            let bytes = Array(path.utf8)
            guard bytes.count + 2 <= DescriptorChannel.maxPayload, !bytes.contains(0) else { continue }
            if payload.count + bytes.count + 1 > DescriptorChannel.maxPayload {
                guard DescriptorChannel.send(channel, payload: payload, fds: []) == .sent else { return false }
                payload = [watchFiles.rawValue]
            }
            payload += bytes + [0]
        }
        return payload.count == 1 || DescriptorChannel.send(channel, payload: payload, fds: []) == .sent
    }

    /// The paths of a `watchFiles` message; nil for another message.
    public static func watchedFiles(_ message: DescriptorChannel.Message) -> [String]? {
        guard message.payload.first == watchFiles.rawValue else { return nil }
        return message.payload.dropFirst().split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Why a worker asks to be replaced.
    public enum RecycleReason: UInt8, Sendable, CustomStringConvertible {
        case maxRequests = 1
        case memory = 2

        public var description: String {
            switch self {
            case .maxRequests: "it has served --max-requests"
            case .memory: "its memory passed --reload-on-rss"
            }
        }
    }

    /// The kinds that carry connections.
    /// Whether a message of this tag carries connections (a switch: a Set would hash on every
    /// hand-off).
    static func carriesConnections(_ tag: UInt8) -> Bool {
        switch ControlMessage(rawValue: tag) {
        case .connections?, .keptAlive?, .handBack?: true
        default: false
        }
    }

    /// Asks the master to replace this worker, without blocking.
    public static func sendRecycle(on channel: CInt, reason: RecycleReason) -> DescriptorChannel.SendResult {
        DescriptorChannel.send(channel, payload: [recycle.rawValue, reason.rawValue], fds: [])
    }

    /// The reason of a `recycle` message; nil for another message.
    public static func recycleReason(_ message: DescriptorChannel.Message) -> RecycleReason? {
        let p = message.payload
        guard p.count == 2, p[0] == recycle.rawValue else { return nil }
        return RecycleReason(rawValue: p[1])
    }

    /// The most connections in one message.
    public static let maxBatch = 16

    /// Sends a message without a body or descriptors, without blocking.
    public func send(on channel: CInt, fds: [CInt] = []) -> DescriptorChannel.SendResult {
        DescriptorChannel.send(channel, payload: [rawValue], fds: fds)
    }

    /// Sends connections from listener `listener` (`kind`: accepted ones, kept-alive ones, or
    /// ones handed back), without blocking. `acceptedAt`: the master's monotonic clock when it
    /// accepted them (0: not new connections).
    public static func sendConnections(
        on channel: CInt, listener: Int, fds: [CInt], peers: [PeerAddress], kind: ControlMessage = .connections,
        acceptedAt: UInt64 = 0, waited: [UInt32] = []
    ) -> DescriptorChannel.SendResult {
        var payload: [UInt8] = []
        return sendConnections(
            on: channel, listener: listener, fds: fds, peers: peers, kind: kind, acceptedAt: acceptedAt,
            waited: waited, payload: &payload)
    }

    /// `sendConnections`, the message written in `payload` (a buffer the caller keeps, so that
    /// a hand-off allocates none).
    public static func sendConnections(
        on channel: CInt, listener: Int, fds: [CInt], peers: [PeerAddress], kind: ControlMessage = .connections,
        acceptedAt: UInt64 = 0, waited: [UInt32] = [], payload: inout [UInt8]
    ) -> DescriptorChannel.SendResult {
        precondition(fds.count == peers.count && fds.count <= maxBatch && listener < 256)
        precondition(waited.isEmpty || waited.count == fds.count)
        precondition(carriesConnections(kind.rawValue), "Internal inconsistency: \(kind) carries no connections")
        payload.removeAll(keepingCapacity: true)
        payload.reserveCapacity(headerSize + fds.count * (PeerAddress.encodedSize + 4))
        payload.append(kind.rawValue)
        payload.append(UInt8(listener))
        payload.append(UInt8(fds.count))
        withUnsafeBytes(of: acceptedAt.littleEndian) { payload.append(contentsOf: $0) }
        for peer in peers { peer.encode(into: &payload) }
        for ms in waited { for i in 0..<4 { payload.append(UInt8(truncatingIfNeeded: ms >> UInt32(8 * i))) } }
        return DescriptorChannel.send(channel, payload: payload, fds: fds)
    }

    /// How many connections a batch carried when the master sent it, which its payload says even
    /// when the kernel could not attach the descriptors (a truncated message); nil for any other
    /// message.
    public static func connectionCount(_ message: DescriptorChannel.Message) -> Int? {
        let p = message.payload
        guard p.count >= 3, carriesConnections(p[0]) else { return nil }
        return Int(p[2])
    }

    /// Kind, listener, count, and the 8 bytes of `acceptedAt` (little-endian).
    static let headerSize = 11

    /// The listener index, peers and acceptance time of a connection batch, and how many
    /// milliseconds each connection had waited in the backlog before (empty: none measured);
    /// nil for a malformed one.
    public static func decodeConnections(
        _ message: DescriptorChannel.Message
    ) -> (listener: Int, peers: [PeerAddress], acceptedAt: UInt64, waited: [UInt32])? {
        let p = message.payload
        guard p.count >= headerSize, carriesConnections(p[0]), Int(p[2]) == message.descriptors.count else {
            return nil
        }
        let n = Int(p[2])
        let peersEnd = headerSize + n * PeerAddress.encodedSize
        guard p.count == peersEnd || p.count == peersEnd + 4 * n else { return nil }
        var waited: [UInt32] = []
        if p.count > peersEnd {
            waited = (0..<n).map { i in
                (0..<4).reduce(UInt32(0)) { $0 | UInt32(p[peersEnd + 4 * i + $1]) << UInt32(8 * $1) }
            }
        }
        let acceptedAt = p.withUnsafeBytes {
            UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 3, as: UInt64.self))
        }
        var peers: [PeerAddress] = []
        peers.reserveCapacity(Int(p[2]))
        for i in 0..<Int(p[2]) {
            let start = headerSize + i * PeerAddress.encodedSize
            guard let peer = PeerAddress(decoding: p[start..<(start + PeerAddress.encodedSize)]) else { return nil }
            peers.append(peer)
        }
        return (Int(p[1]), peers, acceptedAt, waited)
    }
}
