#!/usr/bin/env python3
"""Threads for I/O-bound apps: an app that waits 5 ms per request (as a database call would),
served by 2 processes x 8 threads each, driven by wrk -c64 keep-alive. The ceiling is
2 x 8 / 5 ms = 3,200 req/s: the report gives each server's share of it and its CPU time per
request (user+sys of all its processes, from /proc). Servers, interleaved over the rounds:

    dispatchd         --workers 2 --threads 8
    gunicorn-gthread  -w 2 -k gthread --threads 8
    uwsgi             --processes 2 --threads 8 (--http-socket, as run.py)
    granian           --interface wsgi --workers 2 --blocking-threads 8
    waitress          threads=8 in each of 2 forked processes (apps/prefork.py)

`--workload stream` serves apps/stream_app.py instead (1 MiB streamed in 64 KiB pieces), and
`--also NAME=BINARY` adds another dispatchd build under NAME (to compare two designs).

Not a test: the machine is shared. Uses run.py's setup, and installs granian and waitress.

    Benchmarks/threads_bench.py [--rounds 5] [--duration 10] [--servers ...] [--modes ka,close]
                                [--workload io|stream] [--also NAME=BINARY]
"""
import argparse
import os
import statistics
import sys

import run as harness

APPS = {'io': 'io_app:app', 'stream': 'stream_app:app'}
CEILING = 2 * 8 / 0.005


def commands(binary, APP):
    vbin = harness.VBIN
    return {
        'dispatchd': lambda port: [binary, '--workers', '2', '--threads', '8', '--bind', f'127.0.0.1:{port}',
                                   '--no-access-log', APP],
        'gunicorn-gthread': lambda port: [f'{vbin}/gunicorn', '-w', '2', '-k', 'gthread', '--threads', '8',
                                          '-b', f'127.0.0.1:{port}', '--backlog', '1024', '--log-level', 'warning', APP],
        'uwsgi': lambda port: [f'{vbin}/uwsgi', '--http-socket', f'127.0.0.1:{port}', '--master', '--processes', '2',
                               '--threads', '8', '--module', APP, '--need-app', '--disable-logging', '--die-on-term',
                               '--listen', '1024', '--http-keepalive'],
        'granian': lambda port: [f'{vbin}/granian', '--interface', 'wsgi', '--workers', '2', '--blocking-threads', '8',
                                 '--host', '127.0.0.1', '--port', str(port), '--backlog', '1024', '--no-access-log', APP],
        'waitress': lambda port: [f'{vbin}/python', os.path.join(harness.APPS, 'prefork.py'), '--port', str(port),
                                  '--workers', '2', '--server', 'waitress', '--threads', '8', APP],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--duration', type=int, default=10)
    ap.add_argument('--servers', default='dispatchd,gunicorn-gthread,uwsgi,granian,waitress')
    ap.add_argument('--modes', default='ka', help='ka (-c64 keep-alive), close (-c64 Connection: close)')
    ap.add_argument('--binary', help='a dispatchd binary instead of building one')
    ap.add_argument('--workload', choices=sorted(APPS), default='io')
    ap.add_argument('--also', action='append', default=[], metavar='NAME=BINARY',
                    help='another dispatchd binary, run with the same options as NAME')
    args = ap.parse_args()
    binary = os.path.abspath(args.binary) if args.binary else harness.setup()
    harness.venv_install(('gunicorn', 'granian', 'waitress'), ('uwsgi',))
    cmds = commands(binary, APPS[args.workload])
    servers = args.servers.split(',')
    for extra in args.also:
        name, path = extra.split('=', 1)
        cmds[name] = commands(os.path.abspath(path), APPS[args.workload])['dispatchd']
        servers.append(name)
    modes = args.modes.split(',')
    data = {}
    for rnd in range(args.rounds):
        order = servers[rnd % len(servers):] + servers[:rnd % len(servers)]
        for server in order:
            print(f'round {rnd + 1}: {server}', file=sys.stderr)
            try:
                res = harness.measure(server, cmds[server], modes, args.duration,
                                      path='/' if args.workload == 'io' else '/stream')
            except Exception as e:  # report and go on with the other servers
                print(f'  {server} failed: {e}', file=sys.stderr)
                continue
            for mode, r in res.items():
                data.setdefault((server, mode), []).append(r)
                print(f'  {mode}: {r["rps"]:.0f} req/s p99 {r["p99"]:.2f} ms cpu {r["cpu_us"]:.1f} us/req '
                      f'errors {r["errors"]}', file=sys.stderr)
    what = ('5 ms I/O-bound app' if args.workload == 'io' else '1 MiB streamed in 64 KiB pieces')
    print(f'\n# {what}, 2 processes x 8 threads: {args.rounds} rounds x {args.duration} s, wrk -t1 -c64 '
          f'(ceiling {CEILING:,.0f} req/s for the 5 ms app)\n')
    print('| server | mode | req/s (median [min-max]) | of the ceiling | p99 ms | CPU µs/req | errors | dispatchd CPU ratio |')
    print('|---|---|---|---|---|---|---|---|')
    for mode in modes:
        base = data.get(('dispatchd', mode))
        for server in servers:
            rs = data.get((server, mode))
            if not rs:
                continue
            rps = [r['rps'] for r in rs]
            ratio = ''
            if base and server != 'dispatchd':
                ratio = f'{harness.med(base, "cpu_us") / harness.med(rs, "cpu_us"):.2f}x'
            print(f'| {server} | {mode} | {statistics.median(rps):,.0f} [{min(rps):,.0f}-{max(rps):,.0f}] | '
                  f'{statistics.median(rps) / CEILING:.2f} | {harness.med(rs, "p99"):.2f} | {harness.med(rs, "cpu_us"):.1f} | '
                  f'{sum(r["errors"] for r in rs)} | {ratio} |')


if __name__ == '__main__':
    main()
