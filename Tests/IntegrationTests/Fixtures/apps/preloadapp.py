# --preload (PreloadTests): says which process imported it and which one answers, records each
# import in $DISPATCHD_TEST_EVENTS, and holds 16 MiB of bytes and about 16 MiB of small lists
# (objects the garbage collector tracks), which forked workers share with the zygote and spawned
# workers each hold alone. `?collect` runs a full collection first, which writes to every tracked
# object the collector can see.
import gc
import json
import os
import random
import threading

import dispatchd

VERSION = 1
IMPORTED_BY = os.getpid()
BLOB = bytes(range(256)) * (16 * 4096)
TABLE = [[i] for i in range(200000)]

_events = os.environ.get('DISPATCHD_TEST_EVENTS')


def _record(line):
    if _events:
        with open(_events, 'a') as f:
            f.write(line + '\n')


_record('import %d' % os.getpid())
started = []
threads_ran = []

if os.environ.get('DISPATCHD_TEST_THREAD_AT_IMPORT'):
    threading.Thread(target=lambda: threading.Event().wait(), name='import-time-poller', daemon=True).start()


@dispatchd.on_worker_start
def remember_start():
    started.append(os.getpid())


def background():
    threads_ran.append(os.getpid())


# At the import: run in each worker once it starts, not in the zygote.
dispatchd.spawn_thread(background)


def application(environ, start_response):
    if environ.get('QUERY_STRING') == 'collect':
        gc.collect()
    body = json.dumps({
        'version': VERSION,
        'pid': os.getpid(),
        'ppid': os.getppid(),
        'imported_by': IMPORTED_BY,
        'started': started,
        'threads_ran': threads_ran,
        'random': random.random(),
        'blob': len(BLOB),
    }).encode()
    start_response('200 OK', [('Content-Type', 'application/json'), ('Content-Length', str(len(body)))])
    return [body]
