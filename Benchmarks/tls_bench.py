#!/usr/bin/env python3
"""HTTPS hello world: dispatchd side by side with nginx and granian, 2 workers each.

One self-signed ECDSA P-256 certificate (made with openssl in a temp dir) for all three, and one
cipher: wrk runs with an OPENSSL_CONF whose system_default section allows only TLS 1.3,
TLS_AES_128_GCM_SHA256 and the X25519 group, so every server negotiates exactly that (nginx is
also pinned on its side with `ssl_conf_command Ciphersuites`; granian uses rustls, which has no
cipher option). Before measuring, the harness checks that wrk honours the pin (it must fail
against an `openssl s_server` that offers only another suite), and for each server start a probe
client (same pin) records the negotiated protocol and suite and how many of 20 sequential
Connection-close handshakes resumed the previous session: wrk resumes its sessions on reconnect
(it keeps the SSL object through SSL_shutdown + SSL_clear), so close-mode figures depend on it.

    dispatchd  --workers 2 --https 127.0.0.1:PORT,CERT,KEY --no-access-log hello_app:app
    nginx      worker_processes 2; listen ssl; ssl_certificate; return 200 "Hello, World!"
               (config, pid file and error log in the temp dir, run in the foreground)
    granian    --interface wsgi --workers 2 --ssl-certificate CERT --ssl-keyfile KEY hello_app:app

For several interleaved rounds (the server order rotates each round) each server is started,
checked, and driven by wrk -t1 -c50 over https: keep-alive (ka) and `Connection: close` (close,
a TCP connection and TLS handshake per request). Prints the median req/s (min-max), the median
p99, the server's CPU time per request (user+sys of every process in its session, from /proc,
as run.py), wrk's own CPU share (near 100%: the client is the ceiling, as in close runs), and
dispatchd's ratios to each peer. Not a test: the machine is shared.

    Benchmarks/tls_bench.py [--rounds 5] [--duration 5] [--servers dispatchd,nginx,granian]
                            [--modes ka,close] [--binary path/to/dispatchd]

Without --binary it builds dispatchd in release (run.py's setup). Installs granian into
Benchmarks/.venv and wrk, nginx, openssl from apt when missing.
"""
import argparse
import json
import os
import re
import resource
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

import run as harness

APP = 'hello_app:app'
SUITE = 'TLS_AES_128_GCM_SHA256'
CONNECTIONS = 50
PROBE_HANDSHAKES = 20

PIN_CONF = f"""openssl_conf = pin
[pin]
ssl_conf = pin_ssl
[pin_ssl]
system_default = pin_default
[pin_default]
MinProtocol = TLSv1.3
MaxProtocol = TLSv1.3
Ciphersuites = {SUITE}
Groups = X25519
"""

# The probe: one connection's protocol, suite and ALPN, then how many of the next handshakes
# resumed the session the previous connection got (as wrk reconnects).
PROBE = r"""
import json, socket, ssl, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(['http/1.1'])
session, reused, first = None, 0, None
for i in range(n + 1):
    with socket.create_connection(('127.0.0.1', port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname='localhost', session=session) as s:
            s.sendall(b'GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n')
            data = b''
            while True:
                try:
                    chunk = s.recv(65536)
                except (ssl.SSLError, OSError):
                    break
                if not chunk:
                    break
                data += chunk
            if first is None:
                first = {'version': s.version(), 'cipher': s.cipher()[0], 'alpn': s.selected_alpn_protocol(),
                         'ok': data.startswith(b'HTTP/1.1 200') and data.endswith(b'Hello, World!')}
            elif s.session_reused:
                reused += 1
            session = s.session
print(json.dumps(dict(first, reused=reused, handshakes=n)))
"""


