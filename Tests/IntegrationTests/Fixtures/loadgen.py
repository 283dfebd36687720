#!/usr/bin/env python3
"""Load generator that proves a server loses no request while its workers are replaced.

Stdlib only. Threads play clients of five kinds against Fixtures/apps/loadapp.py (any server:
dispatchd, gunicorn, uWSGI, granian):

    keepalive  GET /echo, many requests per connection
    close      GET /echo with Connection: close, one request per connection
    slow       GET /echo on a kept-alive connection, the request written in pieces with pauses
    post       POST /post, a body of a few KiB whose length and SHA-256 the app must echo
    long       GET /sleep, the app sleeps (0.5 to 2 s by default) before it answers, then the
               client waits (1 to 3 s) before its next one

Every request carries a token unique to this run, client and request; a response counts as
answered only if it is complete, has status 200 and its body names that token (and, for a POST,
the body's exact length and SHA-256). The body also names the worker's pid: the summary counts
the distinct workers that answered, which shows that workers were in fact replaced.

What is a failure (the rules that make "zero failed" mean something):

- A request is *sent* once at least one of its bytes was written to the socket. Every sent
  request ends either *answered* (a complete, correct response) or *failed*: a connection reset
  while writing the request, a reset or EOF before the response or in the middle of it, no
  complete response within --timeout, a status other than 200, a body that is not this
  request's (wrong token, length or checksum), or a response that cannot be parsed.
- A kept-alive connection that the server closes *between* requests is not a failure; the
  client reconnects and sends the request on the new connection. "Between" means one of:
  the last response said `Connection: close` (or was HTTP/1.0 without keep-alive, or ended at
  EOF); before writing the next request the client found the connection closed (EOF or RST
  seen by a non-blocking peek) or found bytes the server sent unasked (a 408, say); or the
  kernel refused the first write of the next request because a reset had already arrived, so
  that not a byte of it was written.
- Anything else is the server's failure, including the race where the server closes an idle
  kept-alive connection just as the client writes its next request: those bytes were written
  and got no answer. A server can avoid it (answer that request, with `Connection: close`, or
  announce the close on the previous response); this generator counts it, it does not retry.
- Connection-level failures are failures too, though no request was sent: a refused connect
  (unless it marks the end of the run, below), a connect error or timeout, and a reset on a
  new connection before its first byte could be written.

Stopping: on SIGINT or SIGTERM, when --stop-file exists, after --duration, or (with
--stop-on-refused) when a connect is refused, clients start no new request, finish the one in
flight, and the generator prints a JSON summary on stdout: sent, answered, failed (by kind),
counts per client kind and per phase, reconnects, distinct worker pids, latencies. It exits 0
only if nothing failed, answered == sent, and something was sent; 1 otherwise.

SIGUSR1 marks the moment the server is told to stop (send it just before SIGTERM to the
server): the summary's by_phase splits the run there into "run" and "stopping" (a request
counts as sent in the phase it began in, and as answered or failed in the phase it ended in,
so a request that a SIGTERM cuts is a failure of "stopping"). With
--stop-on-refused=after-mark, a refused connect before the mark is a failure (the server
refused while it should have been serving; the client retries after a pause) and only one
after the mark ends the run. Plain --stop-on-refused ends the run at the first refusal.

    loadgen.py --port 8000 --duration 30
    loadgen.py --url http://127.0.0.1:8000 --stop-on-refused=after-mark     # until stopped
    loadgen.py --unix /tmp/app.sock --keepalive 2 --close 0 --slow 0 --post 2 --long 0
"""
import argparse
import hashlib
import json
import os
import random
import re
import select
import signal
import socket
import statistics
import sys
import threading
import time
from urllib.parse import urlsplit

KINDS = ('keepalive', 'close', 'slow', 'post', 'long')
CONNECT_TIMEOUT = 5.0
REFUSED_PAUSE = 0.05  # before a client tries again after a connect failure
MAX_HEAD = 65536
SAMPLES = 50  # failures listed one by one in the summary


class RequestFailed(Exception):
    """The request failed; `kind` is one of the failure kinds in the summary."""

    def __init__(self, kind, detail=''):
        super().__init__(f'{kind}: {detail}' if detail else kind)
        self.kind = kind
        self.detail = detail


