#!/usr/bin/env python3
"""Channels fan-out (issue 17; not a test: the machine is shared and has 2 cores).

10,000 WebSocket subscribers of one room and one publisher connection sending 32-byte binary
messages, each carrying its send time; side by side, in interleaved rounds:

- dispatchd: `--workers 2`, apps/channels_app.py (uWSGI-style API: the subscribers spread over
  both workers by the round-robin hand-off; the publisher's worker delivers to its own and the
  master relays to the other);
- websockets: the websockets library's asyncio server, one process holding all subscribers,
  `websockets.broadcast()` for each message (apps/ws_broadcast_server.py; the fastest Python
  baseline);
- dispatchd-redis: two dispatchd instances (`--workers 2` each) bridged with `--channels
  redis://` through a redis-server started here, subscribers split across both, the publisher
  on the first (skipped, with a note, while dispatchd does not accept `--channels`).

The load is tools/fanout.c (one epoll thread, raw frames), built here with cc. Mode `max`
publishes as fast as the server takes it, with at most `--window` messages not yet received by
every subscriber (each of `--window`: 1 is the next message once the last has reached all);
mode `rate` publishes `--rate` messages a second, a load every server here sustains. Reported: deliveries/s,
publish-to-receive p50/p99, messages lost (deliveries expected minus received), and server CPU
(user+sys of every process of the server from /proc: master and workers, the websockets
process, both instances and redis-server) per delivery, measured from the moment all
subscribers have subscribed to the last delivery; medians over the rounds, and each server's
ratios to the websockets baseline (target: >= 2x its deliveries/s at <= 0.5x its CPU).

    Benchmarks/channels_bench.py [--servers dispatchd,websockets,dispatchd-redis]
                                 [--modes max,rate] [--rounds 3] [--duration 10]
                                 [--subscribers 10000] [--window 1,8] [--rate 1]
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as harness  # noqa: E402  (the HTTP harness: build, venv, ports, CPU accounting)

HERE = harness.HERE
APPS = harness.APPS
VBIN = harness.VBIN
WORK = os.path.join(HERE, '.build-wsload')
FANOUT = os.path.join(WORK, 'fanout')
NAMES = ('dispatchd', 'websockets', 'dispatchd-redis')


def build_fanout():
    os.makedirs(WORK, exist_ok=True)
    harness.sh(['cc', '-O2', '-Wall', '-o', FANOUT, os.path.join(HERE, 'tools', 'fanout.c')])


def raise_fd_limit(subscribers):
    """Soft descriptor limit to the hard one (servers and the load tool inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < subscribers + 1000:
        sys.exit(f'the hard descriptor limit ({hard}) is too low for {subscribers} subscribers')
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def setup(servers, binary):
    binary = os.path.abspath(binary) if binary else harness.build_dispatchd()
    harness.venv_install(('websockets',))
    if subprocess.run(['python3', '-c', 'import greenlet'], capture_output=True).returncode:
        # dispatchd embeds the python3 on PATH: greenlet goes there (blocking-style handlers).
        harness.sh(['python3', '-m', 'pip', 'install', '-q', 'greenlet'])
    if 'dispatchd-redis' in servers and not shutil.which('redis-server'):
        harness.sh(['apt-get', 'install', '-y', '-qq', 'redis-server'])
    build_fanout()
    return binary


def accepts_channels(binary):
    out = subprocess.run([binary, '--help'], capture_output=True, text=True)
    return '--channels' in out.stdout + out.stderr


class Server:
    """One server under test: its processes (each in its own session), the subscriber ports
    and the publisher's, and its CPU."""

    def __init__(self, name, binary, round_no):
        self.name, self.procs, self.extra_pids, self.logs = name, [], [], []
        self.stats_port = None
        tag = f'{name}-{round_no}'
        if name == 'websockets':
            port = harness.free_port()
            self.start(tag, [f'{VBIN}/python', os.path.join(APPS, 'ws_broadcast_server.py'), str(port)])
            self.sub_ports, self.pub_port = [port], port
        elif name == 'dispatchd':
            port, self.stats_port = harness.free_port(), harness.free_port()
            self.start(tag, self.dispatchd(binary, port) + ['--stats', f'127.0.0.1:{self.stats_port}'])
            self.sub_ports, self.pub_port = [port], port
        else:
            redis_port = harness.free_port()
            self.start(tag + '-redis', ['redis-server', '--port', str(redis_port), '--bind', '127.0.0.1', '--save', '',
                                        '--appendonly', 'no', '--loglevel', 'warning'])
            self.wait_listening(redis_port, self.procs[-1])
            ports = [harness.free_port(), harness.free_port()]
            for i, port in enumerate(ports):
                self.start(f'{tag}-{i}', self.dispatchd(binary, port) + ['--channels', f'redis://127.0.0.1:{redis_port}'])
            self.sub_ports, self.pub_port = ports, ports[0]
        for port, p in zip(self.sub_ports, self.procs[-len(self.sub_ports):]):
            self.wait_listening(port, p)

    @staticmethod
    def dispatchd(binary, port):
        return [binary, '--workers', '2', '--bind', f'127.0.0.1:{port}', '--no-access-log', '--backlog', '4096',
                '--pythonpath', APPS, 'channels_app:application']

    def start(self, tag, cmd):
        log = os.path.join(WORK, f'{tag}.log')
        self.logs.append(log)
        with open(log, 'wb') as f:
            self.procs.append(subprocess.Popen(cmd, cwd=APPS, stdout=f, stderr=subprocess.STDOUT, start_new_session=True,
                                               env=dict(os.environ, PYTHONPATH=APPS)))

    def wait_listening(self, port, p, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if p.poll() is not None:
                raise RuntimeError(f'{self.name} exited: ' + self.log_tail())
            try:
                harness.socket.create_connection(('127.0.0.1', port), timeout=0.5).close()
                time.sleep(0.5)  # every worker up
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f'{self.name} did not listen')

    def log_tail(self):
        out = ''
        for log in self.logs:
            with open(log, errors='replace') as f:
                out += f'--- {os.path.basename(log)}\n' + f.read()[-1500:]
        return out

    def cpu(self):
        """user+sys seconds of every process of the server."""
        return sum(harness.session_cpu(p.pid) for p in self.procs)

    def workers(self):
        """dispatchd's /workers: open WebSockets per worker (None elsewhere)."""
        if not self.stats_port:
            return None
        with urllib.request.urlopen(f'http://127.0.0.1:{self.stats_port}/workers', timeout=5) as r:
            data = json.load(r)
        rows = data['workers'] if isinstance(data, dict) else data
        return [w.get('websockets') for w in rows]

    def stop(self):
        for p in reversed(self.procs):
            harness.stop(p)


def run_once(server, args, mode, window):
    cmd = [FANOUT, '-p', ','.join(map(str, server.sub_ports)), '-P', str(server.pub_port), '-s', '/sub', '-u', '/pub',
           '-n', str(args.subscribers), '-d', str(args.duration), '-b', '32', '-i', '1']
    cmd += ['-w', str(window)] if mode == 'max' else ['-r', str(args.rate)]
    load = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cpu0 = spread = None
    notes = []
    for line in load.stderr:
        line = line.strip()
        if line.startswith('subscribed'):
            cpu0 = server.cpu()
            spread = server.workers()
        elif line == 'finished':
            cpu = server.cpu() - cpu0
            break
        else:
            notes.append(line)
    else:
        load.wait()
        raise RuntimeError(f'fanout failed ({load.returncode}): ' + '\n'.join(notes) + '\n' + server.log_tail())
    out, err = load.communicate()
    r = json.loads(out)
    r['cpu_s'] = cpu
    r['cpu_us_per_delivery'] = cpu / max(r['deliveries'], 1) * 1e6
    r['websockets_per_worker'] = spread
    r['notes'] = notes + err.split('\n')[:-1]
    return r


def median(rs, key):
    return statistics.median(r[key] for r in rs)


def report(results, args, mode, window, load_before, load_after):
    what = (f'as fast as taken, at most {window} in flight' if mode == 'max' else f'{args.rate:g} messages/s')
    print(f'## {mode}: {args.subscribers:,} subscribers, 32-byte messages, {what}; '
          f'{args.rounds} rounds x {args.duration:g} s (load average {load_before:.1f} before, {load_after:.1f} after)\n')
    print('| server | deliveries/s (median [min-max]) | p50 ms | p99 ms | lost | CPU µs/delivery | deliveries/s vs websockets '
          '| CPU/delivery vs websockets |')
    print('|---|---|---|---|---|---|---|---|')
    base = results.get('websockets')
    for name, rs in results.items():
        d = median(rs, 'deliveries_per_s')
        c = median(rs, 'cpu_us_per_delivery')
        lo = min(r['deliveries_per_s'] for r in rs)
        hi = max(r['deliveries_per_s'] for r in rs)
        lost = sum(r['lost'] for r in rs)
        ratio = cratio = ''
        if base and name != 'websockets':
            ratio = f"{d / median(base, 'deliveries_per_s'):.2f}x"
            cratio = f"{c / median(base, 'cpu_us_per_delivery'):.2f}x"
        print(f"| {name} | {d:,.0f} [{lo:,.0f}-{hi:,.0f}] | {median(rs, 'p50_ms'):.2f} | {median(rs, 'p99_ms'):.2f} | "
              f"{lost} | {c:.2f} | {ratio} | {cratio} |")
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--servers', default=','.join(NAMES))
    ap.add_argument('--modes', default='max,rate')
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--duration', type=float, default=10)
    ap.add_argument('--subscribers', type=int, default=10000)
    ap.add_argument('--window', default='1,8', help='mode max: messages not yet received by all, at most (a list)')
    ap.add_argument('--rate', type=float, default=1, help='mode rate: messages published a second')
    ap.add_argument('--binary', help='a dispatchd binary to use instead of building one')
    args = ap.parse_args()
    servers = [s for s in args.servers.split(',') if s]
    unknown = set(servers) - set(NAMES)
    if unknown:
        ap.error(f'unknown servers: {", ".join(sorted(unknown))} (known: {", ".join(NAMES)})')
    if set(args.modes.split(',')) - {'max', 'rate'}:
        ap.error('modes: max, rate')
    raise_fd_limit(args.subscribers)
    binary = setup(servers, args.binary)
    if 'dispatchd-redis' in servers and not accepts_channels(binary):
        print('note: dispatchd-redis skipped: this dispatchd does not accept --channels (the Redis bridge)\n')
        servers.remove('dispatchd-redis')
    print('# Channels fan-out (release build; load: tools/fanout.c)\n')
    runs = [(m, int(w)) for m in args.modes.split(',') if m == 'max' for w in args.window.split(',')]
    runs += [(m, 0) for m in args.modes.split(',') if m != 'max']
    for mode, window in runs:
        results = {}
        load_before = os.getloadavg()[0]
        for rnd in range(args.rounds):
            for name in servers:
                server = Server(name, binary, rnd + 1)
                try:
                    r = run_once(server, args, mode, window)
                finally:
                    server.stop()
                print(f'{mode} {window or ""} round {rnd + 1}: {name}: {json.dumps(r)} (load {os.getloadavg()[0]:.1f})', file=sys.stderr)
                results.setdefault(name, []).append(r)
        report(results, args, mode, window, load_before, os.getloadavg()[0])
        sys.stdout.flush()


if __name__ == '__main__':
    main()
