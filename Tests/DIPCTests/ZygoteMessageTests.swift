import DIPC
import Testing

@testable import DPosix

#if canImport(Glibc)
    import Glibc
#endif

/// The master-zygote messages (--preload): each one's bytes decode to it again, over a real
/// SEQPACKET socketpair with the worker's channel attached; bytes that are no message decode to
/// none.
@Suite struct ZygoteMessageTests {
    @Test func everyMessageRoundTrips() throws {
        let messages: [ZygoteMessage] = [
            .ready, .fork(slot: 0), .fork(slot: 17), .forked(slot: 3, pid: 4_000_000),
            .forkFailed(slot: 2, errno: EAGAIN),
        ]
        try Socket.withSeqpacketPair { (a, b) throws(SystemError) in
            for message in messages {
                #expect(message.send(on: a.raw, fds: [b.raw]) == .sent)
                guard case .message(let m) = try DescriptorChannel.receive(b.raw) else {
                    Issue.record("nothing received for \(message)")
                    return
                }
                #expect(ZygoteMessage(payload: m.payload) == message)
                #expect(m.descriptors.count == 1)
                for fd in m.descriptors { close(fd) }
            }
        }
    }

    @Test func malformedBytesAreNoMessage() {
        #expect(ZygoteMessage(payload: []) == nil)
        #expect(ZygoteMessage(payload: [0x46]) == nil)  // a fork without its slot
        #expect(ZygoteMessage(payload: [0x46, 1, 0, 0]) == nil)  // a short word
        #expect(ZygoteMessage(payload: [0x52, 0, 0, 0, 0]) == nil)  // ready with a word
        #expect(ZygoteMessage(payload: [0x50, 1, 0, 0, 0, 0, 0, 0, 0]) == nil)  // forked as pid 0
        #expect(ZygoteMessage(payload: [0x46, 0xFF, 0xFF, 0xFF, 0xFF]) == nil)  // slot -1
        #expect(ZygoteMessage(payload: [0x5A]) == nil)  // an unknown tag
    }
}
