internal import CDPosix

#if canImport(Glibc)
    internal import Glibc
#endif

/// Messages with attached descriptors (SCM_RIGHTS) over a SEQPACKET socket. The single
/// implementation of descriptor passing, used by both the master and the workers.
public enum DescriptorChannel {
    /// The most descriptors one message may carry (SCM_MAX_FD is 253).
    public static let maxDescriptorsPerMessage = 64
    /// The largest message body.
    public static let maxPayload = 4096

    public enum SendResult: Equatable, Sendable {
        case sent
        /// The channel is full: nothing was sent, the caller keeps the descriptors.
        case wouldBlock
        /// The peer has gone (EPIPE, ECONNRESET).
        case peerGone
    }

    /// Sends `payload` (at least one byte) with `fds` attached, in one message. Never blocks.
    public static func send(_ channel: CInt, payload: [UInt8], fds: [CInt]) -> SendResult {
        precondition(
            !payload.isEmpty && payload.count <= maxPayload && fds.count <= maxDescriptorsPerMessage,
            "Internal inconsistency: control message of \(payload.count) bytes, \(fds.count) fds")
        let controlSize = fds.isEmpty ? 0 : CDPosix_CMSG_SPACE(MemoryLayout<CInt>.size * fds.count)
        return withUnsafeTemporaryAllocation(byteCount: max(controlSize, 8), alignment: 8) { control in
            // Read-only: sendmsg does not write through iov_base (a mutable copy of the payload
            // cost an allocation and a copy for every message, every hand-off).
            payload.withUnsafeBytes { body in
                var iov = iovec(iov_base: UnsafeMutableRawPointer(mutating: body.baseAddress), iov_len: body.count)
                return withUnsafeMutablePointer(to: &iov) { iovPointer in
                    var msg = msghdr()
                    msg.msg_iov = iovPointer
                    msg.msg_iovlen = 1
                    if !fds.isEmpty {
                        memset(control.baseAddress!, 0, controlSize)
                        msg.msg_control = control.baseAddress
                        msg.msg_controllen = controlSize
                        let cmsg = CDPosix_CMSG_FIRSTHDR(&msg)!
                        cmsg.pointee.cmsg_level = SOL_SOCKET
                        cmsg.pointee.cmsg_type = CInt(SCM_RIGHTS)
                        cmsg.pointee.cmsg_len = CDPosix_CMSG_LEN(MemoryLayout<CInt>.size * fds.count)
                        CDPosix_CMSG_DATA(cmsg).withMemoryRebound(to: CInt.self, capacity: fds.count) { p in
                            for (i, fd) in fds.enumerated() { p[i] = fd }
                        }
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

    /// One received message: its body and the descriptors that came with it.
    public struct Message {
        public var payload: [UInt8]
        public var descriptors: [CInt]
        /// The kernel could not attach every descriptor that was sent (MSG_CTRUNC): the receiver
        /// is at its descriptor limit, and the kernel closed those it could not install. A
        /// truncated message carries no descriptors: those that did arrive (`discarded` of them)
        /// have been closed as well, because keeping them would leave the receiver with no
        /// descriptor to spare for the connections and files it already holds.
        public var truncated = false
        public var discarded = 0
        public var tag: UInt8 { payload.first ?? 0 }
    }

    public enum ReceiveResult {
        case message(Message)
        case wouldBlock
        /// The peer closed its end.
        case closed
    }

    static let controlSize = CDPosix_CMSG_SPACE(MemoryLayout<CInt>.size * maxDescriptorsPerMessage)

    /// Receives one message without blocking. Received descriptors are close-on-exec.
    public static func receive(_ channel: CInt) throws(SystemError) -> ReceiveResult {
        try withUnsafeTemporaryAllocation(byteCount: controlSize, alignment: 8) { control throws(SystemError) in
            try withUnsafeTemporaryAllocation(byteCount: maxPayload, alignment: 8) { body throws(SystemError) in
                try receive(channel, body: body, control: control)
            }
        }
    }

    /// Buffers to receive into, kept by a reader that receives often (a worker's channel): a
    /// temporary buffer of `maxPayload` bytes is too large for the stack, so `receive(_:)`
    /// allocates it on the heap for every call, the one that finds nothing included.
    public final class Receiver: @unchecked Sendable {
        let body = UnsafeMutableRawBufferPointer.allocate(byteCount: maxPayload, alignment: 8)
        let control = UnsafeMutableRawBufferPointer.allocate(byteCount: controlSize, alignment: 8)

        public init() {}

        public func receive(_ channel: CInt) throws(SystemError) -> ReceiveResult {
            try DescriptorChannel.receive(channel, body: body, control: control)
        }

        deinit {
            body.deallocate()
            control.deallocate()
        }
    }

    static func receive(
        _ channel: CInt, body: UnsafeMutableRawBufferPointer, control: UnsafeMutableRawBufferPointer
    ) throws(SystemError) -> ReceiveResult {
        let controlSize = control.count
        var outcome: Result<ReceiveResult, SystemError> = .success(.wouldBlock)
        do {
            do {
                var iov = iovec(iov_base: body.baseAddress, iov_len: body.count)
                withUnsafeMutablePointer(to: &iov) { iovPointer in
                    var msg = msghdr()
                    msg.msg_iov = iovPointer
                    msg.msg_iovlen = 1
                    msg.msg_control = control.baseAddress
                    msg.msg_controllen = controlSize
                    var n = 0
                    while true {
                        n = recvmsg(channel, &msg, CInt(MSG_DONTWAIT) | CInt(MSG_CMSG_CLOEXEC))
                        if n >= 0 { break }
                        let e = errno
                        if e == EINTR { continue }
                        if e == EAGAIN || e == EWOULDBLOCK {
                            outcome = .success(.wouldBlock)
                            return
                        }
                        if e == ECONNRESET {
                            outcome = .success(.closed)
                            return
                        }
                        Posix.checkBug(e, "recvmsg")
                        outcome = .failure(SystemError(errno: e, call: "recvmsg"))
                        return
                    }
                    if n == 0 {
                        outcome = .success(.closed)
                        return
                    }
                    // The buffer is sized for the largest message we send, so a truncated control
                    // message means the receiver reached its descriptor limit: the kernel
                    // installed what it could (a prefix) and closed the rest. An error of the
                    // environment that the caller logs and survives, not a bug.
                    let truncated = msg.msg_flags & CInt(MSG_CTRUNC) != 0
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
                    let payload = Array(UnsafeRawBufferPointer(rebasing: body.prefix(n)))
                    if truncated {
                        for fd in fds { Posix.close(fd) }
                        outcome = .success(
                            .message(Message(payload: payload, descriptors: [], truncated: true, discarded: fds.count)))
                    } else {
                        outcome = .success(.message(Message(payload: payload, descriptors: fds)))
                    }
                }
            }
        }
        return try outcome.get()
    }
}
