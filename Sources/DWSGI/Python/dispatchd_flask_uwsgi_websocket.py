# Embedded in the binary at build time; dispatchd_websocket.py's finder runs it when
# `import flask_uwsgi_websocket` asks for it (Flask is imported only then).
"""flask_uwsgi_websocket, maintained: the API of Flask-uWSGI-WebSocket 0.6 (whose package no
longer imports on Python 3.11 or Flask 3), served by dispatchd's WebSockets, so that code written
for it runs unchanged:

    from flask_uwsgi_websocket import GeventWebSocket   # or WebSocket, AsyncioWebSocket
    ws = GeventWebSocket(app)

    @ws.route('/websocket')
    def chat(ws):
        while (msg := ws.receive()) is not None:
            ws.send(msg)

Messages are received as bytes, as uWSGI gives them. Every flavour runs on the worker's
cooperative scheduler: a blocking-style handler as a greenlet, an `async def` one as a task (with
`await ws.a_recv()` and `await ws.a_send(msg)`).

`ws.run(...)` and `app.run(...)` with uWSGI's keyword arguments (`app.run(gevent=100,
port=10000)`) start dispatchd as they started uWSGI: in a plain Python process (`python app.py`,
with this file importable as flask_uwsgi_websocket) they replace it with `dispatchd --http
HOST:PORT --http-websockets --module NAME:app --KEY=VALUE...` ($FLASK_UWSGI_BINARY, else the
dispatchd beside the interpreter, else on PATH); under dispatchd, which serves the app already,
they do nothing.
"""
import os as _os
import sys as _sys
import uuid as _uuid

try:
    import dispatchd as _d
except ImportError:
    # A plain Python process: only the routes' registration and run() mean anything here.
    _d = None
from werkzeug.routing import Map as _Map, Rule as _Rule

if _d is not None:
    from dispatchd.flask import WebSocket as _DispatchdWebSocket
else:
    class _DispatchdWebSocket:
        def __init__(self, app=None):
            self.app = app

        def init_app(self, app):
            self.app = app

__all__ = ['WebSocket', 'GeventWebSocket', 'AsyncioWebSocket', 'WebSocketClient', 'AsyncioWebSocketClient']


def _as_bytes(message):
    return message.encode('utf-8') if isinstance(message, str) else message


class WebSocketClient:
    """The connection a handler gets: `receive()`/`recv()` (bytes, None once it is closed),
    `recv_nb()` (b'' when nothing is there), `send`, `send_binary`, `close`, and `id`,
    `environ`, `connected`, `timeout`; `subscribe`, `unsubscribe`, `publish`
    (dispatchd.channels)."""

    def __init__(self, sock, environ, timeout=5):
        self._client = _d.WebSocket(sock, environ)
        self._sock = sock
        self.environ = environ
        self.timeout = timeout
        self.id = str(_uuid.uuid1())
        self._closed = False

    @property
    def connected(self):
        return not self._closed and self._client.connected

    def receive(self):
        return self.recv()

    def recv(self):
        return _as_bytes(self._client.receive())

    def recv_nb(self):
        m = self._sock.recv_nowait()
        if m is _d._NOTHING:
            return b''
        return _as_bytes(m)

    def send(self, msg, binary=False):
        if binary:
            return self.send_binary(msg)
        if isinstance(msg, (bytes, bytearray, memoryview)):
            msg = bytes(msg).decode('utf-8')
        self._client.send(msg)

    def send_binary(self, msg):
        self._client.send_binary(msg)

    def close(self):
        self._closed = True
        self._client.close()

    # dispatchd.channels (across workers): as `send`, bytes are text unless `binary`.
    def subscribe(self, channel):
        _d.channels.subscribe(self._sock, channel)

    def unsubscribe(self, channel):
        _d.channels.unsubscribe(self._sock, channel)

    def publish(self, channel, msg, binary=False):
        if binary:
            msg = bytes(msg)
        elif isinstance(msg, (bytes, bytearray, memoryview)):
            msg = bytes(msg).decode('utf-8')
        _d.channels.publish(channel, msg)


class AsyncioWebSocketClient(WebSocketClient):
    """For `async def` handlers: `await a_recv()`, `await a_send(msg)`; `send` and `recv_nb`
    do not wait."""

    def __init__(self, sock, environ, timeout=5):
        super().__init__(sock, environ, timeout)
        self._async = _d.AsyncWebSocket(sock, environ)

    async def a_recv(self):
        return _as_bytes(await self._async.receive())

    async def a_send(self, msg):
        if isinstance(msg, (bytes, bytearray, memoryview)):
            msg = bytes(msg).decode('utf-8')
        await self._async.send(msg)

    def send(self, msg, binary=False):
        if not binary and isinstance(msg, (bytes, bytearray, memoryview)):
            msg = bytes(msg).decode('utf-8')
        self._sock.send(bytes(msg) if binary else msg)


