#!/usr/bin/env python3
"""Load harness: dispatchd side by side with gunicorn (gthread), bjoern, uWSGI and nginx.

Builds dispatchd in release, installs the peers into Benchmarks/.venv, then for several
interleaved rounds starts each server with 2 workers on the same app, checks its response,
and runs wrk: keep-alive (-c64), Connection: close (-c64), and one connection (-c1). Prints
req/s, p99 latency and server CPU microseconds per request (user+sys of every process of the
server, from /proc), and dispatchd's ratio to each peer. Not a test: the machine is shared.

    Benchmarks/run.py [--rounds 3] [--duration 5] [--workloads hello,flask] [--servers ...]
                      [--baseline path/to/older/dispatchd]

Static files: `--workloads static1k,static100k --servers dispatchd,nginx,uwsgi --modes ka`
serves a 1 KiB and a 100 KiB file from /assets: dispatchd --static-map, nginx (sendfile on,
2 worker processes) and uWSGI --static-map, 2 workers each.
"""
import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
APPS = os.path.join(HERE, 'apps')
VENV = os.path.join(HERE, '.venv')
VBIN = os.path.join(VENV, 'bin')
TICK = os.sysconf('SC_CLK_TCK')

APP_SPECS = {'hello': 'hello_app:app', 'flask': 'flask_app:app', 'echo': 'echo_app:app', 'static1k': 'hello_app:app',
             'static100k': 'hello_app:app'}
# wrk scripts by workload: echo POSTs a 64 KiB body, which the app sends back.
WRK_SCRIPTS = {'echo': os.path.join(HERE, 'tools', 'post64k.lua')}
STATIC_DIR = os.path.join(HERE, '.build-static')
STATIC_PATHS = {'static1k': '/assets/1k.bin', 'static100k': '/assets/100k.bin'}


def static_files():
    os.makedirs(STATIC_DIR, exist_ok=True)
    for name, size in (('1k.bin', 1024), ('100k.bin', 100 * 1024)):
        path = os.path.join(STATIC_DIR, name)
        if not os.path.exists(path) or os.path.getsize(path) != size:
            with open(path, 'wb') as f:
                f.write(bytes(i % 251 for i in range(size)))


def nginx_command(port):
    prefix = os.path.join(STATIC_DIR, f'nginx-{port}')
    os.makedirs(os.path.join(prefix, 'logs'), exist_ok=True)
    conf = os.path.join(prefix, 'nginx.conf')
    with open(conf, 'w') as f:
        f.write(f"""worker_processes 2;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 100000;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port} backlog=1024;
        location /assets/ {{ alias {STATIC_DIR}/; }}
        location / {{ return 200 'Hello, World!'; }}
    }}
}}
""")
    return ['nginx', '-p', prefix, '-c', conf, '-g', 'daemon off;']


def server_commands(binary):
    return {
        'dispatchd': lambda port, app: [binary, '--workers', '2', '--bind', f'127.0.0.1:{port}',
                                        '--no-access-log', app],
        # The workers accept from the shared listening socket themselves (EPOLLEXCLUSIVE).
        'dispatchd-shared': lambda port, app: [binary, '--workers', '2', '--accept-mode', 'shared',
                                               '--bind', f'127.0.0.1:{port}', '--no-access-log', app],
        'gunicorn-gthread': lambda port, app: [f'{VBIN}/gunicorn', '-w', '2', '-k', 'gthread', '--threads', '1',
                                               '-b', f'127.0.0.1:{port}', '--backlog', '1024', '--log-level', 'warning', app],
        'bjoern': lambda port, app: [f'{VBIN}/python', os.path.join(APPS, 'prefork.py'), '--port', str(port),
                                     '--workers', '2', app],
        'uwsgi': lambda port, app: [f'{VBIN}/uwsgi', '--http-socket', f'127.0.0.1:{port}', '--master', '--processes', '2',
                                    '--module', app, '--need-app', '--disable-logging', '--die-on-term',
                                    '--listen', '1024', '--add-header', 'Connection: close'],
        'nginx': lambda port, app: nginx_command(port),
    }


