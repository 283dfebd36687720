#include "CDTLS.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

static int select_http11(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                         unsigned int inlen, void *arg) {
    (void)ssl;
    (void)arg;
    static const unsigned char ours[] = "\x08http/1.1";
    unsigned char *chosen = NULL;
    if (SSL_select_next_proto(&chosen, outlen, ours, sizeof(ours) - 1, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
        *out = chosen;
        return SSL_TLSEXT_ERR_OK;
    }
    // The client offers only other protocols (h2 alone, say): carry on without ALPN; it can
    // still speak HTTP/1.1 or give up.
    return SSL_TLSEXT_ERR_NOACK;
}

static SSL_CTX *fail(SSL_CTX *ctx, char *error, size_t size, const char *what, const char *file) {
    unsigned long code = ERR_peek_last_error();
    char reason[256] = "";
    if (code != 0) ERR_error_string_n(code, reason, sizeof reason);
    ERR_clear_error();
    if (file)
        snprintf(error, size, "%s %s: %s", what, file, reason[0] ? reason : strerror(errno));
    else
        snprintf(error, size, "%s: %s", what, reason[0] ? reason : "rejected");
    SSL_CTX_free(ctx);
    return NULL;
}

SSL_CTX *cdtls_server_context(const char *certificate, const char *key, const char *ciphers, int kernel_tls,
                              char *error, size_t error_size) {
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) return fail(NULL, error, error_size, "cannot make a TLS context", NULL);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    uint64_t options = SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION;
#ifdef SSL_OP_ENABLE_KTLS
    // Only where the kernel has it: elsewhere every connection would try it and fail.
    if (kernel_tls) options |= SSL_OP_ENABLE_KTLS;
#endif
    SSL_CTX_set_options(ctx, options);
    // Output is written from the connection's buffer, which may grow (move) between retries;
    // idle connections give their TLS buffers back.
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_alpn_select_cb(ctx, select_http11, NULL);
    // Records are read a buffer at a time rather than header, then body: half the reads.
    SSL_CTX_set_read_ahead(ctx, 1);
    static const unsigned char context_id[] = "dispatchd";
    SSL_CTX_set_session_id_context(ctx, context_id, sizeof context_id - 1);
    const char *key_file = key ? key : certificate;
    const char *files[2] = {certificate, key_file};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "r");
        if (!f) {
            snprintf(error, error_size, "cannot read the %s %s: %s", i == 0 ? "certificate" : "private key", files[i],
                     strerror(errno));
            SSL_CTX_free(ctx);
            return NULL;
        }
        fclose(f);
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, certificate) != 1)
        return fail(ctx, error, error_size, "cannot use the certificate", certificate);
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
            snprintf(error, error_size, "the private key %s does not match the certificate %s", key_file, certificate);
            ERR_clear_error();
            SSL_CTX_free(ctx);
            return NULL;
        }
        return fail(ctx, error, error_size, "cannot use the private key", key_file);
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        char what[512];
        snprintf(what, sizeof what, "the private key %s does not match the certificate", key_file);
        return fail(ctx, error, error_size, what, certificate);
    }
    if (ciphers && SSL_CTX_set_cipher_list(ctx, ciphers) != 1)
        return fail(ctx, error, error_size, "no usable cipher in", ciphers);
    return ctx;
}

static long outcome(SSL *ssl, int ok, size_t moved) {
    if (ok > 0) return (long)moved;
    switch (SSL_get_error(ssl, ok)) {
    case SSL_ERROR_WANT_READ:
        return CDTLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return CDTLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        return CDTLS_CLOSED;
    case SSL_ERROR_SYSCALL:
        // The peer closed (or reset) without a close_notify: the end of the connection.
        if (ERR_peek_error() == 0) return CDTLS_CLOSED;
        return CDTLS_FAILED;
    default:
        return CDTLS_FAILED;
    }
}

long cdtls_read(SSL *ssl, void *buffer, size_t size) {
    size_t n = 0;
    int ok = SSL_read_ex(ssl, buffer, size, &n);
    return outcome(ssl, ok, n);
}

long cdtls_write(SSL *ssl, const void *buffer, size_t size) {
    size_t n = 0;
    int ok = SSL_write_ex(ssl, buffer, size, &n);
    return outcome(ssl, ok, n);
}

long cdtls_sendfile(SSL *ssl, int fd, off_t offset, size_t size) {
    ossl_ssize_t n = SSL_sendfile(ssl, fd, offset, size, 0);
    if (n >= 0) return (long)n;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        ERR_clear_error();
        return CDTLS_WANT_WRITE;
    }
    return CDTLS_FAILED;
}

int cdtls_set_ticket_keys(SSL_CTX *ctx, const unsigned char *keys, size_t size) {
    return SSL_CTX_set_tlsext_ticket_keys(ctx, (void *)keys, (long)size) == 1 ? 1 : 0;
}

int cdtls_random(unsigned char *buffer, size_t size) {
    return RAND_bytes(buffer, (int)size) == 1 ? 1 : 0;
}

int cdtls_has_pending(SSL *ssl) {
    return SSL_has_pending(ssl);
}

int cdtls_kernel_sends(SSL *ssl) {
    return BIO_get_ktls_send(SSL_get_wbio(ssl)) ? 1 : 0;
}

void cdtls_last_error(char *buffer, size_t size) {
    unsigned long code = ERR_peek_last_error();
    buffer[0] = 0;
    if (code != 0) ERR_error_string_n(code, buffer, size);
    ERR_clear_error();
}
