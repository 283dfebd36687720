// C shim for OpenSSL's libssl: what Swift cannot reach directly (SSL_CTX_set_mode and the other
// ctrl macros, the ALPN selection callback) and the server context's set-up in one call.
// Imported only by the Swift module DTLS.
#ifndef CDTLS_H
#define CDTLS_H

// libc first (Docs/platform-notes.md, "C shim headers"), then OpenSSL.
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <openssl/ssl.h>
#include <openssl/err.h>

/// A server context: TLS 1.2 and 1.3, ALPN http/1.1, partial writes from a buffer that may
/// move, no renegotiation, kernel TLS when the kernel has it. `key` may be NULL (the key is in
/// the certificate file); `ciphers` may be NULL (OpenSSL's defaults). On failure: NULL, with
/// the reason (naming the file) in `error`.
SSL_CTX *cdtls_server_context(const char *certificate, const char *key, const char *ciphers, int kernel_tls,
                              char *error, size_t error_size);

/// Session tickets sealed with these 80 bytes (name, HMAC and AES keys), the same in every
/// worker, so a client resumes its session whichever worker it reaches; 1 on success.
int cdtls_set_ticket_keys(SSL_CTX *ctx, const unsigned char *keys, size_t size);

/// 80 random bytes for that, from OpenSSL's generator; 1 on success.
int cdtls_random(unsigned char *buffer, size_t size);

/// One step's outcome, for the Swift side: > 0 bytes; 0 nothing yet (CDTLS_WANT_*), or the
/// connection's end (CDTLS_CLOSED, CDTLS_FAILED).
enum {
    CDTLS_WANT_READ = -1,
    CDTLS_WANT_WRITE = -2,
    CDTLS_CLOSED = -3,
    CDTLS_FAILED = -4,
};

/// Whether OpenSSL holds bytes not yet returned (decrypted, or read ahead from the socket).
int cdtls_has_pending(SSL *ssl);

/// SSL_read / SSL_write / SSL_sendfile, with the error queue cleared on failure: bytes moved,
/// or a CDTLS_* code. A handshake still under way runs first.
long cdtls_read(SSL *ssl, void *buffer, size_t size);
long cdtls_write(SSL *ssl, const void *buffer, size_t size);
long cdtls_sendfile(SSL *ssl, int fd, off_t offset, size_t size);

/// The kernel encrypts what is sent (kernel TLS), so SSL_sendfile works.
int cdtls_kernel_sends(SSL *ssl);

/// The reason for the last CDTLS_FAILED on this thread (OpenSSL's error queue), or "".
void cdtls_last_error(char *buffer, size_t size);

#endif
