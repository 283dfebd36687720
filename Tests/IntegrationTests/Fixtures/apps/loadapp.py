"""The app that Fixtures/loadgen.py talks to: stdlib WSGI, run alike by dispatchd, gunicorn,
uWSGI and granian. Every answer repeats the request's own token (and, for a body, its length and
SHA-256), so a response can never be taken for another request's, and names the worker's pid, so
the load generator can count the worker processes that served it.

    GET  /echo?token=T         -> "echo T pid=P\n"
    POST /post?token=T         -> "post T len=N sha256=H pid=P\n"   (H of the body as received)
    GET  /sleep?s=S&token=T    -> "sleep T s=S pid=P\n"            (after sleeping S seconds, S <= 30)
"""
import hashlib
import os
import time
from urllib.parse import parse_qs


def _answer(start_response, status, text):
    body = text.encode()
    start_response(status, [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]


def _read_body(environ):
    length = int(environ.get('CONTENT_LENGTH') or 0)
    stream = environ['wsgi.input']
    chunks = []
    while length > 0:
        chunk = stream.read(min(length, 65536))
        if not chunk:
            break
        chunks.append(chunk)
        length -= len(chunk)
    return b''.join(chunks)


def application(environ, start_response):
    query = parse_qs(environ.get('QUERY_STRING', ''))
    token = query.get('token', [''])[0]
    path = environ.get('PATH_INFO', '')
    method = environ['REQUEST_METHOD']
    pid = os.getpid()
    if not token:
        return _answer(start_response, '400 Bad Request', 'no token\n')
    if path == '/echo' and method == 'GET':
        return _answer(start_response, '200 OK', f'echo {token} pid={pid}\n')
    if path == '/post' and method == 'POST':
        body = _read_body(environ)
        return _answer(start_response, '200 OK',
                       f'post {token} len={len(body)} sha256={hashlib.sha256(body).hexdigest()} pid={pid}\n')
    if path == '/sleep' and method == 'GET':
        seconds = query.get('s', ['0'])[0]
        time.sleep(min(float(seconds), 30.0))
        return _answer(start_response, '200 OK', f'sleep {token} s={seconds} pid={pid}\n')
    return _answer(start_response, '404 Not Found', f'no route {method} {path}\n')


app = application
