public import DPosix

/// The messages on the SEQPACKET channel between the master and a worker. The first byte is
/// the kind; a connection batch carries the listener it came from and each peer's address,
/// with the descriptors attached in the same order.
public enum ControlMessage: UInt8, Sendable {
    /// master → worker: accepted connections are attached.
    case connections = 0x43  // "C"
    /// master → worker: stop taking connections, finish in-flight requests, exit.
    case drain = 0x44  // "D"
    /// worker → master: the application is loaded; the worker takes connections.
    case ready = 0x52  // "R"

    /// The most connections in one message.
    public static let maxBatch = 16

    /// Sends a message without a body or descriptors, without blocking.
    public func send(on channel: CInt) -> DescriptorChannel.SendResult {
        DescriptorChannel.send(channel, payload: [rawValue], fds: [])
    }

    /// Sends accepted connections from listener `listener`, without blocking.
    public static func sendConnections(
        on channel: CInt, listener: Int, fds: [CInt], peers: [PeerAddress]
    ) -> DescriptorChannel.SendResult {
        precondition(fds.count == peers.count && fds.count <= maxBatch && listener < 256)
        var payload: [UInt8] = [ControlMessage.connections.rawValue, UInt8(listener), UInt8(fds.count)]
        payload.reserveCapacity(3 + fds.count * PeerAddress.encodedSize)
        for peer in peers { peer.encode(into: &payload) }
        return DescriptorChannel.send(channel, payload: payload, fds: fds)
    }

    /// How many connections a batch carried when the master sent it, which its payload says even
    /// when the kernel could not attach the descriptors (a truncated message); nil for any other
    /// message.
    public static func connectionCount(_ message: DescriptorChannel.Message) -> Int? {
        let p = message.payload
        guard p.count >= 3, p[0] == ControlMessage.connections.rawValue else { return nil }
        return Int(p[2])
    }

    /// The listener index and peers of a connection batch; nil for a malformed one.
    public static func decodeConnections(_ message: DescriptorChannel.Message) -> (listener: Int, peers: [PeerAddress])?
    {
        let p = message.payload
        guard p.count >= 3, p[0] == ControlMessage.connections.rawValue, Int(p[2]) == message.descriptors.count,
            p.count == 3 + Int(p[2]) * PeerAddress.encodedSize
        else { return nil }
        var peers: [PeerAddress] = []
        for i in 0..<Int(p[2]) {
            let start = 3 + i * PeerAddress.encodedSize
            guard let peer = PeerAddress(decoding: p[start..<(start + PeerAddress.encodedSize)]) else { return nil }
            peers.append(peer)
        }
        return (Int(p[1]), peers)
    }
}
