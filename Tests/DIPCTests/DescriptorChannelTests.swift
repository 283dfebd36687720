import CDPosix
import DIPC
import DPosix
import Glibc
import Testing

@Suite struct DescriptorChannelTests {
    /// Sends `fds` in one message with sendmsg itself: DescriptorChannel.send refuses more than
    /// a receiver makes room for.
    func sendRaw(_ channel: CInt, payload: [UInt8], fds: [CInt]) -> Int {
        let controlSize = CDPosix_CMSG_SPACE(MemoryLayout<CInt>.size * fds.count)
        let control = UnsafeMutableRawPointer.allocate(byteCount: controlSize, alignment: 8)
        defer { control.deallocate() }
        memset(control, 0, controlSize)
        var payload = payload
        return payload.withUnsafeMutableBytes { body in
            var iov = iovec(iov_base: body.baseAddress, iov_len: body.count)
            return withUnsafeMutablePointer(to: &iov) { iovPointer in
                var msg = msghdr()
                msg.msg_iov = iovPointer
                msg.msg_iovlen = 1
                msg.msg_control = control
                msg.msg_controllen = controlSize
                let cmsg = CDPosix_CMSG_FIRSTHDR(&msg)!
                cmsg.pointee.cmsg_level = SOL_SOCKET
                cmsg.pointee.cmsg_type = CInt(SCM_RIGHTS)
                cmsg.pointee.cmsg_len = CDPosix_CMSG_LEN(MemoryLayout<CInt>.size * fds.count)
                CDPosix_CMSG_DATA(cmsg).withMemoryRebound(to: CInt.self, capacity: fds.count) { p in
                    for (i, fd) in fds.enumerated() { p[i] = fd }
                }
                return sendmsg(channel, &msg, 0)
            }
        }
    }

    func pair(_ type: Int32) -> (CInt, CInt) {
        var fds: [CInt] = [-1, -1]
        let rc = socketpair(AF_UNIX, type, 0, &fds)
        precondition(rc == 0, "socketpair: errno \(errno)")
        return (fds[0], fds[1])
    }

    /// True when `fd`'s peer has closed: readable at once, and read returns 0.
    func peerClosed(_ fd: CInt) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, 1000) == 1 else { return false }
        var byte: UInt8 = 0
        return read(fd, &byte, 1) == 0
    }

    /// When the kernel cannot pass every descriptor of a message (MSG_CTRUNC: in a worker at
    /// its descriptor limit; here, more descriptors than the receiver has room for) the message
    /// comes back truncated, without descriptors, and those that did arrive are closed: once
    /// the sender closes its copies, every connection's other end sees it closed. The payload
    /// still says how many connections were sent.
    @Test func truncatedMessageClosesWhatArrived() throws {
        let (master, worker) = pair(Int32(SOCK_SEQPACKET.rawValue))
        defer {
            close(master)
            close(worker)
        }
        let count = DescriptorChannel.maxDescriptorsPerMessage + 6
        var clients: [CInt] = []
        var servers: [CInt] = []
        for _ in 0..<count {
            let (client, server) = pair(Int32(SOCK_STREAM.rawValue))
            clients.append(client)
            servers.append(server)
        }
        defer { for fd in clients { close(fd) } }
        let payload: [UInt8] = [ControlMessage.connections.rawValue, 0, UInt8(count)]
        #expect(sendRaw(master, payload: payload, fds: servers) == payload.count)
        for fd in servers { close(fd) }  // as the master does once a batch is handed off
        guard case .message(let message) = try DescriptorChannel.receive(worker) else {
            Issue.record("no message")
            return
        }
        #expect(message.truncated)
        #expect(message.descriptors.isEmpty)
        #expect(message.discarded == DescriptorChannel.maxDescriptorsPerMessage)
        #expect(ControlMessage.connectionCount(message) == count)
        for (i, client) in clients.enumerated() {
            #expect(peerClosed(client), "connection \(i) is still open")
        }
    }

    /// A message within the receiver's room passes its descriptors, in order.
    @Test func wholeMessagePassesDescriptors() throws {
        let (master, worker) = pair(Int32(SOCK_SEQPACKET.rawValue))
        defer {
            close(master)
            close(worker)
        }
        let (client, server) = pair(Int32(SOCK_STREAM.rawValue))
        defer { close(client) }
        #expect(
            DescriptorChannel.send(master, payload: [ControlMessage.connections.rawValue, 0, 1], fds: [server]) == .sent
        )
        close(server)
        guard case .message(let message) = try DescriptorChannel.receive(worker) else {
            Issue.record("no message")
            return
        }
        #expect(!message.truncated && message.discarded == 0)
        #expect(message.descriptors.count == 1)
        // The received copy is the other end of `client`.
        var byte: UInt8 = 7
        #expect(write(message.descriptors[0], &byte, 1) == 1)
        var got: UInt8 = 0
        #expect(read(client, &got, 1) == 1 && got == 7)
        close(message.descriptors[0])
        #expect(peerClosed(client))
    }
}
