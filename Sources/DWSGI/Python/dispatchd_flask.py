# Embedded in the binary at build time; dispatchd_websocket.py's finder runs it when
# `import dispatchd.flask` asks for it (Flask is imported only then).
"""dispatchd.flask: WebSocket routes for a Flask app, in the style of Flask-uWSGI-WebSocket.

    from dispatchd.flask import WebSocket
    ws = WebSocket(app)

    @ws.route('/echo/<name>')
    def echo(client, name):
        while (message := client.receive()) is not None:
            client.send(message)
"""
import inspect as _inspect
import dispatchd as _d
from werkzeug.routing import Map as _Map, Rule as _Rule
from werkzeug.exceptions import HTTPException as _HTTPException


class WebSocket:
    def __init__(self, app=None):
        self.url_map = _Map()
        self.app = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app):
        self.app = app
        app.wsgi_app = self._middleware(app.wsgi_app)

    def route(self, rule, **options):
        def decorator(f):
            self.url_map.add(_Rule(rule, endpoint=f, websocket=True, **options))
            return f
        return decorator

    def _match(self, environ):
        """The handler of a WebSocket request and its arguments; raises HTTPException when no
        route matches."""
        return self.url_map.bind_to_environ(environ).match()

    def _client(self, sock, environ, coroutine):
        """The object a handler gets."""
        return _d.AsyncWebSocket(sock, environ) if coroutine else _d.WebSocket(sock, environ)

    def _middleware(self, wsgi_app):
        def middleware(environ, start_response):
            sock = environ.get('dispatchd.websocket')
            if sock is None:
                return wsgi_app(environ, start_response)
            try:
                handler, args = self._match(environ)
            except _HTTPException:
                return wsgi_app(environ, start_response)
            if _inspect.iscoroutinefunction(handler):
                sock.handshake(None)
                return _d._AsyncHandler(self._run_async(handler, self._client(sock, environ, True), environ, args))
            if _d._load_greenlet() is None:
                _d._no_greenlet()
            sock.handshake(None)
            client = self._client(sock, environ, False)
            with self.app.request_context(environ):
                handler(client, **args)
            client.close()
            return []
        return middleware

    async def _run_async(self, handler, client, environ, args):
        with self.app.request_context(environ):
            await handler(client, **args)
        client.close()
