#!/usr/bin/env python3
"""Checks loadgen.py against fake servers whose misdeeds are known exactly.

Each fake server here is a small threaded HTTP/1.1 server that serves apps/loadapp.py, except
that on chosen requests it misbehaves and counts each time it does: it drops the connection
after reading a request (FIN, or RST), answers with another request's token, sends half a
response, answers 503, closes as a request begins to arrive (a slow client's first piece), or closes kept-alive connections between requests (cleanly, with
`Connection: close`, or with an RST). The generator must count exactly the misdeeds that lose a
request as failures of the right kind, count the clean closes between requests as reconnects
(not failures), count zero failures against the well-behaved server, and stop at a refused
connect when told to. Run from anywhere (stdlib only; takes about half a minute):

    Tests/IntegrationTests/Fixtures/loadgen_selfcheck.py [-v]
"""
import argparse
import importlib.util
import io
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LOADGEN = os.path.join(HERE, 'loadgen.py')


def load_app():
    spec = importlib.util.spec_from_file_location('loadapp', os.path.join(HERE, 'apps', 'loadapp.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.application


APP = load_app()


class FakeServer:
    """Serves loadapp over HTTP/1.1 keep-alive; `misdeed(n)` picks, for the n-th request read
    (from 1), what to do instead of answering normally (None: answer); `cut(n)`, whether to close
    the connection as soon as the first bytes of the n-th request begun arrive; `idle_close(n)`,
    whether to close a kept-alive connection after answering the n-th request ('fin' or 'rst').
    `counts` tallies each misdeed done."""

    def __init__(self, misdeed=lambda n: None, idle_close=None, cut=None):
        self.misdeed = misdeed
        self.idle_close = idle_close
        self.cut = cut
        self.begun = 0
        self.counts = {}
        self.requests = 0
        self.lock = threading.Lock()
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(('127.0.0.1', 0))
        self.listener.listen(128)
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.closing = False
        self.acceptor = threading.Thread(target=self.accept_loop, daemon=True)
        self.acceptor.start()

    def count(self, what):
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + 1

    def close_listener(self):
        """Stops listening as a graceful server does: the connections the kernel has completed
        are accepted and served, then the listener closes (connects are refused from then on)."""
        self.closing = True
        self.acceptor.join()

    def accept_loop(self):
        poller = select.poll()
        poller.register(self.listener, select.POLLIN)
        while True:
            closing = self.closing
            poller.poll(10)
            while True:
                try:
                    sock, _ = self.listener.accept()
                except BlockingIOError:
                    break
                sock.setblocking(True)
                threading.Thread(target=self.serve, args=(sock,), daemon=True).start()
            if closing:
                self.listener.close()
                return

    def serve(self, sock):
        buffer = b''
        try:
            while True:
                while b'\r\n\r\n' not in buffer:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if not buffer and self.cut:  # the first bytes of a request
                        with self.lock:
                            self.begun += 1
                            n = self.begun
                        if self.cut(n):
                            self.count('cut')
                            return
                    buffer += data
                head, buffer = buffer.split(b'\r\n\r\n', 1)
                lines = head.decode('latin-1').split('\r\n')
                method, target, _ = lines[0].split(' ')
                headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(':') for h in lines[1:])}
                length = int(headers.get('content-length', 0))
                while len(buffer) < length:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buffer += data
                body, buffer = buffer[:length], buffer[length:]
                with self.lock:
                    self.requests += 1
                    n = self.requests
                misdeed = self.misdeed(n)
                if misdeed:
                    self.count(misdeed)
                if misdeed == 'drop':
                    return
                if misdeed == 'reset':
                    reset(sock)
                    return
                path, _, query = target.partition('?')
                if misdeed == 'wrong_token':
                    query = query.replace('token=', 'token=other-')
                if misdeed == 'status_503':
                    response = b'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n'
                else:
                    response = self.answer(method, path, query, body, close=misdeed == 'close_header')
                if misdeed == 'half':
                    sock.sendall(response[:len(response) - 5])
                    return
                sock.sendall(response)
                close = misdeed == 'close_header' or headers.get('connection', '').lower() == 'close'
                if close:
                    return
                if self.idle_close and self.idle_close(n):
                    self.count(f'idle_{self.idle_close(n)}')
                    if self.idle_close(n) == 'rst':
                        time.sleep(0.01)  # the answer reaches the client before the RST
                        reset(sock)
                    return
        except OSError:
            return
        finally:
            sock.close()

    def answer(self, method, path, query, body, close):
        environ = {'REQUEST_METHOD': method, 'PATH_INFO': path, 'QUERY_STRING': query,
                   'CONTENT_LENGTH': str(len(body)), 'wsgi.input': io.BytesIO(body)}
        status_headers = []
        chunks = APP(environ, lambda status, headers: status_headers.extend([status, headers]))
        status, headers = status_headers
        head = f'HTTP/1.1 {status}\r\n' + ''.join(f'{k}: {v}\r\n' for k, v in headers)
        if close:
            head += 'Connection: close\r\n'
        return (head + '\r\n').encode() + b''.join(chunks)


