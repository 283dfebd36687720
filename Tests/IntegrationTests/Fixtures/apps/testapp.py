"""The stdlib-only WSGI app the integration tests drive: one route per behaviour."""
import errno
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import wsgiref.validate

CLOSE_LOG = os.environ.get('DISPATCHD_TEST_CLOSE_LOG')
PROGRESS_LOG = os.environ.get('DISPATCHD_TEST_PROGRESS_LOG')
GROWN = []
# Descriptors /fill-fds holds until /release-fds.
HELD_FDS = []


def record_close(tag):
    if CLOSE_LOG:
        with open(CLOSE_LOG, 'a') as f:
            f.write(tag + '\n')


def text(start_response, body, status='200 OK', headers=()):
    data = body.encode('utf-8') if isinstance(body, str) else body
    start_response(status, [('Content-Type', 'text/plain')] + list(headers))
    return [data]


class Tracked:
    """A response iterable that records close() in CLOSE_LOG."""
    def __init__(self, tag, chunks, delay=0.0):
        self.tag, self.chunks, self.delay = tag, chunks, delay

    def __iter__(self):
        for c in self.chunks:
            if self.delay:
                time.sleep(self.delay)
            yield c

    def close(self):
        record_close(self.tag)


def hello(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '13')])
    return [b'Hello, World!']


validated_hello = wsgiref.validate.validator(hello)


