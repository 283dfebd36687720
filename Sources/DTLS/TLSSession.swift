internal import CDTLS

/// One connection's TLS session: the handshake (run by the first read), then records in both
/// directions over a non-blocking socket. Used by one thread at a time: the worker's loop, or
/// the request thread that has the connection.
public final class TLSSession {
    let ssl: OpaquePointer

    init(_ ssl: OpaquePointer) { self.ssl = ssl }

    deinit { SSL_free(ssl) }

    /// What a read or write did.
    public enum Outcome: Equatable, Sendable {
        /// Bytes moved (a read of 0 does not happen: that is `closed`).
        case done(Int)
        /// Nothing until the socket is readable (or writable) again; a handshake under way
        /// waits the same way.
        case wantRead, wantWrite
        /// The peer ended the session (close_notify, or the connection's end).
        case closed
        /// A protocol error (a failed handshake, a bad record): the connection is over.
        case failed(String)
    }

    /// Decrypted bytes into `buffer`; a handshake still under way runs first.
    public func read(into buffer: UnsafeMutableRawBufferPointer) -> Outcome {
        outcome(cdtls_read(ssl, buffer.baseAddress, buffer.count))
    }

    public func write(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        outcome(cdtls_write(ssl, bytes.baseAddress, bytes.count))
    }

    /// A file's bytes straight from the kernel (only when `kernelSends`).
    public func sendFile(_ fd: CInt, offset: Int, count: Int) -> Outcome {
        outcome(cdtls_sendfile(ssl, fd, off_t(offset), count))
    }

    /// OpenSSL holds bytes (decrypted, or read ahead from the socket) that the socket will not
    /// signal again.
    public var hasPending: Bool { cdtls_has_pending(ssl) == 1 }

    public var handshakeDone: Bool { SSL_is_init_finished(ssl) == 1 }

    /// No byte of a handshake has been read yet.
    public var notStarted: Bool { SSL_in_before(ssl) == 1 }

    /// The kernel encrypts what is sent on this connection (kernel TLS), so `sendFile` works.
    public var kernelSends: Bool { cdtls_kernel_sends(ssl) == 1 }

    /// Says close_notify (once, without waiting for the peer's); the socket is closed by its
    /// owner afterwards.
    public func shutdown() {
        guard handshakeDone else { return }
        if SSL_shutdown(ssl) < 0 { _ = lastError() }
    }

    func outcome(_ n: Int) -> Outcome {
        switch n {
        case 0...: .done(n)
        case CDTLS_WANT_READ: .wantRead
        case CDTLS_WANT_WRITE: .wantWrite
        case CDTLS_CLOSED: .closed
        default: .failed(lastError())
        }
    }

    func lastError() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        buffer.withUnsafeMutableBufferPointer { cdtls_last_error($0.baseAddress, $0.count) }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
