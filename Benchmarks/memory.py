#!/usr/bin/env python3
"""Memory and start-up of N workers: dispatchd spawned and with --preload, side by side with
uWSGI (which imports the app once in its master and forks its workers, unless --lazy-apps) and
gunicorn (with and without --preload), on the Flask app.

For each server and worker count, over several interleaved rounds: the time from the server's
start to all N workers ready, then, after 400 requests, the PSS and RSS summed over every process
of the server (master, zygote, workers: the server's session), from /proc/PID/smaps_rollup.
PSS counts a page shared by k processes as 1/k in each, so the sum is what the server costs the
machine. Prints medians: total PSS, total PSS / N (a worker's share, overhead included), total
RSS, and the time to ready. Not a test: the machine is shared.

    Benchmarks/memory.py [--rounds 3] [--workers 2,8] [--servers ...] [--app flask_app:app]
                         [--baseline BINARY]

--baseline also runs another dispatchd binary (a release build of an earlier commit), spawned
and with --preload, as dispatchd-baseline and dispatchd-baseline-preload.

Ready: for dispatchd, the master's Nth "worker ... ready" line (each worker has imported the app,
or been forked, and said so); for the peers, N worker processes exist and a request is answered.
"""
import argparse
import os
import statistics
import sys
import threading
import time

import run as r


def commands(binary, workers):
    n = str(workers)
    return {
        'dispatchd': lambda port, app: [binary, '--workers', n, '--bind', f'127.0.0.1:{port}', '--no-access-log', app],
        'dispatchd-preload': lambda port, app: [binary, '--workers', n, '--preload', '--bind', f'127.0.0.1:{port}',
                                                '--no-access-log', app],
        'uwsgi': lambda port, app: [f'{r.VBIN}/uwsgi', '--http-socket', f'127.0.0.1:{port}', '--master', '--processes',
                                    n, '--module', app, '--need-app', '--disable-logging', '--die-on-term'],
        'gunicorn': lambda port, app: [f'{r.VBIN}/gunicorn', '-w', n, '-b', f'127.0.0.1:{port}', '--log-level',
                                       'info', app],
        'gunicorn-preload': lambda port, app: [f'{r.VBIN}/gunicorn', '-w', n, '--preload', '-b', f'127.0.0.1:{port}',
                                               '--log-level', 'info', app],
    }


def session_pids(sid):
    pids = []
    for pid in os.listdir('/proc'):
        if pid.isdigit():
            try:
                with open(f'/proc/{pid}/stat') as f:
                    if int(f.read().rsplit(')', 1)[1].split()[3]) == sid:
                        pids.append(int(pid))
            except (OSError, ValueError):
                pass
    return pids


def rollup(pid):
    """(Pss, Rss) in KiB."""
    values = {}
    try:
        with open(f'/proc/{pid}/smaps_rollup') as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] in ('Pss:', 'Rss:'):
                    values[parts[0]] = int(parts[1])
    except OSError:
        return 0, 0
    return values.get('Pss:', 0), values.get('Rss:', 0)


def children(pid):
    try:
        with open(f'/proc/{pid}/task/{pid}/children') as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def measure(name, command, workers, app):
    port = r.free_port()
    started = time.monotonic()
    p = r.start(command(port, app))
    log = []
    reader = threading.Thread(target=lambda: log.extend(iter(p.stderr.readline, b'')), daemon=True)
    reader.start()
    try:
        deadline = started + 60
        ready_at = None
        while time.monotonic() < deadline and ready_at is None:
            if p.poll() is not None:
                raise RuntimeError(f'{name} exited: ' + b''.join(log).decode(errors='replace')[-2000:])
            if name.startswith('dispatchd'):
                if sum(b') ready' in line for line in list(log)) >= workers:
                    ready_at = time.monotonic()
            elif len(children(p.pid)) >= workers:
                try:
                    if b'200 OK' in r.get(port):
                        ready_at = time.monotonic()
                except OSError:
                    pass
            if ready_at is None:
                time.sleep(0.005)
        if ready_at is None:
            raise RuntimeError(f'{name}: not ready in 60 s')
        for _ in range(400):
            r.get(port)
        time.sleep(0.5)
        pss = rss = 0
        for pid in session_pids(p.pid):
            a, b = rollup(pid)
            pss += a
            rss += b
        return {'pss': pss / 1024, 'rss': rss / 1024, 'ready': ready_at - started}
    finally:
        r.stop(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--workers', default='2,8')
    ap.add_argument('--servers', default='dispatchd,dispatchd-preload,uwsgi,gunicorn,gunicorn-preload')
    ap.add_argument('--app', default='flask_app:app')
    ap.add_argument('--baseline', metavar='BINARY', help='also run this dispatchd binary (spawned and --preload)')
    args = ap.parse_args()
    binary = r.setup()
    servers = args.servers.split(',')
    if args.baseline:
        servers += ['dispatchd-baseline', 'dispatchd-baseline-preload']
    counts = [int(n) for n in args.workers.split(',')]
    results = {}

    def command(name, n):
        if name.startswith('dispatchd-baseline'):
            return commands(os.path.abspath(args.baseline), n)[name.replace('-baseline', '')]
        return commands(binary, n)[name]

    for rnd in range(args.rounds):
        for n in counts:
            for name in servers:
                m = measure(name, command(name, n), n, args.app)
                results.setdefault((name, n), []).append(m)
                print(f'round {rnd + 1}: {name} x{n}: PSS {m["pss"]:.1f} MiB, RSS {m["rss"]:.1f} MiB, '
                      f'ready in {m["ready"] * 1000:.0f} ms', file=sys.stderr)
    print(f'\n{args.app}, medians of {args.rounds} rounds')
    print('| server | workers | total PSS MiB | PSS / worker MiB | total RSS MiB | start to ready ms |')
    print('|---|---|---|---|---|---|')
    for n in counts:
        for name in servers:
            rs = results[(name, n)]
            pss = statistics.median(x['pss'] for x in rs)
            print(f'| {name} | {n} | {pss:.1f} | {pss / n:.1f} | {statistics.median(x["rss"] for x in rs):.1f} | '
                  f'{statistics.median(x["ready"] for x in rs) * 1000:.0f} |')


if __name__ == '__main__':
    main()
