#!/usr/bin/env python3
"""Stress for --threads (ThreadTests): CLIENTS client threads for DURATION seconds against
Fixtures/apps/threadapp.py, each mixing, at random:

    context     GET /context/N on a kept-alive connection: the answer names N (Flask's request
                context, g, a threading.local) and a per-thread connection of this thread
    post        POST /post with a body of up to 256 KiB: length and SHA-256 come back
    stream      GET /stream: up to 400 pieces, chunked, each naming this request's token and
                its index, all read and checked
    cut         GET /stream of many pieces, read a little, then close the socket
    abandon     a request sent and the socket closed at once, unread
    close       GET /context/N with Connection: close: the server closes after the answer

A check that fails (a wrong or missing byte, a reset, a timeout) is counted as a failure with
its reason; the summary is one JSON line on stdout, and the exit status is 0 only if nothing
failed and every kind ran.

    thread_stress.py --port 8000 --clients 64 --duration 30
"""
import argparse
import hashlib
import json
import os
import random
import socket
import sys
import threading
import time

HOST = '127.0.0.1'
CLOSE_WAIT = float(os.environ.get('STRESS_CLOSE_WAIT', '5'))


class Failure(Exception):
    pass


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection((HOST, port), timeout=20)
        self.buf = b''

    def close(self):
        self.sock.close()

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise Failure('eof')
        self.buf += data

    def line(self):
        while b'\r\n' not in self.buf:
            self.fill()
        line, self.buf = self.buf.split(b'\r\n', 1)
        return line

    def exact(self, n):
        while len(self.buf) < n:
            self.fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def response(self):
        status = self.line()
        parts = status.split(b' ', 2)
        if len(parts) < 2 or not parts[0].startswith(b'HTTP/1.'):
            raise Failure('bad status line %r' % status[:60])
        headers = {}
        while True:
            line = self.line()
            if not line:
                break
            name, _, value = line.partition(b':')
            headers[name.strip().lower()] = value.strip()
        if headers.get(b'transfer-encoding') == b'chunked':
            body = []
            while True:
                size = int(self.line().split(b';')[0], 16)
                if size == 0:
                    self.line()
                    break
                body.append(self.exact(size))
                self.exact(2)
            body = b''.join(body)
        else:
            body = self.exact(int(headers.get(b'content-length', b'0')))
        return int(parts[1]), headers, body


def check(cond, reason):
    if not cond:
        raise Failure(reason)


def client(index, port, deadline, stats, lock):
    rng = random.Random(index)
    conn = None
    n = 0
    while time.monotonic() < deadline:
        n += 1
        token = 'c%dr%d' % (index, n)
        kind = rng.choices(['context', 'post', 'stream', 'cut', 'abandon', 'close'], [5, 3, 3, 1, 1, 1])[0]
        try:
            if kind in ('cut', 'abandon'):
                c = Conn(port)
                try:
                    if kind == 'cut':
                        c.sock.sendall(b'GET /stream?token=%s&n=5000&size=1000 HTTP/1.1\r\nHost: x\r\n\r\n' % token.encode())
                        c.fill()
                    else:
                        c.sock.sendall(b'GET /sleep/%d HTTP/1.1\r\nHost: x\r\n\r\n' % rng.randint(0, 20))
                finally:
                    c.close()
            else:
                if conn is None:
                    conn = Conn(port)
                if kind in ('context', 'close'):
                    v = rng.randint(1, 10**6)
                    extra = b'Connection: close\r\n' if kind == 'close' else b''
                    conn.sock.sendall(b'GET /context/%d?n=%d HTTP/1.1\r\nHost: x\r\n%s\r\n' % (v, v, extra))
                    status, headers, body = conn.response()
                    fields = body.decode().split()
                    check(status == 200, 'status %d' % status)
                    check(fields[:4] == [str(v), '/context/%d' % v, str(v), str(v)] and fields[5] == '1',
                          'context %d answered %r' % (v, body[:80]))
                    if kind == 'close':
                        check(headers.get(b'connection') == b'close', 'no Connection: close')
                        conn.sock.settimeout(CLOSE_WAIT)
                        try:
                            check(conn.sock.recv(1) == b'', 'bytes after a closing response')
                        except ConnectionResetError:
                            pass
                        except socket.timeout:
                            raise Failure('no close within %g s of a closing response' % CLOSE_WAIT)
                        conn.close()
                        conn = None
                elif kind == 'post':
                    size = rng.choice([0, 1, 100, 5000, 65536, rng.randint(1, 256 * 1024)])
                    data = os.urandom(size)
                    conn.sock.sendall(b'POST /post?token=%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n'
                                      % (token.encode(), size) + data)
                    status, _, body = conn.response()
                    expected = '%s len=%d sha256=%s\n' % (token, size, hashlib.sha256(data).hexdigest())
                    check(status == 200 and body.decode() == expected, 'post answered %r' % body[:80])
                else:
                    pieces = rng.randint(1, 400)
                    size = rng.choice([20, 100, 3000])
                    conn.sock.sendall(b'GET /stream?token=%s&n=%d&size=%d HTTP/1.1\r\nHost: x\r\n\r\n'
                                      % (token.encode(), pieces, size))
                    status, _, body = conn.response()
                    lines = body.split(b'\n')
                    check(status == 200 and len(lines) == pieces + 1 and lines[-1] == b'', 'stream of %d: %d lines'
                          % (pieces, len(lines) - 1))
                    for i, line in enumerate(lines[:-1]):
                        check(line.startswith(b'%s %d ' % (token.encode(), i)) and len(line) == max(size - 1, len(token) + len(str(i)) + 2),
                              'stream piece %d: %r' % (i, line[:40]))
            with lock:
                stats['ok'][kind] = stats['ok'].get(kind, 0) + 1
        except (Failure, OSError, ValueError, IndexError) as e:
            with lock:
                stats['failed'].append('%s %s: %s' % (kind, token, e))
            if conn is not None:
                conn.close()
                conn = None
    if conn is not None:
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--clients', type=int, default=64)
    ap.add_argument('--duration', type=float, default=30)
    args = ap.parse_args()
    stats = {'ok': {}, 'failed': []}
    lock = threading.Lock()
    deadline = time.monotonic() + args.duration
    threads = [threading.Thread(target=client, args=(i, args.port, deadline, stats, lock)) for i in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    summary = {'ok': stats['ok'], 'answered': sum(stats['ok'].values()), 'failed': len(stats['failed']),
               'failures': stats['failed'][:20]}
    print(json.dumps(summary, sort_keys=True))
    kinds = {'context', 'post', 'stream', 'cut', 'abandon', 'close'}
    sys.exit(0 if not stats['failed'] and kinds <= set(stats['ok']) else 1)


if __name__ == '__main__':
    main()
