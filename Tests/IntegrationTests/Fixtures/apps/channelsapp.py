"""dispatchd.channels across workers: subscribers in every worker, publishers in handlers and
in ordinary requests (dispatchd.flask's client API, dispatchd.channels, uWSGI's API)."""
import os
import dispatchd
import dispatchd.channels
from flask import Flask, request
from dispatchd.flask import WebSocket

app = Flask(__name__)
ws = WebSocket(app)


@app.route('/pid')
def pid():
    return str(os.getpid())


@app.route('/publish')
def publish():
    """Publishes `count` numbered messages to `room` from an ordinary request."""
    room = request.args['room']
    count = int(request.args.get('count', '1'))
    prefix = request.args.get('prefix', str(os.getpid()))
    size = int(request.args.get('size', '0'))
    pad = 'x' * size
    for i in range(count):
        dispatchd.channels.publish(room, '%s %d%s' % (prefix, i, pad))
    return 'published %d from %d' % (count, os.getpid())


@app.route('/publish-binary')
def publish_binary():
    dispatchd.channels.publish(request.args['room'], bytearray(b'\x00\x01binary'))
    return 'ok'


@app.route('/bad')
def bad():
    """Wrong arguments get clear Python errors."""
    out = []
    for call in (lambda: dispatchd.channels.publish(1, 'x'), lambda: dispatchd.channels.publish('', 'x'),
                 lambda: dispatchd.channels.publish('r', 3), lambda: dispatchd.channels.subscribe(object(), 'r'),
                 lambda: dispatchd.channels.subscribe(None, 'r')):
        try:
            call()
            out.append('no error')
        except Exception as e:
            out.append('%s: %s' % (type(e).__name__, e))
    return '\n'.join(out)


@ws.route('/sub/<room>')
def sub(client, room):
    """Subscribes, says its worker's pid, then: a message 'publish N' publishes N numbered
    messages to the room from this handler, 'leave' unsubscribes; the rest is ignored."""
    client.subscribe(room)
    client.send('subscribed %d' % os.getpid())
    while True:
        m = client.receive()
        if m is None:
            return
        if m.startswith('publish '):
            n = int(m.split()[1])
            for i in range(n):
                client.publish(room, 'ws%d %d' % (os.getpid(), i))
        elif m == 'leave':
            dispatchd.channels.unsubscribe(client, room)
            client.send('left')


def uwsgi_sub(environ, start_response):
    """uWSGI's API in a plain WSGI callable (Werkzeug answers 400 to an upgrade on a Flask
    route): the current request's WebSocket subscribes (ws=None)."""
    room = environ['PATH_INFO'].rsplit('/', 1)[-1]
    dispatchd.websocket_handshake()
    dispatchd.channels.subscribe(None, room)
    dispatchd.websocket_send('subscribed %d' % os.getpid())
    while True:
        try:
            dispatchd.websocket_recv()
        except OSError:
            return []


_flask_wsgi = app.wsgi_app


def _wsgi(environ, start_response):
    if environ['PATH_INFO'].startswith('/uwsgi/'):
        return uwsgi_sub(environ, start_response)
    return _flask_wsgi(environ, start_response)


app.wsgi_app = _wsgi


@ws.route('/async/<room>')
async def async_sub(client, room):
    client.subscribe(room)
    await client.send('subscribed %d' % os.getpid())
    while await client.receive() is not None:
        pass