def make_files(tmp):
    """The certificate, its key (PKCS#8, as granian wants) and the pinning openssl.cnf."""
    cert, key, conf = (os.path.join(tmp, n) for n in ('cert.pem', 'key.pem', 'pin.cnf'))
    harness.sh(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
                '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost',
                '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], stderr=subprocess.DEVNULL)
    with open(conf, 'w') as f:
        f.write(PIN_CONF)
    return cert, key, conf


def nginx_command(tmp, port, cert, key):
    prefix = os.path.join(tmp, f'nginx-{port}')
    os.makedirs(prefix, exist_ok=True)
    conf = os.path.join(prefix, 'nginx.conf')
    with open(conf, 'w') as f:
        f.write(f"""worker_processes 2;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    tcp_nodelay on;
    keepalive_requests 100000;
    default_type text/plain;
    server {{
        listen 127.0.0.1:{port} ssl backlog=1024;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.3;
        ssl_conf_command Ciphersuites {SUITE};
        location / {{ return 200 "Hello, World!"; }}
    }}
}}
""")
    return ['nginx', '-p', prefix, '-c', conf, '-e', f'{prefix}/error.log', '-g', 'daemon off;']


def commands(binary, tmp, cert, key):
    vbin = harness.VBIN
    return {
        'dispatchd': lambda port: [binary, '--workers', '2', '--https', f'127.0.0.1:{port},{cert},{key}',
                                   '--no-access-log', APP],
        'nginx': lambda port: nginx_command(tmp, port, cert, key),
        'granian': lambda port: [f'{vbin}/granian', '--interface', 'wsgi', '--workers', '2',
                                 '--ssl-certificate', cert, '--ssl-keyfile', key, '--host', '127.0.0.1',
                                 '--port', str(port), '--backlog', '1024', '--no-access-log', '--log-level', 'warning',
                                 APP],
    }


def get(port, timeout=1.0):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname='localhost') as s:
            s.sendall(b'GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n')
            data = b''
            while True:
                try:
                    chunk = s.recv(65536)
                except ssl.SSLError:  # a close without close_notify
                    return data
                if not chunk:
                    return data
                data += chunk


def wait_ready(port, p, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if p.poll() is not None:
            raise RuntimeError('server exited: ' + p.stderr.read().decode(errors='replace')[-2000:])
        try:
            if get(port).endswith(b'Hello, World!'):
                for _ in range(8):  # every worker answers
                    get(port)
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError('server did not answer over https')


def probe(port, pin):
    out = subprocess.run([sys.executable, '-c', PROBE, str(port), str(PROBE_HANDSHAKES)], capture_output=True,
                         text=True, env=dict(os.environ, OPENSSL_CONF=pin), timeout=60)
    if out.returncode:
        raise RuntimeError('probe failed: ' + out.stderr[-1000:])
    return json.loads(out.stdout)


def wrk(port, duration, close, pin):
    """wrk over https with the pinned suite (run.py's wrk, plus wrk's own CPU share)."""
    cmd = ['wrk', '-t1', f'-c{CONNECTIONS}', f'-d{duration}s', '--timeout', '2s', '--latency']
    if close:
        cmd += ['-H', 'Connection: close']
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    out = subprocess.run(cmd + [f'https://127.0.0.1:{port}/'], capture_output=True, text=True,
                         env=dict(os.environ, OPENSSL_CONF=pin)).stdout
    elapsed = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    requests = int(re.search(r'(\d+) requests in', out).group(1))
    rps = float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1))
    p99 = re.search(r'99%\s+([\d.]+)(us|ms|s)', out)
    scale = {'us': 0.001, 'ms': 1.0, 's': 1000.0}
    p99ms = float(p99.group(1)) * scale[p99.group(2)] if p99 else float('nan')
    errors = re.search(r'Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)', out)
    non2xx = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
    err = sum(map(int, errors.groups())) if errors else 0
    wrk_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {'requests': requests, 'rps': rps, 'p99': p99ms, 'wrk_pct': 100 * wrk_cpu / elapsed,
            'errors': err + (int(non2xx.group(1)) if non2xx else 0)}