class ClosedBeforeWrite(Exception):
    """The server had closed the reused connection before any byte of the request was written:
    not a failure; the client reconnects and sends the request again."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class Refused(Exception):
    pass


class Target:
    """Where the server listens: host and port, or a unix socket path."""

    def __init__(self, host=None, port=None, unix=None):
        self.host, self.port, self.unix = host, port, unix
        self.host_header = 'localhost' if unix else (f'[{host}]:{port}' if ':' in host else f'{host}:{port}')

    def connect(self):
        try:
            if self.unix:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(CONNECT_TIMEOUT)
                try:
                    sock.connect(self.unix)
                except BaseException:
                    sock.close()
                    raise
            else:
                sock = socket.create_connection((self.host, self.port), timeout=CONNECT_TIMEOUT)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (ConnectionRefusedError, FileNotFoundError) as e:
            raise Refused(str(e))
        except socket.timeout:
            raise RequestFailed('connect_error', 'connect timed out')
        except OSError as e:
            raise RequestFailed('connect_error', str(e))
        return sock


class Connection:
    """One client connection: the socket, bytes read but not yet consumed, requests sent on it."""

    def __init__(self, sock):
        self.sock = sock
        self.buffer = b''
        self.requests = 0

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def closed_by_server(self):
        """Before reusing the connection: why it can no longer carry a request (the server closed
        it, or sent something unasked), or None if it looks open. Never blocks."""
        if self.buffer:
            return 'unsolicited'
        poller = select.poll()
        poller.register(self.sock, select.POLLIN | select.POLLERR | select.POLLHUP)
        if not poller.poll(0):
            return None
        try:
            data = self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return None
        except OSError:
            return 'reset'
        return 'unsolicited' if data else 'closed'


class Request:
    """One request as bytes (in the pieces it is written in) and how to check its answer."""

    def __init__(self, client_kind, pieces, pattern, pause=(0.0, 0.0), close=False):
        self.client_kind = client_kind
        self.pieces = pieces
        self.pattern = pattern  # the body must match this whole; group 1 is the worker's pid
        self.pause = pause
        self.close = close
        self.sent = False


class Stats:
    """Counters shared by the clients (under one lock)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.by_client = {k: {'sent': 0, 'answered': 0, 'failed': 0} for k in KINDS}
        self.by_phase = {p: {'sent': 0, 'answered': 0, 'failed': 0, 'failures': {}} for p in ('run', 'stopping')}
        self.failures = {}
        self.failed_sent = 0
        self.samples = []
        self.reconnects = {}
        self.pids = set()
        self.latencies = {k: [] for k in KINDS}

    def sent(self, kind, phase):
        with self.lock:
            self.by_client[kind]['sent'] += 1
            self.by_phase[phase]['sent'] += 1

    def answered(self, kind, phase, pid, seconds):
        with self.lock:
            self.by_client[kind]['answered'] += 1
            self.by_phase[phase]['answered'] += 1
            self.pids.add(pid)
            self.latencies[kind].append(seconds)

    def failed(self, kind, phase, failure, was_sent, at):
        with self.lock:
            self.by_client[kind]['failed'] += 1
            p = self.by_phase[phase]
            p['failed'] += 1
            p['failures'][failure.kind] = p['failures'].get(failure.kind, 0) + 1
            self.failures[failure.kind] = self.failures.get(failure.kind, 0) + 1
            if was_sent:
                self.failed_sent += 1
            if len(self.samples) < SAMPLES:
                self.samples.append({'t': round(at, 3), 'client': kind, 'phase': phase, 'kind': failure.kind,
                                     'sent': was_sent, 'detail': failure.detail})

    def reconnect(self, reason):
        with self.lock:
            self.reconnects[reason] = self.reconnects.get(reason, 0) + 1


