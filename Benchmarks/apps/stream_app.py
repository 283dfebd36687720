"""A streamed response: 1 MiB as 16 pieces of 64 KiB from a generator (no Content-Length), for
comparing where a threaded server drives the iterable from."""

PIECE = b'x' * 65536


def app(environ, start_response):
    start_response('200 OK', [('Content-Type', 'application/octet-stream')])
    for _ in range(16):
        yield PIECE
