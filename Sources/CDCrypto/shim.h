// libc first (Docs/platform-notes.md, "C shim headers"), then OpenSSL's libcrypto: SHA-1
// for the WebSocket handshake's accept value.
#include <stddef.h>
#include <openssl/sha.h>
