import DIPC
import DPosix
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The channel's flow outcomes, which the master's hand-off policy depends on: a full channel
/// is `.wouldBlock` at once (the acceptor must never block on a stuck worker), a closed peer is
/// `.peerGone` (not SIGPIPE), and the receiver sees `.closed` at EOF.
@Suite(.timeLimit(.minutes(1))) struct ChannelFlowTests {
    func nanoseconds() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }

    /// Fills the channel with drain messages until the kernel refuses one; returns how many went.
    func fill(_ channel: TestDescriptors.Channel) -> Int {
        var sent = 0
        while sent < 1_000_000, ControlMessage.drain.send(on: channel.master) == .sent { sent += 1 }
        return sent
    }

    @Test func fullChannelWouldBlockAndKeepsTheDescriptors() throws {
        let channel = try TestDescriptors.Channel()
        let start = nanoseconds()
        let queued = fill(channel)
        #expect(queued > 10 && queued < 100_000, "\(queued) messages before the channel was full")
        let connection = try TestDescriptors.Connection()
        defer { connection.close() }
        let peer = TestDescriptors.ipv4("192.0.2.9", port: 443)
        #expect(
            ControlMessage.sendConnections(on: channel.master, listener: 0, fds: [connection.sent], peers: [peer])
                == .wouldBlock)
        #expect(ControlMessage.drain.send(on: channel.master) == .wouldBlock)
        #expect(nanoseconds() - start < 2_000_000_000, "filling the channel blocked")
        #expect(TestDescriptors.isOpen(connection.sent))

        // Everything queued arrives, nothing more; then there is room again.
        var received = 0
        while case .message(let m) = try DescriptorChannel.receive(channel.worker) {
            #expect(m.payload == [ControlMessage.drain.rawValue] && m.descriptors.isEmpty)
            received += 1
        }
        #expect(received == queued)
        #expect(
            ControlMessage.sendConnections(on: channel.master, listener: 0, fds: [connection.sent], peers: [peer])
                == .sent)
        guard case .message(let batch) = try DescriptorChannel.receive(channel.worker) else {
            Issue.record("the batch sent after the channel drained did not arrive")
            return
        }
        defer { for fd in batch.descriptors { close(fd) } }
        #expect(ControlMessage.decodeConnections(batch)?.peers == [peer])
        #expect(batch.descriptors.count == 1)
    }

    /// A peer's address and port as text: IPv4 and the port formatted by hand (no sprintf, no
    /// generic integer formatting per connection), IPv6 by inet_ntop.
    @Test func peerHostText() {
        for text in ["0.0.0.0", "1.2.3.4", "10.20.30.40", "127.0.0.1", "192.0.2.9", "100.99.9.0", "255.255.255.255"] {
            #expect(TestDescriptors.ipv4(text, port: 1).host == text)
        }
        #expect(TestDescriptors.ipv6("2001:db8::1", port: 1).host == "2001:db8::1")
        #expect(TestDescriptors.ipv6("::ffff:10.0.0.1", port: 1).host == "::ffff:10.0.0.1")
        for port in [0, 7, 80, 443, 8080, 65535] as [UInt16] {
            #expect(TestDescriptors.ipv4("1.2.3.4", port: port).portText == String(port))
        }
    }

    /// A batch carries when the master accepted it and, when measured, each connection's wait
    /// in the backlog; a payload of another length is refused.
    @Test func batchTimesRoundTrip() throws {
        let channel = try TestDescriptors.Channel()
        let a = try TestDescriptors.Connection()
        let b = try TestDescriptors.Connection()
        defer {
            a.close()
            b.close()
        }
        let peers = [TestDescriptors.ipv4("192.0.2.9", port: 443), TestDescriptors.ipv4("192.0.2.10", port: 80)]
        let receiver = DescriptorChannel.Receiver()
        for waited in [[], [7, 1_500_000]] as [[UInt32]] {
            #expect(
                ControlMessage.sendConnections(
                    on: channel.master, listener: 2, fds: [a.sent, b.sent], peers: peers,
                    acceptedAt: 0x0102_0304_0506_0708, waited: waited) == .sent)
            // Once through the allocating receive, once through a Receiver's kept buffers.
            let received =
                waited.isEmpty ? try DescriptorChannel.receive(channel.worker) : try receiver.receive(channel.worker)
            guard case .message(let batch) = received else {
                Issue.record("no batch")
                return
            }
            defer { for fd in batch.descriptors { close(fd) } }
            let decoded = try #require(ControlMessage.decodeConnections(batch))
            #expect(decoded.listener == 2 && decoded.peers == peers)
            #expect(decoded.acceptedAt == 0x0102_0304_0506_0708 && decoded.waited == waited)
            var cut = batch
            cut.payload.removeLast()
            #expect(ControlMessage.decodeConnections(cut) == nil)
        }
    }

    /// A send to a worker that has gone: `.peerGone`, full channel or not, without SIGPIPE
    /// (which would end this process), and the sender keeps its descriptors.
    @Test func sendAfterThePeerClosedIsPeerGone() throws {
        for full in [false, true] {
            let channel = try TestDescriptors.Channel()
            if full { _ = fill(channel) }
            channel.closeWorker()
            let connection = try TestDescriptors.Connection()
            defer { connection.close() }
            let peer = TestDescriptors.unix()
            #expect(ControlMessage.drain.send(on: channel.master) == .peerGone, "full: \(full)")
            #expect(
                ControlMessage.sendConnections(on: channel.master, listener: 1, fds: [connection.sent], peers: [peer])
                    == .peerGone,
                "full: \(full)")
            #expect(TestDescriptors.isOpen(connection.sent))
        }
    }

    /// The receiver reads what was queued before the peer closed, then `.closed` (and again);
    /// an open, empty channel is `.wouldBlock`.
    @Test func receiveSeesClosedAtEOF() throws {
        let channel = try TestDescriptors.Channel()
        guard case .wouldBlock = try DescriptorChannel.receive(channel.worker) else {
            Issue.record("an empty channel did not report wouldBlock")
            return
        }
        #expect(ControlMessage.drain.send(on: channel.master) == .sent)
        channel.closeMaster()
        guard case .message(let m) = try DescriptorChannel.receive(channel.worker) else {
            Issue.record("the message queued before the close was lost")
            return
        }
        #expect(m.payload == [ControlMessage.drain.rawValue])
        for attempt in 0..<2 {
            guard case .closed = try DescriptorChannel.receive(channel.worker) else {
                Issue.record("receive \(attempt) after EOF did not report closed")
                return
            }
        }
    }
}