class Generator:
    def __init__(self, args, target):
        self.args = args
        self.target = target
        self.stats = Stats()
        self.stop = threading.Event()
        self.stopped_by = None
        self.started = time.monotonic()
        self.mark_at = None  # seconds since start when SIGUSR1 came
        self.run_id = '%08x' % random.Random(args.seed).getrandbits(32) if args.seed is not None else os.urandom(4).hex()

    def elapsed(self):
        return time.monotonic() - self.started

    def phase(self):
        return 'run' if self.mark_at is None else 'stopping'

    def request_stop(self, reason):
        if not self.stop.is_set():
            self.stopped_by = reason
            self.stop.set()

    def mark(self):
        if self.mark_at is None:
            self.mark_at = self.elapsed()
            print(f'loadgen: mark at {self.mark_at:.3f} s', file=sys.stderr, flush=True)

    def refusal_ends_run(self):
        mode = self.args.stop_on_refused
        return mode == 'any' or (mode == 'after-mark' and self.mark_at is not None)


class Client(threading.Thread):
    def __init__(self, gen, kind, index):
        super().__init__(name=f'{kind}-{index}', daemon=True)
        self.gen = gen
        self.kind = kind
        self.index = index
        self.rng = random.Random(None if gen.args.seed is None else f'{gen.args.seed}-{kind}-{index}')
        self.conn = None
        self.seq = 0

    def run(self):
        args = self.gen.args
        try:
            while not self.gen.stop.is_set():
                self.perform(self.next_request())
                think = self.rng.uniform(*(args.long_think if self.kind == 'long' else args.think))
                if think:
                    self.gen.stop.wait(think)
        finally:
            if self.conn:
                self.conn.close()

    # The requests of each kind.

    def next_request(self):
        args = self.gen.args
        self.seq += 1
        token = f'{self.gen.run_id}-{self.kind}{self.index}-{self.seq}'
        host = self.gen.target.host_header
        paths = args.app_paths
        if self.kind == 'post':
            body = self.rng.randbytes(self.rng.randint(*args.post_size))
            head = (f'POST {paths["post"]}?token={token} HTTP/1.1\r\nHost: {host}\r\n'
                    f'Content-Type: application/octet-stream\r\nContent-Length: {len(body)}\r\n\r\n').encode()
            pattern = (f'post {re.escape(token)} len={len(body)} sha256={hashlib.sha256(body).hexdigest()} '
                       r'pid=(\d+)\n')
            return Request(self.kind, [head + body], pattern)
        if self.kind == 'long':
            seconds = f'{self.rng.uniform(*args.long_seconds):.3f}'
            head = f'GET {paths["sleep"]}?s={seconds}&token={token} HTTP/1.1\r\nHost: {host}\r\n\r\n'.encode()
            return Request(self.kind, [head], f'sleep {re.escape(token)} s={re.escape(seconds)} ' r'pid=(\d+)\n')
        connection = 'Connection: close\r\n' if self.kind == 'close' else ''
        head = f'GET {paths["echo"]}?token={token} HTTP/1.1\r\nHost: {host}\r\n{connection}\r\n'.encode()
        pattern = f'echo {re.escape(token)} ' r'pid=(\d+)\n'
        if self.kind == 'slow':
            return Request(self.kind, split(head, args.slow_pieces, self.rng), pattern, pause=args.slow_pause)
        return Request(self.kind, [head], pattern, close=self.kind == 'close')

    # One request, from connecting to checking the answer.

    def perform(self, request):
        gen = self.gen
        began = time.monotonic()
        deadline = began + gen.args.timeout
        try:
            while True:
                conn = self.connection()
                try:
                    self.send(conn, request, deadline)
                    break
                except ClosedBeforeWrite as closed:
                    gen.stats.reconnect(closed.reason)
                    self.drop_connection()
            status, reusable, body = read_response(conn, deadline)
            if status != 200:
                raise RequestFailed('bad_status', f'{status} {body[:200]!r}')
            match = re.fullmatch(request.pattern, body.decode('latin-1'))
            if not match:
                raise RequestFailed('wrong_body', f'{body[:200]!r}')
        except Refused as e:
            self.drop_connection()
            if gen.args.stop_on_refused and gen.refusal_ends_run():
                gen.request_stop('refused')
                return
            gen.stats.failed(self.kind, gen.phase(), RequestFailed('connect_refused', str(e)), False, gen.elapsed())
            gen.stop.wait(REFUSED_PAUSE)
            return
        except RequestFailed as failure:
            self.drop_connection()
            gen.stats.failed(self.kind, gen.phase(), failure, request.sent, gen.elapsed())
            if not request.sent:
                gen.stop.wait(REFUSED_PAUSE)
            return
        gen.stats.answered(self.kind, gen.phase(), int(match.group(1)), time.monotonic() - began)
        if request.close or not reusable:
            if not request.close:
                gen.stats.reconnect('response_closed')
            self.drop_connection()

    def connection(self):
        if self.conn is not None:
            reason = self.conn.closed_by_server()
            if reason is None:
                return self.conn
            self.gen.stats.reconnect(reason)
            self.drop_connection()
        self.conn = Connection(self.gen.target.connect())
        return self.conn

    def drop_connection(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def send(self, conn, request, deadline):
        """Writes the request's pieces (pausing between them). Marks it sent at its first byte."""
        written = 0
        for i, piece in enumerate(request.pieces):
            if i:
                time.sleep(self.rng.uniform(*request.pause))
            view = memoryview(piece)
            while view:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RequestFailed('timeout', f'writing the request ({written} bytes written)')
                conn.sock.settimeout(remaining)
                try:
                    n = conn.sock.send(view)
                except socket.timeout:
                    raise RequestFailed('timeout', f'writing the request ({written} bytes written)')
                except OSError as e:  # EPIPE, ECONNRESET
                    if written == 0 and conn.requests > 0:
                        raise ClosedBeforeWrite('reset')
                    if written == 0:
                        raise RequestFailed('reset_before_send', f'new connection: {e}')
                    raise RequestFailed('reset_while_sending', f'{written} bytes written: {e}')
                if written == 0:
                    request.sent = True
                    conn.requests += 1
                    self.gen.stats.sent(self.kind, self.gen.phase())
                written += n
                view = view[n:]


def split(data, pieces, rng):
    """`data` cut at pieces-1 distinct random places."""
    cuts = sorted(rng.sample(range(1, len(data)), min(pieces, len(data)) - 1))
    return [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]


def read_response(conn, deadline):
    """Reads one response: (status, reusable, body). Raises RequestFailed for a reset, EOF,
    timeout or malformed response. 1xx interim responses are skipped."""
    received = 0  # bytes of this response so far

    def more():
        nonlocal received
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RequestFailed('timeout', f'{received} bytes of the response received')
        conn.sock.settimeout(remaining)
        try:
            data = conn.sock.recv(65536)
        except socket.timeout:
            raise RequestFailed('timeout', f'{received} bytes of the response received')
        except OSError as e:  # ECONNRESET
            raise RequestFailed('reset_mid_response' if received else 'reset_before_response', str(e))
        received += len(data)
        return data

    def need(n):
        while len(conn.buffer) < n:
            data = more()
            if not data:
                raise RequestFailed('eof_mid_response' if received else 'eof_before_response',
                                    f'{received} bytes of the response received')
            conn.buffer += data

    def line():
        while b'\r\n' not in conn.buffer:
            if len(conn.buffer) > MAX_HEAD:
                raise RequestFailed('malformed', 'line too long')
            need(len(conn.buffer) + 1)
        text, conn.buffer = conn.buffer.split(b'\r\n', 1)
        return text

    def take(n):
        need(n)
        data, conn.buffer = conn.buffer[:n], conn.buffer[n:]
        return data

    received = len(conn.buffer)
    while True:
        status_line = line()
        m = re.fullmatch(rb'(HTTP/1\.[01]) (\d{3})(?: .*)?', status_line)
        if not m:
            raise RequestFailed('malformed', f'status line {status_line[:100]!r}')
        version, status = m.group(1), int(m.group(2))
        headers = {}
        while True:
            field = line()
            if not field:
                break
            name, sep, value = field.partition(b':')
            if not sep:
                raise RequestFailed('malformed', f'header {field[:100]!r}')
            name = name.strip().lower().decode('latin-1')
            value = value.strip().decode('latin-1')
            headers[name] = f'{headers[name]}, {value}' if name in headers else value
        if 100 <= status < 200:
            continue
        break
    tokens = {t.strip().lower() for t in headers.get('connection', '').split(',')}
    reusable = 'close' not in tokens and (version == b'HTTP/1.1' or 'keep-alive' in tokens)
    if 'chunked' in headers.get('transfer-encoding', '').lower():
        chunks = []
        while True:
            size_line = line().split(b';', 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise RequestFailed('malformed', f'chunk size {size_line[:50]!r}')
            if size == 0:
                while line():  # trailers
                    pass
                break
            chunks.append(take(size))
            if take(2) != b'\r\n':
                raise RequestFailed('malformed', 'chunk not followed by CRLF')
        body = b''.join(chunks)
    elif 'content-length' in headers:
        try:
            length = int(headers['content-length'])
        except ValueError:
            raise RequestFailed('malformed', f'content-length {headers["content-length"][:50]!r}')
        body = take(length)
    else:  # delimited by the end of the connection
        while True:
            data = more()
            if not data:
                break
            conn.buffer += data
        body, conn.buffer = conn.buffer, b''
        reusable = False
    return status, reusable, body


def percentile(values, q):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def summary(gen, clients):
    s = gen.stats
    sent = sum(c['sent'] for c in s.by_client.values())
    answered = sum(c['answered'] for c in s.by_client.values())
    failed = sum(s.failures.values())
    stuck = [c.name for c in clients if c.is_alive()]
    all_latencies = [x for v in s.latencies.values() for x in v]
    ok = failed == 0 and answered == sent and sent > 0 and not stuck
    return {
        'ok': ok,
        'sent': sent,
        'answered': answered,
        'failed': failed,
        'failed_sent': s.failed_sent,
        'unaccounted': sent - answered - s.failed_sent,  # requests still in flight in a stuck client
        'failures': dict(sorted(s.failures.items())),
        'by_client': {k: v for k, v in s.by_client.items() if v['sent'] or v['failed']},
        'by_phase': s.by_phase,
        'reconnects': dict(sorted(s.reconnects.items())),
        'worker_pids': len(s.pids),
        'latency_ms': {
            'p50': round(statistics.median(all_latencies) * 1000, 1) if all_latencies else None,
            'p99': round(percentile(all_latencies, 0.99) * 1000, 1) if all_latencies else None,
            'max': round(max(all_latencies) * 1000, 1) if all_latencies else None,
            'p99_by_client': {k: round(percentile(v, 0.99) * 1000, 1) for k, v in s.latencies.items() if v},
        },
        'duration': round(gen.elapsed(), 3),
        'mark_at': None if gen.mark_at is None else round(gen.mark_at, 3),
        'stopped_by': gen.stopped_by,
        'stuck_clients': stuck,
        'failure_samples': s.samples,
    }


def pair(kind):
    def parse(text):
        a, _, b = text.partition(',')
        lo, hi = kind(a), kind(b or a)
        if lo > hi or lo < 0:
            raise argparse.ArgumentTypeError(f'{text}: want MIN,MAX with 0 <= MIN <= MAX')
        return lo, hi
    return parse


def app_paths(text):
    paths = {'echo': '/echo', 'post': '/post', 'sleep': '/sleep'}
    for item in filter(None, text.split(',')):
        name, sep, path = item.partition('=')
        if not sep or name not in paths or not path.startswith('/'):
            raise argparse.ArgumentTypeError(f'{item}: want echo=/PATH, post=/PATH or sleep=/PATH')
        paths[name] = path
    return paths


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = ap.add_argument_group('server')
    where.add_argument('--url', help='http://HOST:PORT (a path is ignored; see --app-paths)')
    where.add_argument('--host', default='127.0.0.1')
    where.add_argument('--port', type=int)
    where.add_argument('--unix', metavar='PATH', help='a unix socket instead of TCP')
    where.add_argument('--app-paths', type=app_paths, default=app_paths(''), metavar='NAME=PATH,...',
                       help="the app's routes, if not /echo, /post and /sleep (e.g. echo=/app/echo)")
    load = ap.add_argument_group('clients')
    load.add_argument('--keepalive', type=int, default=5, help='keep-alive clients (5)')
    load.add_argument('--close', type=int, default=4, help='Connection: close clients (4)')
    load.add_argument('--slow', type=int, default=3, help='slow clients (3)')
    load.add_argument('--post', type=int, default=4, help='POST clients (4)')
    load.add_argument('--long', type=int, default=2, help='clients of long requests (2)')
    load.add_argument('--long-seconds', type=pair(float), default=(0.5, 2.0), metavar='MIN,MAX',
                      help='how long the app sleeps for a long request (0.5,2)')
    load.add_argument('--post-size', type=pair(int), default=(1024, 16384), metavar='MIN,MAX',
                      help='POST body bytes (1024,16384)')
    load.add_argument('--slow-pieces', type=int, default=4, help='pieces a slow request is written in (4)')
    load.add_argument('--slow-pause', type=pair(float), default=(0.02, 0.1), metavar='MIN,MAX',
                      help='seconds between pieces (0.02,0.1)')
    load.add_argument('--think', type=pair(float), default=(0.0, 0.01), metavar='MIN,MAX',
                      help="seconds a client waits between its requests (0,0.01)")
    load.add_argument('--long-think', type=pair(float), default=(1.0, 3.0), metavar='MIN,MAX',
                      help='the same for the clients of long requests (1,3), so that they do not hold every '
                           'worker of a server that runs one request at a time per worker')
    load.add_argument('--timeout', type=float, default=30.0, help='seconds for a whole request (30)')
    load.add_argument('--seed', help='make the tokens, sizes and pauses reproducible')
    stop = ap.add_argument_group('stopping')
    stop.add_argument('--duration', type=float, help='seconds to run (default: until stopped)')
    stop.add_argument('--stop-file', metavar='PATH', help='stop once this file exists')
    stop.add_argument('--stop-on-refused', nargs='?', const='any', choices=('any', 'after-mark'),
                      help='a refused connect ends the run (after-mark: only once SIGUSR1 has come)')
    args = ap.parse_args(argv)
    if args.url:
        u = urlsplit(args.url)
        if u.scheme != 'http' or not u.hostname:
            ap.error(f'--url {args.url}: want http://HOST:PORT')
        args.host, args.port = u.hostname, u.port or 80
    if not args.unix and not args.port:
        ap.error('give --url, --port or --unix')
    if sum(getattr(args, k) for k in KINDS) == 0:
        ap.error('no clients')
    if args.slow_pieces < 1:
        ap.error('--slow-pieces must be at least 1')
    return args


def main(argv=None):
    args = parse_args(argv)
    target = Target(unix=args.unix) if args.unix else Target(host=args.host, port=args.port)
    gen = Generator(args, target)
    signal.signal(signal.SIGINT, lambda *_: gen.request_stop('signal'))
    signal.signal(signal.SIGTERM, lambda *_: gen.request_stop('signal'))
    signal.signal(signal.SIGUSR1, lambda *_: gen.mark())
    # A parent may hand down a blocked signal mask (the Swift test runner does): unblock the
    # signals this generator is driven by, or its mark and stop would never arrive.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGUSR1})
    clients = [Client(gen, kind, i) for kind in KINDS for i in range(getattr(args, kind))]
    for c in clients:
        c.start()
    while not gen.stop.wait(0.02):
        if args.duration is not None and gen.elapsed() >= args.duration:
            gen.request_stop('duration')
        elif args.stop_file and os.path.exists(args.stop_file):
            gen.request_stop('stop-file')
    # Each client finishes its request in flight, which --timeout bounds.
    end = time.monotonic() + args.timeout + max(args.slow_pause) * args.slow_pieces + CONNECT_TIMEOUT + 5
    for c in clients:
        c.join(max(0.0, end - time.monotonic()))
    result = summary(gen, clients)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write('\n')
    sys.stdout.flush()
    print(f'loadgen: sent {result["sent"]}, answered {result["answered"]}, failed {result["failed"]} '
          f'{result["failures"] or ""} in {result["duration"]} s, {result["worker_pids"]} worker pids, '
          f'stopped by {result["stopped_by"]}', file=sys.stderr)
    return 0 if result['ok'] else 1


if __name__ == '__main__':
    sys.exit(main())
