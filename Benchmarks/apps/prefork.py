"""Runs bjoern (which has no multi-process mode) as N forked processes on one socket; or waitress
(--server waitress --threads T), whose own runner is one process too."""
import argparse
import importlib
import os
import signal
import socket
import sys

p = argparse.ArgumentParser()
p.add_argument('--host', default='127.0.0.1')
p.add_argument('--port', type=int, required=True)
p.add_argument('--workers', type=int, default=2)
p.add_argument('--server', choices=('bjoern', 'waitress'), default='bjoern')
p.add_argument('--threads', type=int, default=4, help='waitress threads per process')
p.add_argument('app')
a = p.parse_args()
sys.path.insert(0, os.getcwd())
module, name = a.app.split(':')
app = getattr(importlib.import_module(module), name)

sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind((a.host, a.port))
sock.listen(1024)
sock.setblocking(False)
children = []
for _ in range(a.workers):
    pid = os.fork()
    if pid == 0:
        if a.server == 'waitress':
            import logging
            import waitress
            # Its "Task queue depth is N" warnings would fill the harness's unread stderr pipe
            # and stall it.
            logging.getLogger('waitress').setLevel(logging.ERROR)
            waitress.serve(app, sockets=[sock], threads=a.threads, _quiet=True)
        else:
            import bjoern
            bjoern.server_run(sock, app)
        os._exit(0)
    children.append(pid)


def stop(*_):
    for c in children:
        try:
            os.kill(c, signal.SIGKILL)
        except ProcessLookupError:
            pass
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
for c in children:
    os.waitpid(c, 0)
