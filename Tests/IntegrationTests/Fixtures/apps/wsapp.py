"""WebSocket handlers the integration tests drive: the Flask API (blocking-style and async),
and uWSGI's websocket API."""
import os
import dispatchd
from flask import Flask
from dispatchd.flask import WebSocket

app = Flask(__name__)
ws = WebSocket(app)
EVENTS = os.environ.get('DISPATCHD_TEST_EVENTS')
ROOM = set()


def record(line):
    if EVENTS:
        with open(EVENTS, 'a') as f:
            f.write(line + '\n')


@app.route('/')
def index():
    return 'plain HTTP'


PAGE = """<!doctype html>
<html><head><title>Echo Test</title></head>
<body><h1>Echo Test</h1><ul id="log"></ul>
<script>
const log = (text) => { const li = document.createElement('li'); li.textContent = text; document.getElementById('log').appendChild(li); };
const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/echo';
const ws = new WebSocket(url);
ws.onopen = () => {
  log('Connected to ' + url);
  for (const m of ['one', 'twö', '✓ three']) { ws.send(m); log('Sent: ' + m); }
};
ws.onmessage = (e) => log('Got echo: ' + e.data);
ws.onclose = (e) => log('Closed: ' + e.code);
</script></body></html>"""


@app.route('/page')
def page():
    return PAGE


@app.route('/ws/echo')
def echo_http():
    return 'not a WebSocket request'


@ws.route('/ws/echo')
def echo(client):
    while True:
        m = client.receive()
        if m is None:
            record('echo: disconnected')
            return
        client.send(m)


@ws.route('/ws/pidecho')
def pidecho(client):
    """Says which worker runs it, then echoes."""
    client.send(str(os.getpid()))
    while True:
        m = client.receive()
        if m is None:
            return
        client.send(m)


@ws.route('/ws/slowecho')
def slowecho(client):
    """Works on each message for 5 s before it answers."""
    while (m := client.receive()) is not None:
        dispatchd.sleep(5)
        client.send(m)


@ws.route('/ws/aecho')
async def aecho(client):
    while True:
        m = await client.receive()
        if m is None:
            record('aecho: disconnected')
            return
        await client.send(m)


@ws.route('/ws/user/<int:n>')
def user(client, n):
    client.send('user %d %s' % (n, client.environ['PATH_INFO']))


@ws.route('/ws/timeout')
def timeout(client):
    m = client.receive(timeout=0.3)
    client.send('got %r' % (m,))
    client.send('connected %r' % client.connected)


@ws.route('/ws/ticker')
def ticker(client):
    for i in range(3):
        dispatchd.sleep(0.1)
        client.send('tick %d' % i)


@ws.route('/ws/stream')
def stream(client):
    for i in range(100):
        dispatchd.sleep(0.1)
        client.send('tick %d' % i)


@ws.route('/ws/aticker')
async def aticker(client):
    for i in range(3):
        await dispatchd.sleep(0.1)
        await client.send('atick %d' % i)


@ws.route('/ws/room')
def room(client):
    ROOM.add(client)
    try:
        while True:
            m = client.receive()
            if m is None:
                return
            for other in list(ROOM):
                if other.connected:
                    other.send(m)
    finally:
        ROOM.discard(client)


@app.route('/broadcast')
def broadcast():
    """An ordinary request sends to the room's WebSockets (it never waits on them)."""
    from flask import request
    message = request.query_string.decode()
    for other in list(ROOM):
        if other.connected:
            other.send(message)
    return 'sent to %d' % len(ROOM)


@app.route('/spin')
def spin_http():
    while True: pass  # http-spin: an ordinary request of this app, stuck


@app.route('/pid')
def pid():
    return str(os.getpid())


@ws.route('/ws/spin')
def ws_spin(client):
    client.receive()
    while True: pass  # ws-spin: a blocking-style handler's step, stuck


@ws.route('/ws/aspin')
async def ws_aspin(client):
    await client.receive()
    while True: pass  # ws-aspin: an async handler's step, stuck


@ws.route('/ws/fail')
def fail(client):
    client.receive()
    raise RuntimeError('handler failed on purpose')


@ws.route('/ws/big')
def big(client):
    n = int(client.receive())
    client.send_binary(b'b' * n)
    client.send('done')


@ws.route('/ws/close')
def close(client):
    client.close(4000, 'bye now')
    record('close: receive after close -> %r' % (client.receive(),))


def uwsgi_app(environ, start_response):
    """uWSGI's API, as code written for uWSGI uses it."""
    import uwsgi
    uwsgi.websocket_handshake(environ['HTTP_SEC_WEBSOCKET_KEY'], environ.get('HTTP_ORIGIN', ''))
    while True:
        try:
            msg = uwsgi.websocket_recv()
        except OSError:
            record('uwsgi: disconnected')
            return []
        uwsgi.websocket_send(msg)
        uwsgi.websocket_send_binary(b'bin:' + msg)


@ws.route('/ws/flood')
def flood(client):
    """Sends 200 x 64 KiB to a client that may not read: send() queues up to its bound, then
    suspends this handler only."""
    for i in range(200):
        client.send_binary(bytes([i]) * 65536)
        record('flood sent %d' % i)
    client.send('flood done')
    client.receive()


def proto_app(environ, start_response):
    """Picks the 'chat' subprotocol (raising OSError when the client did not offer it), and
    polls with websocket_recv_nb."""
    dispatchd.websocket_handshake(proto='chat')
    while True:
        m = dispatchd.websocket_recv_nb()
        if m:
            dispatchd.websocket_send(b'nb:' + m)
            return []
        dispatchd.sleep(0.01)


def sleep_first_app(environ, start_response):
    """dispatchd.sleep before the handshake (an ordinary request still), then a WebSocket."""
    dispatchd.sleep(0.05)
    dispatchd.websocket_handshake()
    dispatchd.sleep(0.05)
    dispatchd.websocket_send(b'slept before and after the handshake')
    return []


def native_app(environ, start_response):
    """Uses environ['dispatchd.websocket'], the connection's native object, directly."""
    sock = environ.get('dispatchd.websocket')
    if sock is None:
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'no dispatchd.websocket in an ordinary request']
    before = (sock.upgraded(), sock.connected())
    sock.handshake(None)
    sock.send('before %r, after %r' % (before, (sock.upgraded(), sock.connected())))
    message = dispatchd.websocket_recv()
    sock.send(b'native:' + message)
    sock.close(4002, 'native close')
    return []


def closed_app(environ, start_response):
    """uWSGI-style: catches dispatchd.WebSocketClosed when the client leaves (or lets it
    propagate, which is not an error)."""
    dispatchd.websocket_handshake()
    dispatchd.websocket_send(b'ready')
    try:
        while True:
            dispatchd.websocket_recv()
    except dispatchd.WebSocketClosed as e:
        record('closed: %s %s' % (type(e).__name__, isinstance(e, OSError)))
        if environ['PATH_INFO'] == '/reraise':
            raise
    return []
