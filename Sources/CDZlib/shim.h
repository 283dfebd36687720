// libc first (Docs/platform-notes.md, "C shim headers"), then zlib: raw deflate for
// WebSocket permessage-deflate (RFC 7692). deflateInit2/inflateInit2 are macros: wrapped here.
#include <stddef.h>
#include <zlib.h>

static inline int CDZlib_deflateInit(z_stream *s, int windowBits) {
    return deflateInit2(s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -windowBits, 8, Z_DEFAULT_STRATEGY);
}
static inline int CDZlib_inflateInit(z_stream *s) { return inflateInit2(s, -15); }
