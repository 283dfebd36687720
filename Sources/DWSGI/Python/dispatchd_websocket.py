# The `dispatchd` module, second part: WebSockets. Embedded in the binary at build time and run
# at start-up in the module's namespace after dispatchd_core.py, once PythonRuntime.swift has
# added the native names this file uses:
#   _sleep(task, seconds)   resumes a task after a delay (the worker's timers; SocketObject.swift)
#   _flask_code             dispatchd_flask.py, compiled: `import dispatchd.flask` runs it
# Here: the task scheduler's Python half (greenlets and coroutines), the blocking-style and async
# client objects (over the native _Socket), uWSGI's websocket API, and the finder of
# dispatchd.flask.
import sys as _sys, contextvars as _cv, time as _time
_greenlet = None
_greenlet_tried = False


_Handler = None


def _load_greenlet():
    """The greenlet module, imported at the first WebSocket request (None if not installed)."""
    global _greenlet, _greenlet_tried, _Handler
    if not _greenlet_tried:
        _greenlet_tried = True
        try:
            import greenlet
            _greenlet = greenlet

            class _Handler(greenlet.greenlet):
                """A blocking-style handler's greenlet, with its socket in a slot (an instance
                dict cost 100 bytes a connection)."""
                __slots__ = ('sock',)
        except ImportError:
            _greenlet = None
    return _greenlet

_SUSPEND = object()
_NOTHING = object()
_ws_current = _cv.ContextVar('dispatchd_websocket', default=None)
_coro_current = None


class WebSocketClosed(OSError):
    """Raised by the uWSGI-style API when the WebSocket is closed."""


class _CoroTask:
    """An async handler (or, without a socket, a background task of dispatchd.spawn): its
    coroutine, stepped by the server in its own contextvars context."""
    __slots__ = ('coro', 'ctx', 'sock', 'started', 'done')

    def __init__(self, coro, sock):
        self.coro, self.ctx, self.sock = coro, _cv.copy_context(), sock
        self.started = self.done = False


class _AsyncHandler:
    """Returned by a WSGI call that handed its WebSocket to an async def handler."""
    __slots__ = ('coro',)

    def __init__(self, coro):
        self.coro = coro


def _no_greenlet():
    raise RuntimeError(
        'blocking-style WebSocket handlers need the greenlet package: pip install greenlet '
        '(or write the handler as an async def)')


def _start(app, environ, start_response, sock):
    """Runs the app for a WebSocket upgrade request: (done, result)."""
    if _load_greenlet() is None:
        token = _ws_current.set(sock)
        try:
            result = app(environ, start_response)
        finally:
            _ws_current.reset(token)
        return _started(True, result, sock)

    # The greenlet runs the app itself, with no closure and no contextvars context of its own
    # (uWSGI's API finds the socket in the greenlet's slot): 400 bytes a connection less.
    g = _Handler(app)
    g.sock = sock
    result = g.switch(environ, start_response)
    return _started(g.dead, result, sock)


def _started(done, result, sock):
    if done and isinstance(result, _AsyncHandler):
        if not sock.upgraded():
            result.coro.close()
            raise RuntimeError('an async WebSocket handler runs only after the handshake (call sock.handshake() first)')
        return _resume(_CoroTask(result.coro, sock), None)
    return (done, None if result is _SUSPEND else result)


def _resume(task, value):
    """Continues a task until it waits again or ends: (done, result)."""
    global _coro_current
    if type(task) is _CoroTask:
        if task.done:  # a background task cancelled while a timer was armed for it
            return (True, None)
        _coro_current = task
        try:
            task.ctx.run(task.coro.send, value if task.started else None)
            task.started = True
            return (False, None)
        except StopIteration as e:
            task.done = True
            if task.sock is None:
                _background_ended(task)
            return (True, e.value)
        except BaseException:
            task.done = True
            if task.sock is not None:
                raise
            # A background task that raises is logged; the worker goes on.
            _background_ended(task)
            _log_error('error in background task %s:' % _name(task.coro))
            return (True, None)
        finally:
            _coro_current = None
    result = task.switch(value)
    return (task.dead, None if result is _SUSPEND else result)


def _current_task():
    """The running WebSocket handler task, or None: before its handshake a request is an
    ordinary one (dispatchd.sleep then sleeps the worker, as time.sleep would)."""
    if _coro_current is not None:
        return _coro_current
    if _greenlet is not None:
        g = _greenlet.getcurrent()
        if g.parent is not None and hasattr(g, 'sock') and g.sock.upgraded():
            return g
    return None


def _block(sock, kind, timeout):
    """Suspends the current greenlet until the server resumes it: True, or False on timeout."""
    task = _current_task()
    if task is None or type(task) is _CoroTask:
        raise RuntimeError('a blocking WebSocket call outside a dispatchd WebSocket task (in an async handler, await it)')
    sock._wait(task, kind, timeout)
    return task.parent.switch(_SUSPEND)