def static_command(server, command):
    """The server command for a static workload: the app plus the /assets map."""
    if server.startswith('dispatchd'):
        return lambda port, app: command(port, app)[:-1] + ['--static-map', f'/assets={STATIC_DIR}', app]
    if server == 'uwsgi':
        # uWSGI's keep-alive needs --http-keepalive (its Connection: close header is for the app).
        return lambda port, app: [a for a in command(port, app) if a not in ('--add-header', 'Connection: close')] + [
            '--static-map', f'/assets={STATIC_DIR}', '--http-keepalive']
    return command


def sh(cmd, **kw):
    """Runs a setup command; its output goes to stderr, so that stdout carries only the report."""
    print('+', ' '.join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, stdout=sys.stderr, **kw)


def build_dispatchd():
    """Builds dispatchd in release; its path."""
    sh(['swift', 'build', '-c', 'release', '--product', 'dispatchd'], cwd=ROOT)
    return os.path.join(ROOT, '.build', 'release', 'dispatchd')


def venv_install(modules, executables=()):
    """Creates Benchmarks/.venv if missing, and pip-installs into it those of `modules` that do
    not import and those of `executables` that are not in its bin (each named as on PyPI)."""
    if not os.path.exists(VBIN):
        sh([sys.executable, '-m', 'venv', '--system-site-packages', VENV])
    need = [m for m in modules if subprocess.run([f'{VBIN}/python', '-c', f'import {m}'], capture_output=True).returncode]
    need += [e for e in executables if not os.path.exists(f'{VBIN}/{e}')]
    if need:
        sh([f'{VBIN}/pip', 'install', '-q'] + need)


def setup():
    binary = build_dispatchd()
    missing = [t for t in ('wrk', 'nginx') if subprocess.run(['which', t], capture_output=True).returncode]
    if subprocess.run(['dpkg', '-s', 'libev-dev'], capture_output=True).returncode:  # bjoern builds against it
        missing.append('libev-dev')
    if missing:
        sh(['apt-get', 'install', '-y', '-qq'] + missing)
    venv_install(('gunicorn', 'bjoern', 'flask', 'websockets', 'greenlet'), ('uwsgi',))
    return binary


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(port, timeout=1.0, path='/'):
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as s:
        s.sendall(f'GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n'.encode())
        data = b''
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk


def session_cpu(sid):
    """user+sys seconds of every live process in session `sid`."""
    total = 0
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open(f'/proc/{pid}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # field 6 (session), after pid and comm
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def start(cmd):
    p = subprocess.Popen(cmd, cwd=APPS, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                         env=dict(os.environ, PYTHONPATH=APPS))
    return p


def stop(p):
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    # dispatchd's workers are in their own process groups (same session): sweep the session.
    kill_session(p.pid)


def kill_session(sid):
    """SIGKILL to every process left in session `sid`."""
    for pid in os.listdir('/proc'):
        if pid.isdigit():
            try:
                with open(f'/proc/{pid}/stat') as f:
                    if int(f.read().rsplit(')', 1)[1].split()[3]) == sid:
                        os.kill(int(pid), signal.SIGKILL)
            except (OSError, ValueError):
                pass


def wait_ready(port, p, timeout=30, path='/'):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if p.poll() is not None:
            raise RuntimeError('server exited: ' + p.stderr.read().decode(errors='replace')[-2000:])
        try:
            reply = get(port, path=path)
            if (b'Hello, World!' in reply) if path == '/' else reply.startswith(b'HTTP/1.1 200'):
                # every worker answers: a few more requests
                for _ in range(8):
                    get(port, path=path)
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError('server did not answer')


def wrk(port, duration, connections, close, path='/', script=None):
    cmd = ['wrk', '-t1', f'-c{connections}', f'-d{duration}s', '--timeout', '2s', '--latency']
    if script:
        cmd += ['-s', script]
    if close:
        cmd += ['-H', 'Connection: close']
    out = subprocess.run(cmd + [f'http://127.0.0.1:{port}{path}'], capture_output=True, text=True).stdout
    requests = int(re.search(r'(\d+) requests in', out).group(1))
    rps = float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1))
    p99 = re.search(r'99%\s+([\d.]+)(us|ms|s)', out)
    scale = {'us': 0.001, 'ms': 1.0, 's': 1000.0}
    p99ms = float(p99.group(1)) * scale[p99.group(2)] if p99 else float('nan')
    errors = re.search(r'Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)', out)
    non2xx = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
    err = sum(map(int, errors.groups())) if errors else 0
    return {'requests': requests, 'rps': rps, 'p99': p99ms, 'errors': err + (int(non2xx.group(1)) if non2xx else 0)}


