internal import CDPosix
#if canImport(Glibc)
internal import Glibc
#endif

/// Messages with attached descriptors (SCM_RIGHTS) over a SEQPACKET socket. The single
/// implementation of descriptor passing, used by both the master and the workers.
public enum DescriptorChannel {
    /// The most descriptors one message may carry (SCM_MAX_FD is 253).
    public static let maxDescriptorsPerMessage = 64

    public enum SendResult: Equatable, Sendable {
        case sent
        /// The channel is full: nothing was sent, the caller keeps the descriptor.
        case wouldBlock
        /// The peer has gone (EPIPE, ECONNRESET).
        case peerGone
    }

    /// Sends `tag` with the descriptor `fd` attached (or none when nil). Never blocks.
    public static func send(_ channel: CInt, tag: UInt8, fd: CInt?) -> SendResult {
        var byte = tag
        let fdCount = fd == nil ? 0 : 1
        let controlSize = fdCount == 0 ? 0 : CDPosix_CMSG_SPACE(MemoryLayout<CInt>.size)
        // Room for one descriptor's control message, on the stack (no allocation per hand-off).
        var storage: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        precondition(controlSize <= MemoryLayout.size(ofValue: storage))
        return withUnsafeMutableBytes(of: &storage) { controlBytes in
        let control = controlBytes.baseAddress!
        return withUnsafeMutablePointer(to: &byte) { bytePointer in
            var iov = iovec(iov_base: UnsafeMutableRawPointer(bytePointer), iov_len: 1)
            return withUnsafeMutablePointer(to: &iov) { iovPointer in
                var msg = msghdr()
                msg.msg_iov = iovPointer
                msg.msg_iovlen = 1
                if let fd {
                    memset(control, 0, controlSize)
                    msg.msg_control = control
                    msg.msg_controllen = controlSize
                    let cmsg = CDPosix_CMSG_FIRSTHDR(&msg)!
                    cmsg.pointee.cmsg_level = SOL_SOCKET
                    cmsg.pointee.cmsg_type = CInt(SCM_RIGHTS)
                    cmsg.pointee.cmsg_len = CDPosix_CMSG_LEN(MemoryLayout<CInt>.size)
                    CDPosix_CMSG_DATA(cmsg).withMemoryRebound(to: CInt.self, capacity: 1) { $0.pointee = fd }
                }
                while true {
                    let n = sendmsg(channel, &msg, CInt(MSG_DONTWAIT) | CInt(MSG_NOSIGNAL))
                    if n >= 0 { return .sent }
                    switch errno {
                    case EINTR: continue
                    case EAGAIN, EWOULDBLOCK, ENOBUFS: return .wouldBlock
                    case let e:
                        Posix.checkBug(e, "sendmsg")
                        return .peerGone
                    }
                }
            }
        }
        }
    }

    /// One received message: its tag byte and the descriptors that came with it.
    public struct Message {
        public var tag: UInt8
        public var descriptors: [CInt]
    }

    public enum ReceiveResult {
        case message(Message)
        case wouldBlock
        /// The peer closed its end.
        case closed
    }

    /// Receives one message without blocking. Received descriptors are close-on-exec.
    public static func receive(_ channel: CInt) throws(SystemError) -> ReceiveResult {
        var byte: UInt8 = 0
        let controlSize = CDPosix_CMSG_SPACE(MemoryLayout<CInt>.size * maxDescriptorsPerMessage)
        let control = UnsafeMutableRawPointer.allocate(byteCount: controlSize, alignment: 8)
        defer { control.deallocate() }
        return try withUnsafeMutablePointer(to: &byte) { (bytePointer) throws(SystemError) -> ReceiveResult in
            var iov = iovec(iov_base: UnsafeMutableRawPointer(bytePointer), iov_len: 1)
            return try withUnsafeMutablePointer(to: &iov) { (iovPointer) throws(SystemError) -> ReceiveResult in
                var msg = msghdr()
                msg.msg_iov = iovPointer
                msg.msg_iovlen = 1
                msg.msg_control = control
                msg.msg_controllen = controlSize
                var n = 0
                while true {
                    n = recvmsg(channel, &msg, CInt(MSG_DONTWAIT) | CInt(MSG_CMSG_CLOEXEC))
                    if n >= 0 { break }
                    let e = errno
                    if e == EINTR { continue }
                    if e == EAGAIN || e == EWOULDBLOCK { return .wouldBlock }
                    if e == ECONNRESET { return .closed }
                    Posix.checkBug(e, "recvmsg")
                    throw SystemError(errno: e, call: "recvmsg")
                }
                if n == 0 { return .closed }
                // A truncated control message means descriptors were closed by the kernel:
                // the buffer is sized for the largest batch, so this is our bug.
                precondition(msg.msg_flags & CInt(MSG_CTRUNC) == 0, "Internal inconsistency: MSG_CTRUNC on control channel")
                var fds: [CInt] = []
                var cmsg = CDPosix_CMSG_FIRSTHDR(&msg)
                while let c = cmsg {
                    if c.pointee.cmsg_level == SOL_SOCKET && c.pointee.cmsg_type == CInt(SCM_RIGHTS) {
                        let count = (Int(c.pointee.cmsg_len) - CDPosix_CMSG_LEN(0)) / MemoryLayout<CInt>.size
                        CDPosix_CMSG_DATA(c).withMemoryRebound(to: CInt.self, capacity: count) { p in
                            for i in 0..<count { fds.append(p[i]) }
                        }
                    }
                    cmsg = CDPosix_CMSG_NXTHDR(&msg, c)
                }
                return .message(Message(tag: bytePointer.pointee, descriptors: fds))
            }
        }
    }
}