def application(environ, start_response):
    path = environ['PATH_INFO']
    qs = environ['QUERY_STRING']
    inp = environ['wsgi.input']

    if path == '/' or path == '/hello':
        return hello(environ, start_response)
    if path == '/validated':
        return validated_hello(environ, start_response)
    if path.startswith('/environ'):
        out = {k: v for k, v in environ.items() if isinstance(v, str)}
        out['wsgi.version'] = list(environ['wsgi.version'])
        for k in ('wsgi.multithread', 'wsgi.multiprocess', 'wsgi.run_once', 'wsgi.input_terminated'):
            out[k] = environ[k]
        out['has_file_wrapper'] = callable(environ.get('wsgi.file_wrapper'))
        out['errors_is_stderr'] = environ['wsgi.errors'] is sys.stderr
        body = json.dumps(out).encode()
        start_response('200 OK', [('Content-Type', 'application/json'), ('Content-Length', str(len(body)))])
        return [body]
    if path == '/echo':
        mode = qs or 'read'
        if mode == 'read':
            data = inp.read()
        elif mode == 'readn':
            parts = []
            while True:
                b = inp.read(7)
                if not b:
                    break
                parts.append(b)
            data = b''.join(parts)
        elif mode == 'readline':
            parts = []
            while True:
                line = inp.readline()
                if not line:
                    break
                parts.append(b'[' + line + b']')
            data = b''.join(parts)
        elif mode == 'readline5':
            data = b'|'.join(iter(lambda: inp.readline(5), b''))
        elif mode == 'readlines':
            data = b'|'.join(inp.readlines())
        elif mode == 'iter':
            data = b'|'.join(inp)
        else:
            data = b'bad mode'
        return text(start_response, data)
    if path == '/content-length':
        # An app trusts CONTENT_LENGTH as a number: int() must read it, and it must be the
        # length of the body wsgi.input gives.
        declared = int(environ['CONTENT_LENGTH'])
        data = inp.read()
        return text(start_response, '%d %d %r' % (declared, len(data), data))
    if path == '/echo-error':
        try:
            inp.read()
        except OSError as e:
            return text(start_response, 'OSError:%s:%s' % (type(e).__name__, e), status='400 Bad Body')
        return text(start_response, 'no error')
    if path == '/noread':
        return text(start_response, 'ignored your body')
    if path == '/gen':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return (b'chunk%d;' % i for i in range(5))
    if path == '/empty-chunks':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return iter([b'', b'a', b'', b'b'])
    if path == '/write':
        write = start_response('200 OK', [('Content-Type', 'text/plain')])
        write(b'written;')
        return [b'returned']
    if path.startswith('/status/'):
        code = int(path.rsplit('/', 1)[1])
        start_response('%d Status' % code, [('Content-Type', 'text/plain'), ('Content-Length', '4')])
        return [b'body']
    if path == '/error':
        raise RuntimeError('boom in the app')
    if path == '/error-after':
        def gen():
            yield b'partial'
            raise RuntimeError('boom after headers')
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return gen()
    if path == '/excinfo':
        try:
            start_response('200 OK', [('Content-Type', 'text/plain')])
            raise ValueError('oops')
        except ValueError:
            start_response('503 Recovered', [('Content-Type', 'text/plain')], sys.exc_info())
        return [b'recovered']
    if path == '/excinfo-late':
        write = start_response('200 OK', [('Content-Type', 'text/plain')])
        write(b'started;')
        try:
            raise ValueError('late failure')
        except ValueError:
            # PEP 3333: with headers sent, start_response re-raises the exception.
            start_response('500 Too Late', [], sys.exc_info())
        return [b'unreachable']
    if path == '/badheader':
        start_response('200 OK', [('X-Bad', 'a\r\nInjected: yes')])
        return [b'never']
    if path == '/badname':
        start_response('200 OK', [('X Bad', 'v')])
        return [b'never']
    if path == '/notbytes':
        start_response('200 OK', [])
        return ['a str']
    if path == '/nostart':
        return [b'no start_response']
    if path == '/file':
        f = tempfile.TemporaryFile()
        f.write(b'0123456789' * 10000)
        f.seek(5)
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return environ['wsgi.file_wrapper'](f, 4096)
    if path == '/filelike':
        import io
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return environ['wsgi.file_wrapper'](io.BytesIO(b'from a BytesIO'), 4)
    if path == '/tracked':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return Tracked(qs or 'tracked', [b'a', b'b'])
    if path == '/slow-tracked':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return Tracked(qs or 'slow', [b'x' * 65536] * 200, delay=0.01)
    if path == '/cl-short':
        start_response('200 OK', [('Content-Length', '10')])
        return [b'12345']
    if path == '/cl-long':
        start_response('200 OK', [('Content-Length', '3')])
        return [b'123456']
    if path == '/close-header':
        start_response('200 OK', [('Content-Length', '2'), ('Connection', 'close')])
        return [b'ok']
    if path == '/sleep':
        time.sleep(float(qs or '1'))
        return text(start_response, 'slept')
    if path == '/grow':
        # Holds N MiB more for the life of the worker (touched, so it is resident).
        GROWN.append(bytearray(b'g' * (int(qs or '1') << 20)))
        return text(start_response, str(os.getpid()))
    if path == '/pid':
        return text(start_response, str(os.getpid()))
    if path == '/orphan':
        # A subprocess that leaves its own child behind (a daemonized grandchild): it records its
        # parent after its parent has exited, then exits itself, to be reaped by someone.
        code = ('import os, sys, time; time.sleep(0.3); '
                'open(sys.argv[1] + ".tmp", "w").write("%d %d" % (os.getppid(), os.getpid())); '
                'os.rename(sys.argv[1] + ".tmp", sys.argv[1]); time.sleep(0.2)')
        import shlex
        import subprocess
        subprocess.run(['sh', '-c', '%s -c %s %s &' % (shlex.quote(sys.executable), shlex.quote(code),
                                                       shlex.quote(qs))], check=True)
        return text(start_response, 'spawned')
    if path == '/print':
        # Prints lines for qs seconds, a little at a time (so that workers print at once).
        end = time.monotonic() + float(qs or '0.5')
        i = 0
        while time.monotonic() < end:
            print('worker %d line %d %s' % (os.getpid(), i, 'x' * 80))
            i += 1
            if i % 20 == 0:
                time.sleep(0.001)
        return text(start_response, 'printed')
    # --timeout: requests stuck in Python, in C, or past their interruption. The tests find the
    # line of each by its comment, in the stacks the worker logs.
    if path == '/spin':
        while True: pass  # spin: pure Python
    if path == '/sleep-long':
        time.sleep(60)  # sleep-long: in C, interrupted (EINTR)
    if path == '/read-forever':
        a, b = socket.socketpair()
        a.recv(1)  # read-forever: a blocking read without a timeout, interrupted too
    if path == '/spin-stubborn':
        # (A loop with a body: CPython 3.11 does not catch an exception raised in the jump of a
        # bare `while True: pass` with the try around it.)
        n = 0
        try:
            while True:
                n += 1  # spin-stubborn: interrupted
        except BaseException:
            while True:
                n += 1  # spin-stubborn: ignores the exception
    if path == '/stuck-in-c':
        signal.sigwait([signal.SIGUSR1])  # stuck-in-c: glibc retries it after EINTR, never returns
    if path == '/timeout-after-head':
        def slow():
            yield b'head;'
            time.sleep(60)  # timeout-after-head: the response has begun
            yield b'never'
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return slow()
    if path == '/sigusr2':
        return text(start_response, str(signal.getsignal(signal.SIGUSR2)))
    if path == '/fill-fds':
        # Takes every free descriptor, as an app that leaks files would: the worker's next
        # hand-off finds none, though its count of connections says it has room.
        while True:
            try:
                HELD_FDS.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
            except OSError as e:
                if e.errno != errno.EMFILE:
                    raise
                break
        return text(start_response, str(len(HELD_FDS)))
    if path == '/release-fds':
        n = len(HELD_FDS)
        while HELD_FDS:
            os.close(HELD_FDS.pop())
        return text(start_response, str(n))
    if path == '/thread':
        result = []
        t = threading.Thread(target=lambda: result.append(sum(range(1000))))
        t.start()
        t.join(5)
        return text(start_response, 'thread:%s' % result)
    if path == '/background-thread':
        # A thread started by one request keeps running between requests.
        global BG
        if 'BG' not in globals():
            BG = {'n': 0}

            def tick():
                while True:
                    BG['n'] += 1
                    time.sleep(0.01)
            threading.Thread(target=tick, daemon=True).start()
        return text(start_response, str(BG['n']))
    if path == '/digest':
        # Reads the body in pieces: its length and Adler-32.
        import zlib
        a, n = 1, 0
        while True:
            b = inp.read(65536)
            if not b:
                break
            a = zlib.adler32(b, a)
            n += len(b)
        return text(start_response, '%d:%08x' % (n, a))
    if path == '/stream':
        # A generator of N 64 KiB pieces (no Content-Length: chunked).
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return Tracked('stream', [b's' * 65536] * int(qs or '16'))
    if path == '/bigfile':
        f = tempfile.TemporaryFile()
        f.write(b'f' * int(qs or '1000000'))
        f.seek(0)
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return environ['wsgi.file_wrapper'](f)
    if path == '/events':
        # Server-sent-events style: each piece must reach the client before the next exists.
        def events():
            yield b'first\n'
            time.sleep(0.5)
            yield b'second\n'
        start_response('200 OK', [('Content-Type', 'text/event-stream')])
        return events()
    if path == '/write-progress':
        # N pieces of 64 KiB through write(), each recorded in PROGRESS_LOG once write() returns.
        n = int(qs or '64')
        write = start_response('200 OK', [('Content-Type', 'application/octet-stream'),
                                          ('Content-Length', str(n * 65536))])
        for i in range(n):
            write(b'w' * 65536)
            if PROGRESS_LOG:
                with open(PROGRESS_LOG, 'a') as f:
                    f.write('wrote %d\n' % (i + 1))
        return []
    if path == '/big':
        n = int(qs or '1000000')
        return text(start_response, b'x' * n)
    if path == '/corpus':
        return corpus(environ, start_response)
    return text(start_response, 'not found: ' + path, status='404 Not Found')


def corpus(environ, start_response):
    """Echoes what the server parsed, with status 299 so tests can tell the app answered."""
    body = environ['wsgi.input'].read()
    out = {
        'method': environ['REQUEST_METHOD'],
        'raw_uri': environ['RAW_URI'],
        'path': environ['PATH_INFO'],
        'query': environ['QUERY_STRING'],
        'protocol': environ['SERVER_PROTOCOL'],
        'environ': {k: v for k, v in environ.items() if k.startswith('HTTP_') or k.startswith('CONTENT_')},
        'body': body.decode('latin-1'),
    }
    data = json.dumps(out).encode()
    start_response('299 Seen', [('Content-Type', 'application/json'), ('Content-Length', str(len(data)))])
    return [data]


def corpus_app(environ, start_response):
    return corpus(environ, start_response)
