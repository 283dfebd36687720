"""The WSGI app of the in-process bridge tests (Tests/DWSGITests): one route per behaviour."""
import json
import sys
import traceback

import dispatchd

# Tags of the response iterables whose close() ran (read back with /closed?TAG).
closed = set()


def text(start_response, body, status='200 OK', headers=()):
    start_response(status, [('Content-Type', 'text/plain')] + list(headers))
    return [body.encode('utf-8') if isinstance(body, str) else body]


class Closing:
    """A response iterable that records its close(); `fail_at` makes the iteration raise."""

    def __init__(self, tag, chunks, fail_at=None):
        self.tag, self.chunks, self.fail_at = tag, chunks, fail_at

    def __iter__(self):
        for i, chunk in enumerate(self.chunks):
            if i == self.fail_at:
                raise RuntimeError('iteration failed on purpose')
            yield chunk

    def close(self):
        closed.add(self.tag)


def list_response(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'hello ', b'world']


def generator(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    yield b'ab'
    yield b''
    yield b'cde'


def declared_length(environ, start_response):
    start_response('200 OK', [('Content-Length', '5')])
    yield b'abc'
    yield b'de'


def big(environ, start_response):
    """40 pieces of 16 KiB: more than a step leaves unsent, so a slow client gets it in steps."""
    start_response('200 OK', [('Content-Type', 'application/octet-stream')])
    for i in range(40):
        yield bytes([65 + i % 26]) * 16384


def raises(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    raise ValueError('the app failed on purpose')


def raises_late(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    yield b'partial'
    raise ValueError('the app failed after its head was out')


def times_out(environ, start_response):
    """As if --timeout interrupted it before its head (the exception the signal handler raises)."""
    start_response('200 OK', [('Content-Type', 'text/plain')])
    raise dispatchd.RequestTimeout('the request has run for 1.0 s (timeout 1 s)')


def times_out_late(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    yield b'partial'
    raise dispatchd.RequestTimeout('the request has run for 1.0 s (timeout 1 s)')


def catches_exception(environ, start_response):
    """`except Exception` in an application does not swallow the timeout."""
    try:
        raise dispatchd.RequestTimeout('interrupted')
    except Exception:
        return text(start_response, 'swallowed')


def str_body(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return ['not bytes']


def no_start(environ, start_response):
    return [b'body without start_response']


def write(environ, start_response):
    w = start_response('200 OK', [('Content-Type', 'text/plain')])
    w(b'written ')
    return [b'and returned']


def write_large(environ, start_response):
    """400 KiB through write(): more than may stay unsent, so write() waits for the client."""
    w = start_response('200 OK', [('Content-Length', str(400 * 1024))])
    for i in range(4):
        w(bytes([97 + i]) * (100 * 1024))
    return []


def write_gone(environ, start_response):
    w = start_response('200 OK', [('Content-Type', 'text/plain')])
    try:
        w(b'nobody reads this')
    except dispatchd.ClientDisconnected as e:
        closed.add('write-gone-%s' % type(e).__name__)
        raise
    return []


def echo(environ, start_response):
    body = environ['wsgi.input'].read()
    return text(start_response, b'%s %s' % (environ.get('CONTENT_LENGTH', '-').encode(), body))


def lines(environ, start_response):
    """The body's pieces as read() and readline() cut them."""
    inp = environ['wsgi.input']
    pieces = [inp.readline(), inp.readline(2), inp.readline(), inp.read(3), inp.readline(-1), inp.read(), inp.read()]
    return text(start_response, json.dumps([p.decode() for p in pieces]))


def iterate(environ, start_response):
    return text(start_response, json.dumps([line.decode() for line in environ['wsgi.input']]))


def closing(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return Closing(environ['QUERY_STRING'], [b'one', b'two'])


def closing_fails(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return Closing(environ['QUERY_STRING'], [b'one', b'two'], fail_at=0)


def closing_big(environ, start_response):
    start_response('200 OK', [('Content-Type', 'application/octet-stream')])
    return Closing(environ['QUERY_STRING'], [b'x' * 16384] * 40)


def was_closed(environ, start_response):
    return text(start_response, 'yes' if environ['QUERY_STRING'] in closed else 'no')


def file(environ, start_response):
    """This file, from the offset in the query string, through wsgi.file_wrapper."""
    f = open(__file__, 'rb')
    f.seek(int(environ['QUERY_STRING'] or 0))
    start_response('200 OK', [('Content-Type', 'text/x-python')])
    return environ['wsgi.file_wrapper'](f)


def environ_keys(environ, start_response):
    keys = ['REQUEST_METHOD', 'PATH_INFO', 'QUERY_STRING', 'SERVER_PROTOCOL', 'HTTP_X_TEST', 'REMOTE_ADDR',
            'wsgi.url_scheme', 'wsgi.input_terminated']
    return text(start_response, json.dumps({k: environ.get(k) for k in keys}))


def bootstrap_traceback(environ, start_response):
    """A traceback from inside dispatchd_core.py, as the traceback module formats it."""
    try:
        dispatchd._load_app('bridge_app', 'no_such_callable', None)
    except AttributeError:
        return text(start_response, traceback.format_exc())
    return text(start_response, 'no error', status='500 Internal Server Error')


def flask_module(environ, start_response):
    from dispatchd.flask import WebSocket
    import dispatchd.flask as module
    return text(start_response, json.dumps({
        'file': module.__file__,
        'code': WebSocket.route.__code__.co_filename,
        'doc': module.__doc__.splitlines()[0],
        'registered': sys.modules['dispatchd.flask'] is module,
        'attribute': dispatchd.flask is module,
    }))


ROUTES = {
    '/list': list_response, '/generator': generator, '/declared': declared_length, '/big': big,
    '/raise': raises, '/raise-late': raises_late, '/str-body': str_body, '/no-start': no_start,
    '/times-out': times_out, '/times-out-late': times_out_late, '/catches-exception': catches_exception,
    '/write': write, '/write-large': write_large, '/write-gone': write_gone,
    '/echo': echo, '/lines': lines, '/iterate': iterate,
    '/closing': closing, '/closing-fails': closing_fails, '/closing-big': closing_big, '/closed': was_closed,
    '/file': file, '/environ': environ_keys,
    '/bootstrap-traceback': bootstrap_traceback, '/flask': flask_module,
}


def application(environ, start_response):
    return ROUTES[environ['PATH_INFO']](environ, start_response)
