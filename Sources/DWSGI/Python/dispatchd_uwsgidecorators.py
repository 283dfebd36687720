# `uwsgidecorators` for apps written for uWSGI (`import uwsgi` gives the dispatchd module):
# the decorators that map onto dispatchd's worker life cycle. Compiled at start-up and run when
# imported (dispatchd_lifecycle.py's finder). Mapped: postfork (a worker start hook), thread
# (each call in a new daemon thread), timer and rbtimer (a periodic call in every worker, on a
# background thread that stops with the worker). Refused, by name, at decoration time: those
# that need uWSGI's spooler, mules, signal framework, cron, file monitor, locks or harakiri.
import dispatchd as _dispatchd
import itertools as _itertools

_signals = _itertools.count(1)


def postfork(fn):
    """Runs fn() in each worker before it takes requests (dispatchd.on_worker_start)."""
    return _dispatchd.on_worker_start(fn)


def thread(fn):
    """Each call of the decorated function runs in a new daemon thread, as in uWSGI."""
    import functools

    @functools.wraps(fn)
    def start(*args, **kwargs):
        _dispatchd.spawn_thread(fn, *args, **kwargs)
    return start


class timer:
    """@timer(seconds): fn(signum) every `seconds` seconds, in every worker (uWSGI runs it in
    one worker through its signal framework), on a background thread that ends at the worker's
    stop. `target` is accepted and ignored."""

    def __init__(self, seconds, target=''):
        if not seconds or seconds <= 0:
            raise ValueError('timer needs a positive number of seconds')
        self.seconds = seconds
        self.signum = next(_signals)

    def __call__(self, fn):
        seconds, signum = self.seconds, self.signum

        def loop():
            while not _dispatchd.stopping.wait(seconds):
                try:
                    fn(signum)
                except Exception:
                    _dispatchd._log_error('error in @timer function %s:' % _dispatchd._name(fn))

        @_dispatchd.on_worker_start
        def start_timer():
            _dispatchd.spawn_thread(loop)
        return fn


rbtimer = timer


def _refused(name, why):
    def refuse(*args, **kwargs):
        raise RuntimeError(
            'uwsgidecorators.%s is not available in dispatchd: %s' % (name, why))
    refuse.__name__ = name
    return refuse


for _name, _why in [
    ('spool', 'there is no spooler (run the job in a queue such as Celery or RQ)'),
    ('spoolforever', 'there is no spooler (run the job in a queue such as Celery or RQ)'),
    ('spoolraw', 'there is no spooler (run the job in a queue such as Celery or RQ)'),
    ('mule', 'there are no mules (use dispatchd.spawn_thread, or a separate process)'),
    ('mulefunc', 'there are no mules (use dispatchd.spawn_thread, or a separate process)'),
    ('muleloop', 'there are no mules (use dispatchd.spawn_thread, or a separate process)'),
    ('signal', "there is no uWSGI signal framework (use @timer, or dispatchd's hooks)"),
    ('cron', 'there is no cron (use @timer, or a scheduler in a background thread)'),
    ('filemon', 'there is no file monitor (--reload-extra-file reloads on a change)'),
    ('erlang', 'there is no Erlang bridge'),
    ('lock', 'there are no uWSGI locks (use a lock of your own, or a database lock)'),
    ('harakiri', 'set --timeout (also spelled --harakiri) instead'),
]:
    globals()[_name] = _refused(_name, _why)
del _name, _why