class _BlueprintSetup:
    """What a Flask blueprint's recorded functions are called with when it is registered on the
    WebSockets: its routes land on them, under its prefix and name."""

    def __init__(self, websocket, blueprint, options):
        self.app = websocket
        self.blueprint = blueprint
        self.options = options
        self.url_prefix = options.get('url_prefix', blueprint.url_prefix)
        self.first_registration = True

    def add_url_rule(self, rule, endpoint=None, view_func=None, **options):
        options.pop('provide_automatic_options', None)
        if self.url_prefix:
            rule = self.url_prefix.rstrip('/') + '/' + rule.lstrip('/') if rule else self.url_prefix
        if endpoint is None:
            endpoint = view_func.__name__
        self.app.add_url_rule(rule, '%s.%s' % (self.blueprint.name, endpoint), view_func, **options)


class WebSocket(_DispatchdWebSocket):
    """The Flask extension: `WebSocket(app)` or `init_app(app)`, `@ws.route(rule)`,
    `add_url_rule`, `register_blueprint`. dispatchd.flask's, with Flask-uWSGI-WebSocket's
    routing (endpoints by name) and clients."""

    client = WebSocketClient

    def __init__(self, app=None, timeout=5):
        self.timeout = timeout
        self.view_functions = {}
        self.blueprints = {}
        super().__init__(None)
        self.url_map = _Map(converters=app.url_map.converters if app is not None else None)
        if app is not None:
            self.init_app(app)

    def init_app(self, app):
        super().init_app(app)
        app.run = self.run

    def run(self, app=None, debug=False, host='localhost', port=5000, uwsgi_binary=None, **kwargs):
        if _d is not None:
            _sys.stderr.write('flask_uwsgi_websocket: run() does nothing under dispatchd, which serves the app already\n')
            return
        if app is None:
            # Flask names an app made in `python app.py` after the script: "app:app".
            app = '%s:app' % self.app.name
        binary, argv = _command(app, debug or self.app.debug, host, port, uwsgi_binary, kwargs)
        _sys.stdout.flush()
        _sys.stderr.flush()
        _os.execvp(binary, argv)

    def route(self, rule, **options):
        def decorator(f):
            self.add_url_rule(rule, options.pop('endpoint', None), f, **options)
            return f
        return decorator

    def add_url_rule(self, rule, endpoint=None, view_func=None, **options):
        if view_func is None:
            raise TypeError('add_url_rule() needs a view function')
        endpoint = endpoint or view_func.__name__
        methods = set(options.pop('methods', ())) | {'GET'}
        self.url_map.add(_Rule(rule, endpoint=endpoint, methods=methods, websocket=True, **options))
        old = self.view_functions.get(endpoint)
        if old is not None and old is not view_func:
            raise AssertionError('View function mapping is overwriting an existing endpoint function: %s' % endpoint)
        self.view_functions[endpoint] = view_func

    def register_blueprint(self, blueprint, **options):
        known = self.blueprints.get(blueprint.name)
        if known is not None and known is not blueprint:
            raise AssertionError('two blueprints are named %r' % blueprint.name)
        self.blueprints[blueprint.name] = blueprint
        setup = _BlueprintSetup(self, blueprint, options)
        for record in blueprint.deferred_functions:
            record(setup)

    def _match(self, environ):
        endpoint, args = self.url_map.bind_to_environ(environ).match()
        return self.view_functions[endpoint], args

    def _client(self, sock, environ, coroutine):
        return (AsyncioWebSocketClient if coroutine else self.client)(sock, environ, self.timeout)


def _command(app, debug, host, port, binary, options):
    """The dispatchd command line run_uwsgi() of Flask-uWSGI-WebSocket would have made for uWSGI:
    --http HOST:PORT, --http-websockets, --master unless told otherwise, the virtualenv that runs
    this, each keyword argument as --KEY=VALUE (True as a bare flag), the app as --module, the
    main script's directory on the path, and --python-autoreload 1 for debug."""
    options = dict(options)
    if options.get('master') is None:
        options['master'] = True
    if _sys.prefix != _sys.base_prefix and not any(k in options for k in ('home', 'virtualenv', 'venv', 'pyhome')):
        options['virtualenv'] = _os.path.abspath(_sys.prefix)
    if not binary:
        binary = _os.environ.get('FLASK_UWSGI_BINARY')
    if not binary:
        beside = _os.path.join(_os.path.dirname(_sys.executable), 'dispatchd')
        binary = beside if _os.path.exists(beside) else 'dispatchd'
    argv = [binary, '--http', '%s:%s' % (host, port), '--http-websockets']
    for key, value in options.items():
        if value is None or value is False:
            continue
        key = key.replace('_', '-')
        argv.append('--' + key if value is True or value == '' else '--%s=%s' % (key, value))
    main = getattr(_sys.modules.get('__main__'), '__file__', None)
    if main:
        argv += ['--pythonpath', _os.path.dirname(_os.path.abspath(main))]
    argv += ['--module', app]
    if debug:
        argv += ['--python-autoreload', '1']
    return binary, argv


class GeventWebSocket(WebSocket):
    """The same here: handlers already run concurrently on the worker's scheduler."""


class AsyncioWebSocket(WebSocket):
    """The same; its `async def` handlers get `a_recv`/`a_send`."""

    client = AsyncioWebSocketClient