class _Wait:
    __slots__ = ('sock', 'kind', 'timeout')

    def __init__(self, sock, kind, timeout):
        self.sock, self.kind, self.timeout = sock, kind, timeout

    def __await__(self):
        task = _coro_current
        if task is None:
            raise RuntimeError('awaited outside a dispatchd task (a WebSocket handler or dispatchd.spawn)')
        if self.sock is None:
            _sleep(task, self.timeout)
        else:
            self.sock._wait(task, self.kind, self.timeout)
        return (yield _SUSPEND)


def sleep(seconds):
    """Cooperative sleep: suspends only this handler. In an async handler, await it."""
    if _coro_current is not None:
        return _Wait(None, 2, float(seconds))
    task = _current_task()
    if task is None:
        _time.sleep(seconds)
        return None
    _sleep(task, float(seconds))
    task.parent.switch(_SUSPEND)
    return None


def _receive(sock, timeout):
    """The next message for a blocking-style handler: str (text) or bytes (binary); None once
    closed or on timeout."""
    deadline = None if timeout is None else _time.monotonic() + timeout
    while True:
        m = sock.recv_nowait()
        if m is not _NOTHING:
            return m
        left = None if deadline is None else deadline - _time.monotonic()
        if left is not None and left <= 0:
            return None
        if not _block(sock, 0, left):
            return None


def _send(sock, message):
    """Queues a message (str: text, bytes: binary); waits only while the queue is full, and
    only in a WebSocket handler (an ordinary request that sends to a socket never waits)."""
    sock.send(message)
    while sock.backlogged() and _current_task() is not None:
        _block(sock, 1, None)


class _Client:
    def __init__(self, sock, environ):
        self._sock, self.environ = sock, environ

    @property
    def connected(self):
        return self._sock.connected()

    def close(self, code=1000, reason=''):
        self._sock.close(code, reason)


class WebSocket(_Client):
    """A WebSocket connection for a blocking-style handler (run as a greenlet)."""

    def receive(self, timeout=None):
        return _receive(self._sock, timeout)

    def send(self, message):
        _send(self._sock, message)

    def send_binary(self, message):
        _send(self._sock, bytes(message))


class AsyncWebSocket(_Client):
    """A WebSocket connection for an async def handler."""

    async def receive(self, timeout=None):
        deadline = None if timeout is None else _time.monotonic() + timeout
        while True:
            m = self._sock.recv_nowait()
            if m is not _NOTHING:
                return m
            left = None if deadline is None else deadline - _time.monotonic()
            if left is not None and left <= 0:
                return None
            if not await _Wait(self._sock, 0, left):
                return None

    async def send(self, message):
        self._sock.send(message)
        while self._sock.backlogged():
            await _Wait(self._sock, 1, None)

    async def send_binary(self, message):
        await self.send(bytes(message))


# uWSGI's websocket API (also `import uwsgi` under --uwsgi-compat).

def _uwsgi_socket():
    # In a handler's greenlet (or, without greenlet, in the app's call for the request).
    sock = getattr(_greenlet.getcurrent(), 'sock', None) if _greenlet is not None else _ws_current.get()
    if sock is None:
        raise OSError('not in a WebSocket request')
    return sock


def websocket_handshake(key=None, origin=None, proto=None):
    """Answers the client's handshake (the server checked it already; key and origin are
    accepted for compatibility)."""
    if _load_greenlet() is None:
        _no_greenlet()
    sock = _uwsgi_socket()
    if isinstance(proto, bytes):
        proto = proto.decode('latin-1')
    sock.handshake(proto)


def websocket_recv():
    m = _receive(_uwsgi_socket(), None)
    if m is None:
        raise WebSocketClosed('websocket closed')
    return m.encode('utf-8') if isinstance(m, str) else m


def websocket_recv_nb():
    m = _uwsgi_socket().recv_nowait()
    if m is _NOTHING:
        return b''
    if m is None:
        raise WebSocketClosed('websocket closed')
    return m.encode('utf-8') if isinstance(m, str) else m


def websocket_send(message):
    if isinstance(message, (bytes, bytearray, memoryview)):
        message = bytes(message).decode('utf-8')
    _send(_uwsgi_socket(), message)


def websocket_send_binary(message):
    _send(_uwsgi_socket(), bytes(message))


def _install_flask():
    import types
    m = types.ModuleType('dispatchd.flask')
    m.__file__ = _flask_code.co_filename
    exec(_flask_code, m.__dict__)
    return m


def _install_flask_uwsgi_websocket():
    import types
    m = types.ModuleType('flask_uwsgi_websocket')
    m.__file__ = _fuws_code.co_filename
    exec(_fuws_code, m.__dict__)
    return m


class _FlaskFinder:
    """Makes `import dispatchd.flask` work, and `import flask_uwsgi_websocket` (the maintained
    stand-in for Flask-uWSGI-WebSocket): Flask is imported only then."""

    def find_spec(self, name, path=None, target=None):
        if name not in ('dispatchd.flask', 'flask_uwsgi_websocket'):
            return None
        import importlib.util
        return importlib.util.spec_from_loader(name, self)

    def create_module(self, spec):
        if spec.name == 'flask_uwsgi_websocket':
            return _install_flask_uwsgi_websocket()
        return _install_flask()

    def exec_module(self, module):
        pass


__path__ = []
_sys.meta_path.insert(0, _FlaskFinder())