def measure(name, cmd, modes, duration, path='/', script=None):
    port = free_port()
    p = start(cmd(port))
    try:
        wait_ready(port, p, path=path)
        results = {}
        for mode in modes:
            conns, close = {'ka': (64, False), 'close': (64, True), 'c1': (1, False)}[mode]
            cpu0 = session_cpu(p.pid)
            r = wrk(port, duration, conns, close, path, script)
            cpu = session_cpu(p.pid) - cpu0
            r['cpu_us'] = cpu / max(r['requests'], 1) * 1e6
            results[mode] = r
        return results
    finally:
        stop(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--duration', type=int, default=5)
    ap.add_argument('--workloads', default='hello,flask')
    ap.add_argument('--servers', default='dispatchd,bjoern,gunicorn-gthread,uwsgi')
    ap.add_argument('--modes', default='ka,close,c1')
    ap.add_argument('--baseline', metavar='BINARY',
                    help='also run this dispatchd binary (e.g. a release build of an earlier commit) as "dispatchd-baseline"')
    args = ap.parse_args()
    binary = setup()
    commands = server_commands(binary)
    servers = args.servers.split(',')
    if args.baseline:
        commands['dispatchd-baseline'] = server_commands(os.path.abspath(args.baseline))['dispatchd']
        servers.append('dispatchd-baseline')
    modes = args.modes.split(',')
    data = {}  # (workload, server, mode) -> [results]
    for rnd in range(args.rounds):
        order = servers[rnd % len(servers):] + servers[:rnd % len(servers)]
        for workload in args.workloads.split(','):
            for server in order:
                print(f'round {rnd + 1}: {workload} {server}', file=sys.stderr)
                command = commands[server]
                path = STATIC_PATHS.get(workload, '/')
                if workload in STATIC_PATHS:
                    static_files()
                    command = static_command(server, command)
                elif server == 'nginx':
                    continue
                try:
                    res = measure(server, lambda port: command(port, APP_SPECS[workload]), modes, args.duration, path,
                                  WRK_SCRIPTS.get(workload))
                except Exception as e:  # report and go on with the other servers
                    print(f'  {server} failed: {e}', file=sys.stderr)
                    continue
                for mode, r in res.items():
                    data.setdefault((workload, server, mode), []).append(r)
                    print(f'  {mode}: {r["rps"]:.0f} req/s p99 {r["p99"]:.2f} ms cpu {r["cpu_us"]:.1f} us/req errors {r["errors"]}',
                          file=sys.stderr)
    report(data, args, servers, modes)


def med(rs, key):
    return statistics.median(r[key] for r in rs)


def report(data, args, servers, modes):
    print(f'\n# dispatchd vs peers: {args.rounds} rounds x {args.duration} s, 2 workers each, wrk -t1 '
          f'(ka = -c64 keep-alive, close = -c64 Connection: close, c1 = -c1)\n')
    for workload in args.workloads.split(','):
        print(f'## {workload}\n')
        print('| server | mode | req/s (median [min-max]) | p99 ms | CPU µs/req | errors | dispatchd req/s ratio | dispatchd CPU ratio |')
        print('|---|---|---|---|---|---|---|---|')
        for mode in modes:
            base = data.get((workload, 'dispatchd', mode))
            for server in servers:
                rs = data.get((workload, server, mode))
                if not rs:
                    continue
                rps = [r['rps'] for r in rs]
                ratio = cpu_ratio = ''
                if base and server != 'dispatchd':
                    ratio = f'{med(base, "rps") / med(rs, "rps"):.2f}x'
                    cpu_ratio = f'{med(base, "cpu_us") / med(rs, "cpu_us"):.2f}x'
                print(f'| {server} | {mode} | {statistics.median(rps):,.0f} [{min(rps):,.0f}-{max(rps):,.0f}] | '
                      f'{med(rs, "p99"):.2f} | {med(rs, "cpu_us"):.1f} | {sum(r["errors"] for r in rs)} | {ratio} | {cpu_ratio} |')
        print()


if __name__ == '__main__':
    main()
