// libc first (Docs/platform-notes.md, "C shim headers"), then zlib: raw deflate for
// WebSocket permessage-deflate (RFC 7692). deflateInit2/inflateInit2 are macros: wrapped here.
#include <stddef.h>
#include <stdlib.h>
#include <zlib.h>

// zlib's allocations for a stream, counted: `opaque` points to the stream's byte count, and
// each block carries its size in front of it (16 bytes, so the block stays aligned as malloc's).
static inline voidpf CDZlib_alloc(voidpf opaque, uInt items, uInt size) {
    size_t bytes = (size_t)items * size;
    size_t *block = (size_t *)malloc(bytes + 16);
    if (block == NULL) return Z_NULL;
    block[0] = bytes;
    *(size_t *)opaque += bytes;
    return (voidpf)((char *)block + 16);
}
static inline void CDZlib_free(voidpf opaque, voidpf address) {
    size_t *block = (size_t *)((char *)address - 16);
    *(size_t *)opaque -= block[0];
    free(block);
}

static inline int CDZlib_deflateInit(z_stream *s, int windowBits, int memLevel, size_t *allocated) {
    s->zalloc = CDZlib_alloc;
    s->zfree = CDZlib_free;
    s->opaque = allocated;
    return deflateInit2(s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -windowBits, memLevel, Z_DEFAULT_STRATEGY);
}
static inline int CDZlib_inflateInit(z_stream *s, int windowBits, size_t *allocated) {
    s->zalloc = CDZlib_alloc;
    s->zfree = CDZlib_free;
    s->opaque = allocated;
    return inflateInit2(s, -windowBits);
}
