# The `dispatchd` module, first part: the app loader and the objects of the WSGI environ that are
# simplest to write in Python. Embedded in the binary at build time and run once at start-up in
# the module's namespace (PythonRuntime.swift, EmbeddedPython.swift), before
# dispatchd_websocket.py. Comments, not a docstring: the code runs in dispatchd's namespace and a
# docstring would become dispatchd.__doc__.
import sys as _sys, importlib as _importlib, importlib.util as _iutil


def _whole_lines():
    # What the app prints reaches the server's stdout and stderr a whole line at a time, at once:
    # with several workers writing to one pipe (a container's log, journald), a line written in
    # one system call is never cut by another worker's, and none waits in a block buffer (not
    # even with PYTHONUNBUFFERED, whose print() writes the text and its newline separately).
    for stream in (_sys.stdout, _sys.stderr):
        try:
            stream.reconfigure(line_buffering=True, write_through=False)
        except (AttributeError, ValueError):
            pass


_whole_lines()

class FileWrapper:
    """wsgi.file_wrapper: the server sends real files with sendfile."""
    __slots__ = ('filelike', 'blksize', 'close')

    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, 'close'):
            self.close = filelike.close

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration


class ClientDisconnected(OSError):
    """Raised by write() when the client has gone or stopped reading."""


class RequestTimeout(BaseException):
    """Raised in a request, or a WebSocket handler step, that has run past the server's
    --timeout. A BaseException, as KeyboardInterrupt is, so that `except Exception` does not
    swallow it; an application may catch it to clean up, and should raise it again."""


# The two halves of the timeout signal (--timeout). PythonRuntime+Timeout.swift installs them one
# after the other and takes each from the signal's disposition, then installs one C handler that
# runs both: faulthandler's dump first, then Python's own handler, which runs on_timeout in the
# main thread at its next bytecode (or when its blocking call is interrupted).

def _install_timeout_handler(signum, overdue, timeout):
    """Raises RequestTimeout in the main thread if the request that ran too long is still
    running: overdue() is its time so far, or None (the signal arrived after it ended, or it was
    meant for another); this one must not hit the next request. Returns whether it replaced a
    handler the application had installed."""
    import signal

    def on_timeout(signum, frame):
        elapsed = overdue()
        if elapsed is not None:
            raise RequestTimeout('the request has run for %.1f s (timeout %g s)' % (elapsed, timeout))

    previous = signal.signal(signum, on_timeout)
    return previous not in (signal.SIG_DFL, None)


def _install_timeout_dump(signum):
    """Writes the stack of every thread to stderr from the signal handler itself, so that it
    also works while the main thread is inside C (time.sleep, a socket read, an extension)."""
    import faulthandler
    faulthandler.register(signum, file=2, all_threads=True, chain=False)


def _load_app(module, callable_name, wsgi_file):
    if wsgi_file:
        spec = _iutil.spec_from_file_location('dispatchd_wsgi_file', wsgi_file)
        if spec is None:
            raise ImportError('cannot load %r as Python source' % wsgi_file)
        mod = _iutil.module_from_spec(spec)
        _sys.modules['dispatchd_wsgi_file'] = mod
        spec.loader.exec_module(mod)
        where = wsgi_file
    else:
        mod = _importlib.import_module(module)
        where = 'module %r' % module
    # MODULE:Factory() (uWSGI's and gunicorn's form): the factory is called once, without
    # arguments, and returns the application.
    factory = callable_name.endswith('()')
    name = callable_name[:-2] if factory else callable_name
    obj = mod
    for part in name.split('.'):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AttributeError('%s has no attribute %r (the WSGI callable)' % (where, name)) from None
    if factory:
        if not callable(obj):
            raise TypeError('%r in %s is not callable (it is %s)' % (name, where, type(obj).__name__))
        made = obj()
        if not callable(made):
            raise TypeError('%s() in %s returned %s, not a WSGI callable' % (name, where, type(made).__name__))
        return made
    if not callable(obj):
        raise TypeError('%r in %s is not callable (it is %s)' % (callable_name, where, type(obj).__name__))
    return obj


def _install_uwsgi_compat(force):
    """`import uwsgi` gives the dispatchd module (its websocket_* functions, uWSGI's API):
    always with --uwsgi-compat, and otherwise when no real uwsgi module is importable, so that
    code written for uWSGI runs unchanged. Returns whether it did."""
    if 'uwsgi' in _sys.modules:
        return False
    if not force:
        try:
            if _iutil.find_spec('uwsgi') is not None:
                return False
        except (ImportError, ValueError):
            pass
    _sys.modules['uwsgi'] = _sys.modules['dispatchd']
    return True


def _app_files():
    # The source files of the application's modules, for --reload: every imported module with a
    # file, except the standard library's, installed packages' and dispatchd's own.
    import os
    import sysconfig
    skip = tuple(p for p in {sysconfig.get_path(n) for n in ('stdlib', 'platstdlib', 'purelib', 'platlib')} if p)
    files = set()
    for name, module in list(_sys.modules.items()):
        path = getattr(module, '__file__', None)
        if not path or name == 'dispatchd' or name.startswith('dispatchd.') or not path.endswith('.py'):
            continue
        path = os.path.abspath(path)
        if not path.startswith(skip):
            files.add(path)
    return sorted(files)


def _start_request_threads(count, run):
    """--threads: starts the worker's request threads, as threading.Thread objects (so that the
    application's threading.local, the logging module and faulthandler see ordinary threads);
    each runs run(index) for the worker's life. Returns their idents."""
    import threading
    started = []
    for index in range(count):
        thread = threading.Thread(target=run, args=(index,), name='dispatchd-request-%d' % (index + 1), daemon=True)
        thread.start()
        started.append(thread.ident)
    return started
