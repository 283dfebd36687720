# The `dispatchd` module, third part: the worker's life cycle. Embedded in the binary at build
# time and run at start-up in the module's namespace after dispatchd_websocket.py, once
# PythonRuntime.swift has added the native names this file uses:
#   _schedule(task)         resumes a task soon on the worker's scheduler (SocketObject.swift)
#   _worker_stop_timeout    --worker-stop-timeout, in seconds
#   _errors_shown           whether --log-level lets error lines through
# Here: on_worker_start / on_worker_stop, spawn / spawn_thread / stopping, and the start and
# stop sequences the worker runs (WorkerProcess+Lifecycle.swift).
import sys as _sys
import threading as _threading

_start_hooks = []
_stop_hooks = []
_background = []
_threads = []
# Threads spawn_thread made before the worker started (at the import), and whether it has.
_unstarted = []
_worker_started = False
stopping = _threading.Event()


def _log(message):
    """A line of the server's log, from Python (the worker's pid, as ServerLog writes it)."""
    if _errors_shown:
        import os
        _sys.stderr.write('[dispatchd] worker %d: %s\n' % (os.getpid(), message))
        _sys.stderr.flush()


def _log_error(message):
    """`message` and the traceback of the exception being handled."""
    if _errors_shown:
        import traceback
        _log(message)
        traceback.print_exc()
        _sys.stderr.flush()


def _name(fn):
    return getattr(fn, '__qualname__', None) or getattr(fn, '__name__', None) or repr(fn)


def on_worker_start(fn):
    """Registers fn() (or an async def) to run in each worker once the app is imported and
    before the worker takes requests. A start hook that raises keeps the worker from becoming
    ready: at the first start the server exits, during a reload the old workers keep serving."""
    if not callable(fn):
        raise TypeError('on_worker_start takes a function, not %s' % type(fn).__name__)
    _start_hooks.append(fn)
    return fn


def on_worker_stop(fn):
    """Registers fn() (or an async def) to run when the worker leaves alive (reload, recycling,
    SIGTERM, SIGINT), after its requests and WebSockets have ended and its background tasks
    were cancelled, within --worker-stop-timeout. Stop hooks run in the reverse order of
    registration (the last resource opened is closed first)."""
    if not callable(fn):
        raise TypeError('on_worker_stop takes a function, not %s' % type(fn).__name__)
    _stop_hooks.append(fn)
    return fn


def _call(fn):
    """Runs a hook: a plain function, or an async def in an asyncio event loop of its own."""
    result = fn()
    if hasattr(result, '__await__'):
        import asyncio

        async def wait():
            return await result
        asyncio.run(wait())


def spawn(coro):
    """Runs a coroutine on the worker's cooperative scheduler (the one that runs WebSocket
    handlers: it awaits dispatchd.sleep and WebSocket calls). At stop it gets
    asyncio.CancelledError before the stop hooks run. Returns the coroutine."""
    if not hasattr(coro, 'send') or not hasattr(coro, 'throw'):
        raise TypeError('spawn takes a coroutine (call the async def), not %s' % type(coro).__name__)
    task = _CoroTask(coro, None)
    _background.append(task)
    _schedule(task)
    return coro


def spawn_thread(fn, *args, **kwargs):
    """Runs fn(*args, **kwargs) in a daemon thread. At stop, dispatchd.stopping is set and the
    worker waits for the thread (within --worker-stop-timeout) before it exits. Returns the
    threading.Thread."""
    if not callable(fn):
        raise TypeError('spawn_thread takes a function, not %s' % type(fn).__name__)

    def run():
        try:
            fn(*args, **kwargs)
        except BaseException:
            _log_error('error in background thread %s:' % _name(fn))
    thread = _threading.Thread(target=run, name='dispatchd-%s' % _name(fn), daemon=True)
    _threads.append(thread)
    if _worker_started:
        thread.start()
    else:
        # At the application's import: started with the worker, before its start hooks (with
        # --preload the import runs once, in a process that forks the workers and has no
        # business running threads).
        _unstarted.append(thread)
    return thread