def check_pin(tmp, cert, key, pin):
    """wrk with the pin must fail against a server that offers only another TLS 1.3 suite."""
    port = harness.free_port()
    server = subprocess.Popen(['openssl', 's_server', '-accept', f'127.0.0.1:{port}', '-cert', cert, '-key', key,
                               '-tls1_3', '-ciphersuites', 'TLS_AES_256_GCM_SHA384', '-www', '-quiet'],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        r = wrk(port, 1, False, pin)
    finally:
        server.kill()
        server.wait()
    if r['requests']:
        sys.exit(f'wrk did not honour OPENSSL_CONF: it got {r["requests"]} responses from a server without {SUITE}')


def measure(cmd, modes, duration, pin):
    port = harness.free_port()
    p = harness.start(cmd(port))
    try:
        wait_ready(port, p)
        seen = probe(port, pin)
        if not seen['ok'] or seen['cipher'] != SUITE or seen['version'] != 'TLSv1.3':
            raise RuntimeError(f'unexpected TLS or response: {seen}')
        results = {}
        for mode in modes:
            cpu0 = harness.session_cpu(p.pid)
            r = wrk(port, duration, mode == 'close', pin)
            r['cpu_us'] = (harness.session_cpu(p.pid) - cpu0) / max(r['requests'], 1) * 1e6
            results[mode] = r
        return results, seen
    finally:
        harness.stop(p)


def setup(binary):
    missing = [t for t in ('wrk', 'nginx', 'openssl') if not shutil.which(t)]
    if missing:
        harness.sh(['apt-get', 'install', '-y', '-qq'] + missing)
    harness.venv_install(('granian',), ('granian',))
    return os.path.abspath(binary) if binary else harness.setup()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--duration', type=int, default=5)
    ap.add_argument('--servers', default='dispatchd,nginx,granian')
    ap.add_argument('--modes', default='ka,close', help='ka (-c50 keep-alive), close (-c50 Connection: close)')
    ap.add_argument('--binary', help='a dispatchd binary instead of building one')
    args = ap.parse_args()
    binary = setup(args.binary)
    tmp = tempfile.mkdtemp(prefix='tls-bench-')
    try:
        cert, key, pin = make_files(tmp)
        check_pin(tmp, cert, key, pin)
        cmds = commands(binary, tmp, cert, key)
        servers, modes = args.servers.split(','), args.modes.split(',')
        data, probes = {}, {}
        for rnd in range(args.rounds):
            order = servers[rnd % len(servers):] + servers[:rnd % len(servers)]
            for server in order:
                print(f'round {rnd + 1}: {server}', file=sys.stderr)
                try:
                    res, seen = measure(cmds[server], modes, args.duration, pin)
                except Exception as e:  # report and go on with the other servers
                    print(f'  {server} failed: {e}', file=sys.stderr)
                    continue
                probes.setdefault(server, []).append(seen)
                print(f'  {seen["version"]} {seen["cipher"]} alpn {seen["alpn"]}, '
                      f'resumed {seen["reused"]}/{seen["handshakes"]}', file=sys.stderr)
                for mode, r in res.items():
                    data.setdefault((server, mode), []).append(r)
                    print(f'  {mode}: {r["rps"]:.0f} req/s p99 {r["p99"]:.2f} ms cpu {r["cpu_us"]:.1f} us/req '
                          f'wrk {r["wrk_pct"]:.0f}% errors {r["errors"]}', file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report(data, probes, args, servers, modes)


def report(data, probes, args, servers, modes):
    med = harness.med
    print(f'\n# HTTPS hello world: {args.rounds} rounds x {args.duration} s, 2 workers each, wrk -t1 -c{CONNECTIONS} '
          f'(ka = keep-alive, close = Connection: close), TLS 1.3 {SUITE}, X25519, ECDSA P-256\n')
    print('| server | mode | req/s (median [min-max]) | p99 ms | CPU µs/req | wrk CPU % | errors | '
          'dispatchd req/s ratio | dispatchd CPU ratio |')
    print('|---|---|---|---|---|---|---|---|---|')
    for mode in modes:
        base = data.get(('dispatchd', mode))
        for server in servers:
            rs = data.get((server, mode))
            if not rs:
                continue
            rps = [r['rps'] for r in rs]
            ratio = cpu_ratio = ''
            if base and server != 'dispatchd':
                ratio = f'{med(base, "rps") / med(rs, "rps"):.2f}x'
                cpu_ratio = f'{med(base, "cpu_us") / med(rs, "cpu_us"):.2f}x'
            print(f'| {server} | {mode} | {statistics.median(rps):,.0f} [{min(rps):,.0f}-{max(rps):,.0f}] | '
                  f'{med(rs, "p99"):.2f} | {med(rs, "cpu_us"):.1f} | {med(rs, "wrk_pct"):.0f} | '
                  f'{sum(r["errors"] for r in rs)} | {ratio} | {cpu_ratio} |')
    print(f'\nSession resumption (probe: {PROBE_HANDSHAKES} sequential close connections, each offering the '
          'session the previous one got, as wrk does; where each worker has its own session keys, the share '
          'depends on which worker each connection reaches):\n')
    for server in servers:
        seen = probes.get(server)
        if seen:
            print(f'- {server}: {sum(s["reused"] for s in seen)}/{sum(s["handshakes"] for s in seen)} resumed; '
                  f'{seen[0]["version"]} {seen[0]["cipher"]}, ALPN {seen[0]["alpn"]}')


if __name__ == '__main__':
    main()
