"""The app of the --threads tests (ThreadTests): Flask routes that wait as a database call
would, show which thread ran them and what their thread-local state held, a WebSocket echo and
room, and a plain WSGI app (under /wsgi) whose response iterable records the thread of each of
its steps and of its close()."""
import hashlib
import os
import threading
import time

from flask import Flask, g, request, Response
from dispatchd.flask import WebSocket

flask_app = Flask(__name__)
ws = WebSocket(flask_app)
local = threading.local()
ROOM = set()
RELEASE = threading.Event()
# Django keeps a database connection per thread: one object per thread, made on first use.
_connections = threading.local()
_connection_ids = iter(range(1, 1 << 30))
_connection_lock = threading.Lock()
# The thread of each step of the plain app's responses, and of their close().
STEPS = []


def db_connection():
    conn = getattr(_connections, 'conn', None)
    if conn is None:
        with _connection_lock:
            conn = {'id': next(_connection_ids), 'thread': threading.get_ident()}
        _connections.conn = conn
    return conn


@flask_app.route('/sleep/<int:ms>')
def sleep(ms):
    time.sleep(ms / 1000)
    return '%s slept %d\n' % (threading.current_thread().name, ms)


@flask_app.route('/stuck')
def stuck():
    """A request that would run 30 s: it ends early once /release was called."""
    RELEASE.wait(30)
    return 'released\n'


@flask_app.route('/release')
def release():
    RELEASE.set()
    return 'ok\n'


@flask_app.route('/spin')
def spin():
    end = time.monotonic() + 60
    while time.monotonic() < end:  # spin: pure Python
        pass
    return 'spun\n'


@flask_app.route('/pid')
def pid():
    return str(os.getpid())


@flask_app.route('/context/<int:n>')
def context(n):
    """Flask's request context and g, a threading.local and a Django-style per-thread
    connection, read back after a wait in which other requests run on other threads."""
    g.n = n
    local.n = n
    conn = db_connection()
    time.sleep(0.02 + (n % 5) / 100)
    return '%s %s %s %s %d %d\n' % (
        request.args.get('n'), request.path, g.n, local.n, conn['id'], int(conn['thread'] == threading.get_ident()))


@flask_app.route('/thread')
def thread():
    return '%s multithread=%s\n' % (threading.current_thread().name, request.environ['wsgi.multithread'])


@flask_app.route('/post', methods=['POST'])
def post():
    body = request.get_data()
    return '%s len=%d sha256=%s\n' % (request.args.get('token'), len(body), hashlib.sha256(body).hexdigest())


@flask_app.route('/stream')
def stream():
    """n pieces, each naming the token and its index, with a short pause between them."""
    token = request.args.get('token', '')
    n = int(request.args.get('n', '10'))
    size = int(request.args.get('size', '100'))

    def pieces():
        for i in range(n):
            if i % 8 == 7:
                time.sleep(0.001)
            line = ('%s %d ' % (token, i)).encode()
            yield line + b'x' * max(0, size - len(line) - 1) + b'\n'
    return Response(pieces(), mimetype='text/plain')


@flask_app.route('/broadcast')
def broadcast():
    """An ordinary request, on a request thread, sends to the room's WebSockets."""
    message = request.query_string.decode()
    sent = 0
    for other in list(ROOM):
        if other.connected:
            other.send(message)
            sent += 1
    return 'sent to %d' % sent


@ws.route('/ws/echo')
def echo(client):
    while True:
        m = client.receive()
        if m is None:
            return
        client.send(m)


@ws.route('/ws/release')
def ws_release(client):
    """Releases the stuck requests when told to: from the loop's thread, when no request thread
    is free."""
    if client.receive() is not None:
        RELEASE.set()
        client.send('released')


@ws.route('/ws/room')
def room(client):
    ROOM.add(client)
    try:
        client.send('joined')
        while client.receive() is not None:
            pass
    finally:
        ROOM.discard(client)


class Recorded:
    """A response iterable that records the thread of each step and of close()."""

    def __init__(self, token, n):
        self.token = token
        self.n = n
        self.called = threading.get_ident()

    def __iter__(self):
        for i in range(self.n):
            STEPS.append((self.token, 'item', threading.get_ident() == self.called))
            yield b'x' * 65536

    def close(self):
        STEPS.append((self.token, 'close', threading.get_ident() == self.called))


def application(environ, start_response):
    path = environ.get('PATH_INFO', '')
    if path == '/wsgi/recorded':
        token = environ.get('QUERY_STRING', '')
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return Recorded(token, 64)
    if path == '/wsgi/steps':
        token = environ.get('QUERY_STRING', '')
        mine = [(kind, same) for (t, kind, same) in STEPS if t == token]
        body = ('%d items %d close %d elsewhere\n' % (
            sum(1 for k, _ in mine if k == 'item'), sum(1 for k, _ in mine if k == 'close'),
            sum(1 for _, same in mine if not same))).encode()
        start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
        return [body]
    return flask_app(environ, start_response)