def _threads_at_fork():
    """The names of the threads besides the main one (--preload refuses to fork them)."""
    if 'threading' not in _sys.modules:
        return ''
    main = _threading.main_thread()
    return ', '.join(t.name for t in _threading.enumerate() if t is not main)


def _background_ended(task):
    """A background task's coroutine returned or raised (from _resume)."""
    try:
        _background.remove(task)
    except ValueError:
        pass


def _run_start_hooks():
    """Runs the start hooks, and uWSGI's post_fork_hook. Raises what a hook raised, after
    logging it with its traceback."""
    import sys
    global _worker_started
    _worker_started = True
    while _unstarted:
        _unstarted.pop(0).start()
    hooks = list(_start_hooks)
    post_fork = getattr(sys.modules['dispatchd'], 'post_fork_hook', None)
    if callable(post_fork):
        hooks.append(post_fork)
    for fn in hooks:
        try:
            _call(fn)
        except BaseException:
            _log_error('error in worker start hook %s:' % _name(fn))
            raise


def _cancel_background():
    """Throws CancelledError into every background coroutine; one that waits again after it
    is closed (its finally blocks run)."""
    from asyncio.exceptions import CancelledError
    for task in list(_background):
        task.done = True
        coro = task.coro
        try:
            task.ctx.run(coro.throw, CancelledError())
        except (CancelledError, StopIteration):
            pass
        except BaseException:
            _log_error('error in background task %s while it was cancelled:' % _name(coro))
        else:
            _log('background task %s awaited again after its cancellation; closed' % _name(coro))
            try:
                coro.close()
            except BaseException:
                _log_error('error in background task %s while it was closed:' % _name(coro))
    del _background[:]


def _run_stop(timeout):
    """The worker's last act: background coroutines are cancelled, `stopping` is set, the stop
    hooks (and uWSGI's atexit) run in a thread of their own, and the worker waits for them and
    for its background threads, `timeout` seconds in all. Returns nothing; what overran is
    logged (the worker exits anyway)."""
    import sys
    import time
    deadline = time.monotonic() + timeout
    _cancel_background()
    stopping.set()
    hooks = list(reversed(_stop_hooks))
    atexit = getattr(sys.modules['dispatchd'], 'atexit', None)
    if callable(atexit):
        hooks.append(atexit)
    current = [None]

    def run_hooks():
        for fn in hooks:
            current[0] = fn
            try:
                _call(fn)
            except BaseException:
                _log_error('error in worker stop hook %s:' % _name(fn))
        current[0] = None
    if hooks:
        runner = _threading.Thread(target=run_hooks, name='dispatchd-stop-hooks', daemon=True)
        runner.start()
        runner.join(max(0.0, deadline - time.monotonic()))
        if runner.is_alive():
            _log('worker stop hook %s still running after --worker-stop-timeout %g s; the worker exits'
                 % (_name(current[0]), timeout))
            return
    for thread in _threads:
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            _log('background thread %s still running after --worker-stop-timeout %g s; the worker exits'
                 % (thread.name, timeout))


class _DecoratorsFinder:
    """`import uwsgidecorators` for code written for uWSGI, when `import uwsgi` gives the
    dispatchd module (dispatchd_uwsgidecorators.py)."""

    def find_spec(self, name, path=None, target=None):
        if name != 'uwsgidecorators' or _sys.modules.get('uwsgi') is not _sys.modules.get('dispatchd'):
            return None
        import importlib.util
        return importlib.util.spec_from_loader(name, self)

    def create_module(self, spec):
        import types
        m = types.ModuleType('uwsgidecorators')
        m.__file__ = _uwsgidecorators_code.co_filename
        return m

    def exec_module(self, module):
        exec(_uwsgidecorators_code, module.__dict__)


_sys.meta_path.insert(0, _DecoratorsFinder())


def _freeze_for_forks():
    """--preload, in the zygote once the application is imported: a collection now, then every
    object the import made goes to the collector's permanent generation, which a worker's
    collections never visit, so they do not write to (and copy) the pages those objects share
    with the zygote (gc.freeze's purpose)."""
    import gc
    gc.collect()
    gc.freeze()
