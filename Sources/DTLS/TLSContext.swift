internal import CDTLS
internal import Glibc

/// A server's TLS settings, made once per HTTPS listener in each worker (and once in the master
/// to check the files at start-up): its certificate chain and private key, read when it is
/// made, so a worker started after a SIGHUP reads the files anew.
public final class TLSContext: @unchecked Sendable {
    // An SSL_CTX is safe to share between threads once configured; nothing changes it after init.
    let context: OpaquePointer

    /// `key`: nil when the key is in the certificate file. `ciphers`: an OpenSSL cipher list for
    /// TLS 1.2 (TLS 1.3's suites are OpenSSL's defaults); nil for OpenSSL's defaults.
    /// `ticketKeys`: `newTicketKeys()`'s bytes, the same in every worker (nil: OpenSSL's own,
    /// this process's alone).
    public init(certificate: String, key: String?, ciphers: String?, ticketKeys: [UInt8]? = nil) throws(TLSError) {
        var error = [CChar](repeating: 0, count: 1024)
        let kernelTLS: Int32 = Self.kernelTLSAvailable ? 1 : 0
        let made = error.withUnsafeMutableBufferPointer { e in
            cdtls_server_context(certificate, key, ciphers, kernelTLS, e.baseAddress, e.count)
        }
        guard let made else {
            throw TLSError(
                message: String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        context = made
        if let ticketKeys {
            guard ticketKeys.count == Self.ticketKeysSize,
                ticketKeys.withUnsafeBufferPointer({ cdtls_set_ticket_keys(made, $0.baseAddress, $0.count) }) == 1
            else {
                SSL_CTX_free(made)
                throw TLSError(message: "cannot set the session ticket keys")
            }
        }
    }

    /// The OpenSSL the binary was built with (its headers), and the one it runs with.
    public static let builtVersion: String = OPENSSL_VERSION_TEXT
    public static var runningVersion: String { String(cString: OpenSSL_version(OPENSSL_VERSION)) }

    /// A ticket key's size: name, HMAC key and AES key.
    public static let ticketKeysSize = 80

    /// Fresh random ticket keys, made once by the master and given to every worker, so a client
    /// resumes its session (an abbreviated handshake) on whichever worker it reaches.
    public static func newTicketKeys() -> [UInt8]? {
        var keys = [UInt8](repeating: 0, count: ticketKeysSize)
        let ok = keys.withUnsafeMutableBufferPointer { cdtls_random($0.baseAddress, $0.count) }
        return ok == 1 ? keys : nil
    }

    deinit { SSL_CTX_free(context) }

    /// A server-side session on the connected socket `fd` (which stays the caller's to close);
    /// nil only when OpenSSL is out of memory.
    public func session(fd: CInt) -> TLSSession? {
        guard let ssl = SSL_new(context) else { return nil }
        SSL_set_fd(ssl, fd)
        SSL_set_accept_state(ssl)
        return TLSSession(ssl)
    }

    /// Whether the kernel can encrypt for sendfile here (Linux's `tls` TCP upper-layer protocol
    /// is loaded); without it, files over TLS are copied through the session in bounded chunks.
    public static var kernelTLSAvailable: Bool {
        guard let file = fopen("/proc/sys/net/ipv4/tcp_available_ulp", "r") else { return false }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        guard fgets(&line, Int32(line.count), file) != nil else { return false }
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text.split(whereSeparator: { $0 == " " || $0 == "\n" }).contains("tls")
    }
}
