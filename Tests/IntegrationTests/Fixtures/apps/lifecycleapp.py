"""The life-cycle tests' app (issue 16): loadapp's endpoints, with a resource opened in a start
hook and closed in a stop hook, a background coroutine and a background thread, each recording
what happened in DISPATCHD_TEST_EVENTS as `EVENT PID IN_FLIGHT`. DISPATCHD_TEST_FAIL_START (a
file): while it exists, the start hook raises. DISPATCHD_TEST_SLOW_STOP: seconds the stop hook
sleeps. DISPATCHD_TEST_RAISE: a background coroutine and a background thread raise, and so does
a second stop hook."""
import os
import threading
import time

import dispatchd
import loadapp

EVENTS = os.environ['DISPATCHD_TEST_EVENTS']
FAIL_START = os.environ.get('DISPATCHD_TEST_FAIL_START')
SLOW_STOP = float(os.environ.get('DISPATCHD_TEST_SLOW_STOP', '0'))
RAISE = bool(os.environ.get('DISPATCHD_TEST_RAISE'))
lock = threading.Lock()
in_flight = 0
resource = None


def record(event):
    with open(EVENTS, 'a') as f:
        f.write('%s %d %d\n' % (event, os.getpid(), in_flight))


@dispatchd.on_worker_start
def open_resource():
    global resource
    if FAIL_START and os.path.exists(FAIL_START):
        raise RuntimeError('the database is down (start hook)')
    resource = 'open'
    record('start')


@dispatchd.on_worker_stop
def close_resource():
    global resource
    record('stop')
    if SLOW_STOP:
        time.sleep(SLOW_STOP)
        record('slow-stop-done')
    resource = None


async def ticker():
    try:
        while True:
            record('tick')
            await dispatchd.sleep(0.1)
    finally:
        record('ticker-finally')


@dispatchd.on_worker_start
def start_background():
    dispatchd.spawn(ticker())
    dispatchd.spawn_thread(waiter)


async def failing_task():
    await dispatchd.sleep(0.2)
    raise ValueError('a background task failed')


def failing_thread():
    raise KeyError('a background thread failed')


if RAISE:
    @dispatchd.on_worker_start
    def start_failing():
        dispatchd.spawn(failing_task())
        dispatchd.spawn_thread(failing_thread)

    @dispatchd.on_worker_stop
    def failing_stop():
        raise OSError('a stop hook failed')


def waiter():
    dispatchd.stopping.wait()
    record('thread-exit')


def application(environ, start_response):
    global in_flight
    if resource != 'open':
        start_response('500 No Resource', [('Content-Type', 'text/plain')])
        return [b'the resource is not open']
    with lock:
        in_flight += 1
    try:
        return loadapp.application(environ, start_response)
    finally:
        with lock:
            in_flight -= 1
