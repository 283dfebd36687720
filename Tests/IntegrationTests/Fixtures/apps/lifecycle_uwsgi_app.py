"""The life-cycle tests' app written for uWSGI (issue 16): uwsgi.atexit, and uwsgidecorators'
postfork, timer and thread, recording in DISPATCHD_TEST_EVENTS as lifecycleapp.py does; a
decorator dispatchd refuses (spool) is recorded with its message."""
import os

import uwsgi
from uwsgidecorators import postfork, spool, thread, timer

EVENTS = os.environ['DISPATCHD_TEST_EVENTS']


def record(event):
    with open(EVENTS, 'a') as f:
        f.write('%s %d 0\n' % (event, os.getpid()))


@postfork
def opened():
    record('start')


def closed():
    record('stop')


uwsgi.atexit = closed


@timer(0.2)
def every_200ms(signum):
    record('timer-%d' % signum)


@thread
def in_a_thread(n):
    record('thread-%s' % n)


try:
    @spool
    def job(arguments):
        pass
except RuntimeError as e:
    record('refused:' + str(e).replace(' ', '_'))


def application(environ, start_response):
    in_a_thread(environ['QUERY_STRING'] or 'none')
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok']
