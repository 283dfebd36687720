#!/usr/bin/env python3
"""WebSocket scenarios for the harness (not a test; the machine is shared and has 2 cores).

1. hold: 10,000 concurrent connections on one dispatchd worker, then on the websockets
   library's asyncio server, each echoing a small message every second for 60 s: how many stay
   connected, round-trip p50/p99, and the server's RSS growth per idle connection (RSS once all
   are connected and idle, minus RSS before), and again once the traffic is over (buffers given
   back when drained).
2. echo: echo throughput over 100 connections (one 32-byte message in flight each), side by
   side, interleaved rounds: dispatchd (1 worker, --uwsgi-compat, the uWSGI-API app),
   uWSGI 2.0 (1 process, --http-websockets, 100 threads, the same app file) and the websockets
   library's asyncio server. Messages/s, p99, server CPU µs per message, dispatchd's ratios.

The load generator is tools/wsload.c (one epoll thread, raw frames), built here with cc.

    Benchmarks/ws_bench.py [--scenarios hold,echo] [--rounds 3] [--duration 10]
                           [--connections 10000] [--hold-seconds 60]
                           [--hold-servers dispatchd,websockets] [--binary PATH]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as harness  # noqa: E402  (the HTTP harness: setup, ports, CPU accounting)

HERE = harness.HERE
APPS = harness.APPS
VBIN = harness.VBIN
WSLOAD = os.path.join(HERE, '.build-wsload', 'wsload')


def build_wsload():
    os.makedirs(os.path.dirname(WSLOAD), exist_ok=True)
    harness.sh(['cc', '-O2', '-o', WSLOAD, os.path.join(HERE, 'tools', 'wsload.c')])


def servers(binary):
    return {
        'dispatchd': lambda port: [binary, '--workers', '1', '--bind', f'127.0.0.1:{port}', '--no-access-log',
                                   '--backlog', '4096', '--uwsgi-compat', '--pythonpath', APPS, 'ws_uwsgi_app:application'],
        'uwsgi': lambda port: [f'{VBIN}/uwsgi', '--http-socket', f'127.0.0.1:{port}', '--http-websockets', '--master',
                               '--processes', '1', '--threads', '100', '--pythonpath', APPS, '--module',
                               'ws_uwsgi_app:application', '--disable-logging', '--die-on-term', '--listen', '1024'],
        'websockets': lambda port: [f'{VBIN}/python', os.path.join(APPS, 'ws_asyncio_server.py'), str(port)],
    }


def wait_listening(port, p, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if p.poll() is not None:
            raise RuntimeError('server exited: ' + p.stderr.read().decode(errors='replace')[-2000:])
        try:
            harness.socket.create_connection(('127.0.0.1', port), timeout=0.5).close()
            time.sleep(0.5)
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError('server did not listen')


def worker_pid(p, name):
    """The process that serves: dispatchd's and uWSGI's worker (a child), or the server."""
    if name == 'websockets':
        return p.pid
    out = subprocess.run(['pgrep', '-P', str(p.pid)], capture_output=True, text=True).stdout.split()
    return int(out[0])


def rss_kib(pid):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def hold(binary, args, name):
    """One server holding the connections: its RSS before, once all are connected and idle (each
    handler waiting in receive()), and idle again after the traffic."""
    port = harness.free_port()
    p = harness.start(servers(binary)[name](port))
    try:
        wait_listening(port, p)
        worker = worker_pid(p, name)
        before = rss_kib(worker)
        pause = 5
        load = subprocess.Popen([WSLOAD, str(port), '/ws', str(args.connections), str(args.hold_seconds), '1', '32', '1',
                                 str(pause), str(pause)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def wait_for(word):
            while load.stderr.readline().strip() != word:
                if load.poll() is not None:
                    raise RuntimeError('wsload failed: ' + load.stderr.read())
            time.sleep(pause / 2)

        wait_for('connected')
        idle = rss_kib(worker)
        cpu0 = harness.session_cpu(p.pid)
        wait_for('done')
        cpu = harness.session_cpu(p.pid) - cpu0
        after = rss_kib(worker)
        out, err = load.communicate()
        r = json.loads(out)
        r['rss_before_kib'] = before
        r['rss_idle_kib'] = idle
        r['rss_after_kib'] = after
        r['rss_per_connection_kib'] = (idle - before) / max(r['connected'], 1)
        r['rss_after_per_connection_kib'] = (after - before) / max(r['connected'], 1)
        r['cpu_us_per_msg'] = cpu / max(r['messages'], 1) * 1e6
        return r
    finally:
        harness.stop(p)


def echo(binary, args):
    results = {}
    names = ['dispatchd', 'uwsgi', 'websockets']
    for rnd in range(args.rounds):
        for name in names:
            port = harness.free_port()
            p = harness.start(servers(binary)[name](port))
            try:
                wait_listening(port, p)
                cpu0 = harness.session_cpu(p.pid)
                out = subprocess.run([WSLOAD, str(port), '/ws', '100', str(args.duration)], capture_output=True, text=True)
                cpu = harness.session_cpu(p.pid) - cpu0
                r = json.loads(out.stdout)
                r['cpu_us_per_msg'] = cpu / max(r['messages'], 1) * 1e6
                print(f'round {rnd + 1}: {name}: {r}', file=sys.stderr)
                results.setdefault(name, []).append(r)
            finally:
                harness.stop(p)
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--scenarios', default='hold,echo')
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--duration', type=float, default=10)
    ap.add_argument('--connections', type=int, default=10000)
    ap.add_argument('--hold-seconds', type=float, default=60)
    ap.add_argument('--hold-servers', default='dispatchd,websockets')
    ap.add_argument('--binary', help='the dispatchd to measure (default: a release build of this tree)')
    args = ap.parse_args()
    if args.binary:
        binary = args.binary  # a build kept for a before/after comparison
    else:
        binary = harness.setup()
    build_wsload()
    scenarios = args.scenarios.split(',')
    print('# WebSocket scenarios (release build; wrk-free: tools/wsload.c)\n')
    if 'hold' in scenarios:
        print(f'## hold: {args.connections} connections x 1 message/s for {args.hold_seconds:.0f} s, one worker / process\n')
        print('| server | connected | still connected at the end | round trips | p50 ms | p99 ms | RSS before / idle / after the traffic (KiB) '
              '| RSS per idle connection (KiB) | after the traffic | CPU µs/msg |')
        print('|---|---|---|---|---|---|---|---|---|---|')
        for name in args.hold_servers.split(','):
            r = hold(binary, args, name)
            print(f"| {name} | {r['connected']} | {r['connected'] - r['closed']} | {r['messages']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                  f"{r['rss_before_kib']} / {r['rss_idle_kib']} / {r['rss_after_kib']} | {r['rss_per_connection_kib']:.1f} | "
                  f"{r['rss_after_per_connection_kib']:.1f} | {r['cpu_us_per_msg']:.1f} |", flush=True)
        print()
    if 'echo' in scenarios:
        res = echo(binary, args)
        print(f'## echo: 100 connections, 32-byte messages, {args.rounds} rounds x {args.duration:.0f} s\n')
        print('| server | msgs/s (median [min-max]) | p99 ms | CPU µs/msg | dispatchd msgs/s ratio | dispatchd CPU ratio |')
        print('|---|---|---|---|---|---|')
        med = {n: statistics.median(x['msgs_per_s'] for x in rs) for n, rs in res.items()}
        cpu = {n: statistics.median(x['cpu_us_per_msg'] for x in rs) for n, rs in res.items()}
        for n, rs in res.items():
            lo = min(x['msgs_per_s'] for x in rs)
            hi = max(x['msgs_per_s'] for x in rs)
            p99 = statistics.median(x['p99_ms'] for x in rs)
            ratio = '' if n == 'dispatchd' else f"{med['dispatchd'] / med[n]:.2f}x"
            cratio = '' if n == 'dispatchd' else f"{cpu['dispatchd'] / cpu[n]:.2f}x"
            print(f'| {n} | {med[n]:,.0f} [{lo:,.0f}-{hi:,.0f}] | {p99:.2f} | {cpu[n]:.1f} | {ratio} | {cratio} |')


if __name__ == '__main__':
    main()