def reset(sock):
    """Close with an RST (SO_LINGER on, zero timeout)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    sock.close()


def run_loadgen(port, *args, stop_after=None, timeout=60):
    cmd = [sys.executable, LOADGEN, '--port', str(port), '--seed', '1', *args]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if stop_after:
        time.sleep(stop_after[0])
        stop_after[1]()
    out, err = p.communicate(timeout=timeout)
    return p.returncode, json.loads(out), err


CLIENTS = ['--keepalive', '2', '--close', '2', '--slow', '1', '--post', '2', '--long', '1',
           '--long-seconds', '0.05,0.2', '--slow-pause', '0.005,0.02']
# For the runs that end with the listener closing: fewer new connections, so that one that the
# kernel completes in the instant between the fake's last accept() and its close() (and resets
# at the close, as it would for any server) is unlikely.
FEW_CONNECTS = CLIENTS[:2] + ['--close', '1'] + CLIENTS[4:] + ['--think', '0.02,0.03']


class Checks:
    def __init__(self, verbose):
        self.verbose = verbose
        self.failed = []

    def expect(self, name, condition, result):
        print(f'{"ok  " if condition else "FAIL"} {name}')
        if not condition or self.verbose:
            print(json.dumps({k: v for k, v in result.items() if k != 'failure_samples'}, indent=1))
        if not condition:
            self.failed.append(name)

    def plain(self):
        server = FakeServer()
        code, r, _ = run_loadgen(server.port, *CLIENTS, '--duration', '2')
        self.expect('a plain server: zero failures, answered == sent == what the server got, exit 0',
                    code == 0 and r['failed'] == 0 and r['answered'] == r['sent'] == server.requests > 100
                    and r['stopped_by'] == 'duration' and set(r['by_client']) == {'keepalive', 'close', 'slow',
                                                                                     'post', 'long'}, r)

    def misdeed(self, name, misdeed, kind, every=7):
        server = FakeServer(misdeed=lambda n: misdeed if n % every == 0 else None)
        code, r, _ = run_loadgen(server.port, *CLIENTS, '--duration', '2')
        done = server.counts.get(misdeed, 0)
        self.expect(f'{name}: each of the {done} counted as {kind}, exit 1',
                    code == 1 and done > 10 and r['failures'] == {kind: done} and r['failed_sent'] == done
                    and r['answered'] == r['sent'] - done and r['unaccounted'] == 0, r)

    def cut(self):
        server = FakeServer(cut=lambda n: n % 7 == 0)
        code, r, _ = run_loadgen(server.port, *CLIENTS, '--slow', '3', '--duration', '2')
        done = server.counts.get('cut', 0)
        lost = {'eof_before_response', 'reset_before_response', 'reset_while_sending'}
        self.expect(f'a server that closes a connection as a request begins to arrive: each of the {done} a failure',
                    code == 1 and done > 10 and r['failed'] == r['failed_sent'] == done and set(r['failures']) <= lost
                    and r['by_client']['slow']['failed'] > 0 and r['unaccounted'] == 0, r)

    def clean_closes(self, name, idle_close, reason):
        server = FakeServer(idle_close=lambda n: idle_close if n % 3 == 0 else None)
        # The clients pause between requests long enough for the close to arrive first.
        code, r, _ = run_loadgen(server.port, *CLIENTS, '--think', '0.03,0.05', '--duration', '2')
        done = server.counts.get(f'idle_{idle_close}', 0)
        self.expect(f'{name}: {done} closes between requests are reconnects ({reason}), not failures',
                    code == 0 and r['failed'] == 0 and done > 10 and r['reconnects'].get(reason, 0) >= done - 8, r)

    def close_header(self):
        server = FakeServer(misdeed=lambda n: 'close_header' if n % 5 == 0 else None)
        code, r, _ = run_loadgen(server.port, *CLIENTS, '--duration', '2')
        self.expect('responses with Connection: close: the client reconnects, no failure',
                    code == 0 and r['failed'] == 0 and r['reconnects'].get('response_closed', 0) > 5, r)

    def stop_on_refused(self):
        server = FakeServer()
        code, r, _ = run_loadgen(server.port, *FEW_CONNECTS, '--stop-on-refused', stop_after=(1.5, server.close_listener))
        self.expect('--stop-on-refused: the first refused connect ends the run, not a failure, exit 0',
                    code == 0 and r['stopped_by'] == 'refused' and r['failed'] == 0 and r['answered'] == r['sent'] > 30,
                    r)

    def refused_before_mark(self):
        server = FakeServer()
        code, r, _ = run_loadgen(server.port, *CLIENTS, '--stop-on-refused=after-mark', '--duration', '2.5',
                                 stop_after=(1, server.close_listener))
        self.expect('--stop-on-refused=after-mark without a mark: refusals are failures (run phase), exit 1',
                    code == 1 and r['stopped_by'] == 'duration' and r['failures'].get('connect_refused', 0) > 0
                    and r['by_phase']['run']['failures'].get('connect_refused', 0) > 0, r)

    def refused_after_mark(self):
        server = FakeServer()
        cmd = [sys.executable, LOADGEN, '--port', str(server.port), '--seed', '1', *FEW_CONNECTS,
               '--stop-on-refused=after-mark']
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1)
        p.send_signal(signal.SIGUSR1)
        time.sleep(0.3)
        server.close_listener()
        out, _ = p.communicate(timeout=60)
        r = json.loads(out)
        self.expect('--stop-on-refused=after-mark after SIGUSR1: the refusal ends the run, exit 0',
                    p.returncode == 0 and r['stopped_by'] == 'refused' and r['failed'] == 0
                    and r['mark_at'] is not None and r['by_phase']['stopping']['answered'] > 0, r)

    def nothing_listening(self):
        s = socket.socket()
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
        s.close()
        code, r, _ = run_loadgen(port, '--keepalive', '1', '--close', '0', '--slow', '0', '--post', '0', '--long', '0',
                                 '--duration', '0.5')
        self.expect('nothing listening: refusals are failures, nothing sent, exit 1',
                    code == 1 and r['sent'] == 0 and r['failures'].get('connect_refused', 0) > 0, r)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('-v', '--verbose', action='store_true', help='print every summary')
    checks = Checks(ap.parse_args().verbose)
    checks.plain()
    checks.misdeed('a server that drops the connection after reading a request', 'drop', 'eof_before_response')
    checks.misdeed('a server that resets the connection after reading a request', 'reset', 'reset_before_response')
    checks.misdeed("a server that answers another request's token", 'wrong_token', 'wrong_body')
    checks.misdeed('a server that sends half a response and closes', 'half', 'eof_mid_response')
    checks.misdeed('a server that answers 503', 'status_503', 'bad_status')
    checks.cut()
    checks.close_header()
    checks.clean_closes('a server that closes idle kept-alive connections (FIN)', 'fin', 'closed')
    checks.clean_closes('a server that resets idle kept-alive connections (RST)', 'rst', 'reset')
    checks.stop_on_refused()
    checks.refused_before_mark()
    checks.refused_after_mark()
    checks.nothing_listening()
    print(f'{len(checks.failed)} failed' if checks.failed else 'all checks passed')
    return 1 if checks.failed else 0


if __name__ == '__main__':
    sys.exit(main())
