import DIPC
import Testing

@testable import DPosix

#if canImport(Glibc)
    import Glibc
#endif

/// The master-to-worker hand-off format, end to end over a real SEQPACKET socketpair: what
/// `ControlMessage.sendConnections` sends, `DescriptorChannel.receive` and
/// `ControlMessage.decodeConnections` give back exactly, descriptors included.
@Suite struct HandOffTests {
    /// Receives one message that must be there.
    func receiveOne(_ fd: CInt, sourceLocation: SourceLocation = #_sourceLocation) throws -> DescriptorChannel.Message {
        guard case .message(let m) = try DescriptorChannel.receive(fd) else {
            Issue.record("no message", sourceLocation: sourceLocation)
            throw SystemError(errno: EAGAIN, call: "receive")
        }
        return m
    }

    /// Sends `peers.count` real connections from `listener`, and checks every field of what
    /// arrives and that each descriptor is the socket that was sent, in order.
    func roundTrip(listener: Int, peers: [PeerAddress]) throws {
        let channel = try TestDescriptors.Channel()
        let connections = try peers.map { _ in try TestDescriptors.Connection() }
        defer { for c in connections { c.close() } }

        let sent = ControlMessage.sendConnections(
            on: channel.master, listener: listener, fds: connections.map(\.sent), peers: peers)
        #expect(sent == .sent)
        let message = try receiveOne(channel.worker)
        defer { for fd in message.descriptors { close(fd) } }
        #expect(message.tag == ControlMessage.connections.rawValue)
        #expect(message.payload.count == 11 + peers.count * PeerAddress.encodedSize)

        let decoded = try #require(ControlMessage.decodeConnections(message))
        #expect(decoded.listener == listener)
        #expect(decoded.peers.count == peers.count)
        for (got, want) in zip(decoded.peers, peers) {
            #expect(got.family == want.family)
            #expect(got.port == want.port)
            #expect(got.address == want.address)
            #expect(got.host == want.host)
            #expect(got == want)
        }

        try #require(message.descriptors.count == connections.count)
        for (i, (received, connection)) in zip(message.descriptors, connections).enumerated() {
            #expect(!TestDescriptors.isCloseOnExec(connection.sent))  // the control: the flag is not inherited
            #expect(TestDescriptors.isCloseOnExec(received), "connection \(i): received without close-on-exec")
            #expect(
                TestDescriptors.isSameSocket(
                    received, as: connection.sent, peerOfOriginal: connection.kept, probe: "connection \(i)"),
                "connection \(i) is not the socket sent in its place")
        }
        // The sender keeps its own copies; the channel holds nothing more.
        for c in connections { #expect(TestDescriptors.isOpen(c.sent)) }
        guard case .wouldBlock = try DescriptorChannel.receive(channel.worker) else {
            Issue.record("a second message arrived")
            return
        }
    }

    @Test func ipv4IPv6AndUnixPeers() throws {
        let peers = [
            TestDescriptors.ipv4("192.0.2.7", port: 0x1F90),
            TestDescriptors.ipv6("2001:db8::a:1", port: 0xC0DE),
            TestDescriptors.unix(),
        ]
        #expect(peers.map(\.family) == [4, 6, 0])
        #expect(peers.map(\.host) == ["192.0.2.7", "2001:db8::a:1", ""])
        #expect(peers.map(\.port) == [8080, 49374, 0])
        try roundTrip(listener: 2, peers: peers)
    }

    /// The largest batch the master sends, from the highest listener index the format holds;
    /// ports and addresses at their extremes, so a byte out of place shows.
    @Test func maximumBatch() throws {
        var peers: [PeerAddress] = []
        for i in 0..<ControlMessage.maxBatch {
            switch i % 3 {
            case 0: peers.append(TestDescriptors.ipv4("10.\(i).255.\(255 - i)", port: UInt16(65535 - i)))
            case 1: peers.append(TestDescriptors.ipv6("ffff:\(i)::fe:\(i + 1)", port: UInt16(i)))
            default: peers.append(TestDescriptors.unix())
            }
        }
        #expect(Set(peers.map(\.host)).count == 12)  // 11 distinct addresses and the unix peers' ""
        try roundTrip(listener: 255, peers: peers)
        try roundTrip(listener: 0, peers: [TestDescriptors.ipv4("255.255.255.255", port: 65535)])
    }

    /// Drain (master to worker) and ready (worker to master): one byte, no descriptors, and
    /// not a connection batch.
    @Test func drainAndReady() throws {
        let channel = try TestDescriptors.Channel()
        #expect(ControlMessage.drain.send(on: channel.master) == .sent)
        #expect(ControlMessage.ready.send(on: channel.worker) == .sent)
        let drain = try receiveOne(channel.worker)
        #expect(drain.payload == [0x44])
        #expect(drain.tag == ControlMessage.drain.rawValue)
        #expect(drain.descriptors.isEmpty)
        #expect(ControlMessage.decodeConnections(drain) == nil)
        let ready = try receiveOne(channel.master)
        #expect(ready.payload == [0x52])
        #expect(ready.tag == ControlMessage.ready.rawValue)
        #expect(ready.descriptors.isEmpty)
        #expect(ControlMessage.decodeConnections(ready) == nil)
    }

    /// Payloads that are not a well-formed batch decode to nil, whatever came with them.
    @Test func malformedBatchesDecodeToNil() throws {
        let channel = try TestDescriptors.Channel()
        let connection = try TestDescriptors.Connection()
        defer { connection.close() }
        var peer: [UInt8] = []
        TestDescriptors.ipv4("192.0.2.1", port: 80).encode(into: &peer)
        #expect(peer.count == PeerAddress.encodedSize)
        let cases: [(String, [UInt8], [CInt])] = [
            ("a batch must carry its header", [0x43, 0], []),
            ("wrong kind", [0x44, 0, 1] + peer, [connection.sent]),
            ("one peer short", [0x43, 0, 1], [connection.sent]),
            ("a truncated peer", [0x43, 0, 1] + peer.dropLast(), [connection.sent]),
            ("a byte after the peers", [0x43, 0, 1] + peer + [0], [connection.sent]),
            ("more peers than descriptors", [0x43, 0, 2] + peer + peer, [connection.sent]),
            ("fewer peers than descriptors", [0x43, 0, 1] + peer, [connection.sent, connection.sent]),
        ]
        for (reason, payload, fds) in cases {
            #expect(DescriptorChannel.send(channel.master, payload: payload, fds: fds) == .sent, "\(reason)")
            let message = try receiveOne(channel.worker)
            #expect(message.payload == payload, "\(reason)")
            #expect(message.descriptors.count == fds.count, "\(reason)")
            #expect(ControlMessage.decodeConnections(message) == nil, "\(reason)")
            for fd in message.descriptors { close(fd) }
        }
        #expect(PeerAddress(decoding: peer.dropLast()) == nil)
        #expect(PeerAddress(decoding: peer[...]) == TestDescriptors.ipv4("192.0.2.1", port: 80))
    }
}
