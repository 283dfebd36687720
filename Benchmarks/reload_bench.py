#!/usr/bin/env python3
"""Reload under load: how many requests each server loses while its workers are replaced.

Not a test (the machine is shared and has 2 cores): a measurement, for dispatchd and its peers.
For each server, with 2 workers serving Tests/IntegrationTests/Fixtures/apps/loadapp.py:

1. The load generator (Tests/IntegrationTests/Fixtures/loadgen.py: 16 clients, keep-alive,
   Connection: close, slow and POST, plus 2 clients of long requests, every answer checked)
   runs against it for --duration seconds.
2. Meanwhile the server gets --hups SIGHUPs, evenly spaced (where it catches SIGHUP: checked in
   /proc before each one, so that none kills a server that does not reload on it), and recycles
   its workers every --max-requests requests where it can (gunicorn and uWSGI --max-requests,
   dispatchd --max-requests once it has it; granian only has --workers-lifetime, at least 60 s).
3. Then the generator gets SIGUSR1 (its mark: from here on, failures count as "at SIGTERM") and
   the server's master SIGTERM. The generator stops at the first refused connect after the mark
   (--stop-on-refused=after-mark), once its clients' requests in flight have ended.

The table counts requests sent and answered, and the failures during reloads and at SIGTERM, by
kind (loadgen.py's docstring says exactly what a failure is). Runs are interleaved (--runs N:
one table each, server order rotated) because failure counts vary from run to run.

    Benchmarks/reload_bench.py                               # gunicorn, uwsgi, granian, dispatchd; 1 run
    Benchmarks/reload_bench.py --runs 2 --servers gunicorn,uwsgi,granian
    Benchmarks/reload_bench.py --dispatchd path/to/dispatchd --servers dispatchd --duration 30

Each run's summaries (the generator's JSON, the server's log) are kept in Benchmarks/.build-reloadbench/.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as harness  # noqa: E402  (the HTTP harness: build, venv, ports, session sweep)

FIXTURES = os.path.join(harness.ROOT, 'Tests', 'IntegrationTests', 'Fixtures')
LOADGEN = os.path.join(FIXTURES, 'loadgen.py')
APP_DIR = os.path.join(FIXTURES, 'apps')
APP = 'loadapp:application'
OUT = os.path.join(harness.HERE, '.build-reloadbench')
VBIN = harness.VBIN
SERVERS = ('gunicorn', 'uwsgi', 'granian', 'dispatchd')
GRANIAN_LIFETIME = 60  # granian's --workers-lifetime minimum


def dispatchd_features(binary):
    """What the dispatchd binary supports of worker replacement, from its --help."""
    help_text = subprocess.run([binary, '--help'], capture_output=True, text=True).stdout
    return {'max_requests': '--max-requests' in help_text}


def server_command(name, port, binary, max_requests):
    """(command, the options that matter here as text) for server `name` on 127.0.0.1:port."""
    addr = f'127.0.0.1:{port}'
    if name == 'gunicorn':
        recycle = ['--max-requests', str(max_requests)]
        return ([f'{VBIN}/gunicorn', '-w', '2', '-k', 'gthread', '--threads', '1', '-b', addr, '--backlog', '1024',
                 '--log-level', 'warning', *recycle, APP],
                f'`-k gthread --threads 1 -w 2 {" ".join(recycle)}`')
    if name in ('uwsgi', 'uwsgi-lazy-apps'):
        lazy = ['--lazy-apps'] if name == 'uwsgi-lazy-apps' else []
        # --max-requests waits until a worker is --min-worker-lifetime old (default 10 s), which
        # no worker reaches between SIGHUPs that come every few seconds: 0 makes it recycle.
        recycle = ['--max-requests', str(max_requests), '--min-worker-lifetime', '0']
        return ([f'{VBIN}/uwsgi', '--http-socket', addr, '--master', '--processes', '2', '--module', APP, '--need-app',
                 '--disable-logging', '--die-on-term', '--listen', '1024', '--add-header', 'Connection: close',
                 *recycle, *lazy],
                f'`--http-socket --master --processes 2 --die-on-term {" ".join(recycle + lazy)}`')
    if name == 'granian':
        recycle = ['--workers-lifetime', str(GRANIAN_LIFETIME)]
        return ([f'{VBIN}/granian', '--interface', 'wsgi', '--workers', '2', '--host', '127.0.0.1', '--port',
                 str(port), '--backlog', '1024', '--no-access-log', *recycle, APP],
                f'`--interface wsgi --workers 2 {" ".join(recycle)}`')
    if name == 'dispatchd':
        if dispatchd_features(binary)['max_requests']:
            recycle = ['--max-requests', str(max_requests)]
            options = f'`--workers 2 {" ".join(recycle)}`'
        else:
            recycle, options = [], '`--workers 2` (`--max-requests`: not supported yet)'
        return [binary, '--workers', '2', '--bind', addr, '--no-access-log', *recycle, APP], options
    raise ValueError(f'unknown server {name}')


def catches(pid, signum):
    """Whether process `pid` has a handler for `signum` (SigCgt in /proc/PID/status)."""
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                if line.startswith('SigCgt:'):
                    return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    except OSError:
        pass
    return False


def wait_ready(port, p, log_path, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if p.poll() is not None:
            with open(log_path, errors='replace') as f:
                raise RuntimeError(f'server exited ({p.returncode}): ' + f.read()[-2000:])
        try:
            if all(harness.get(port, timeout=2, path=f'/echo?token=ready{i}').startswith(b'HTTP/1.1 200')
                   for i in range(8)):
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError('server did not answer')


def measure(name, binary, args, label):
    """One run of the scenario against server `name`: a result row."""
    port = harness.free_port()
    cmd, options = server_command(name, port, binary, args.max_requests)
    log_path = os.path.join(OUT, f'{label}-{name}.log')
    load_before = os.getloadavg()[0]
    with open(log_path, 'w') as log:
        server = subprocess.Popen(cmd, cwd=APP_DIR, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                  start_new_session=True, env=dict(os.environ, PYTHONPATH=APP_DIR))
    generator = None
    try:
        wait_ready(port, server, log_path)
        hup = catches(server.pid, signal.SIGHUP)
        generator = subprocess.Popen(
            [sys.executable, LOADGEN, '--port', str(port), '--stop-on-refused=after-mark', '--timeout', '30',
             '--keepalive', '5', '--close', '4', '--slow', '3', '--post', '4', '--long', '2'],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started = time.monotonic()
        hups = 0
        for i in range(args.hups if hup else 0):
            pause_until(started + args.duration * (i + 1) / (args.hups + 1))
            if server.poll() is not None or generator.poll() is not None:
                break
            # A master that is itself being replaced (uWSGI re-executes itself) catches SIGHUP
            # again once it is back; a SIGHUP before that would kill it.
            deadline = time.monotonic() + 5
            while not catches(server.pid, signal.SIGHUP) and time.monotonic() < deadline:
                time.sleep(0.05)
            os.kill(server.pid, signal.SIGHUP)
            hups += 1
        pause_until(started + args.duration)
        if server.poll() is not None:
            raise RuntimeError(f'server exited during the run ({server.returncode})')
        generator.send_signal(signal.SIGUSR1)
        time.sleep(0.05)  # the mark comes first
        os.kill(server.pid, signal.SIGTERM)
        term_at = time.monotonic()
        try:
            out, err = generator.communicate(timeout=90)
        except subprocess.TimeoutExpired:  # the server went on accepting: stop the clients
            generator.send_signal(signal.SIGINT)
            out, err = generator.communicate(timeout=60)
        try:
            status = server.wait(max(1.0, 90 - (time.monotonic() - term_at)))
            stop_seconds = time.monotonic() - term_at
        except subprocess.TimeoutExpired:
            status, stop_seconds = 'did not exit', None
        summary = json.loads(out)
        with open(os.path.join(OUT, f'{label}-{name}.json'), 'w') as f:
            json.dump({'server': name, 'command': cmd, 'hups': hups, 'summary': summary}, f, indent=2)
        print(f'  {name}: {err.strip()}', file=sys.stderr)
        with open(log_path, errors='replace') as f:
            hup_ignored = 'SIGHUP ignored' in f.read()  # dispatchd before it reloads: caught and logged
        return {'server': name, 'options': options, 'hups': hups, 'hup_supported': hup, 'hup_ignored': hup_ignored,
                'summary': summary, 'status': status, 'stop_seconds': stop_seconds, 'load': load_before}
    finally:
        if generator and generator.poll() is None:
            generator.kill()
            generator.wait()
        if server.poll() is None:
            os.kill(server.pid, signal.SIGKILL)
            server.wait()
        harness.kill_session(server.pid)


def pause_until(t):
    delay = t - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def failures_text(phase):
    if not phase['failed']:
        return '0'
    kinds = ', '.join(f'{kind} {n}' for kind, n in sorted(phase['failures'].items(), key=lambda kv: -kv[1]))
    return f'**{phase["failed"]}** ({kinds})'


def report(rows, args, label, dispatchd_note):
    print(f'\n### {label}: {args.duration:g} s, {args.hups} SIGHUPs, recycling every {args.max_requests} requests, '
          f'then SIGTERM; 2 workers each; 16 clients + 2 long\n')
    print('| server | options | SIGHUPs sent | sent | answered | failed during reloads | failed at SIGTERM '
          '| worker pids seen | stop (s) | load |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    for r in rows:
        s = r['summary']
        hups = str(r['hups']) if r['hup_supported'] else '0 (no handler)'
        if r['hup_ignored']:
            hups += ' (ignored: not supported yet)'
        stop = 'did not exit' if r['stop_seconds'] is None else f'{r["stop_seconds"]:.1f}'
        if r['status'] not in (0, 'did not exit'):
            stop += f' (exit {r["status"]})'
        print(f'| {r["server"]} | {r["options"]} | {hups} | {s["sent"]:,} | {s["answered"]:,} | '
              f'{failures_text(s["by_phase"]["run"])} | {failures_text(s["by_phase"]["stopping"])} | '
              f'{s["worker_pids"]} | {stop} | {r["load"]:.1f} |')
    if dispatchd_note:
        print(f'\n{dispatchd_note}')
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--servers', default=','.join(SERVERS),
                    help=f'comma-separated, from {", ".join(SERVERS)}, uwsgi-lazy-apps (default: all four)')
    ap.add_argument('--runs', type=int, default=1)
    ap.add_argument('--duration', type=float, default=70.0,
                    help=f'seconds of load before SIGTERM (default 70: granian --workers-lifetime is at least '
                         f'{GRANIAN_LIFETIME})')
    ap.add_argument('--hups', type=int, default=20)
    ap.add_argument('--max-requests', type=int, default=50)
    ap.add_argument('--dispatchd', metavar='BINARY', help='this dispatchd binary instead of building the tree')
    ap.add_argument('--no-setup', action='store_true', help='skip building dispatchd and installing the peers')
    args = ap.parse_args()
    servers = args.servers.split(',')
    binary = os.path.abspath(args.dispatchd) if args.dispatchd else os.path.join(harness.ROOT, '.build', 'release',
                                                                                 'dispatchd')
    if not args.no_setup:
        if 'dispatchd' in servers and not args.dispatchd:
            binary = harness.build_dispatchd()
        harness.venv_install(('gunicorn', 'granian'), ('uwsgi',))
    os.makedirs(OUT, exist_ok=True)
    dispatchd_note = ''
    if 'dispatchd' in servers and not dispatchd_features(binary)['max_requests']:
        dispatchd_note = ('dispatchd: this binary has no `--max-requests` yet, and its master catches SIGHUP only to '
                          'log that reloading is not supported: its row measures the load and the SIGTERM alone.')
    stamp = time.strftime('%Y%m%d-%H%M%S')
    for run in range(args.runs):
        order = servers[run % len(servers):] + servers[:run % len(servers)]
        label = f'run {run + 1}'
        rows = []
        for name in order:
            print(f'{label}: {name} (load {os.getloadavg()[0]:.1f})', file=sys.stderr)
            try:
                rows.append(measure(name, binary, args, f'{stamp}-run{run + 1}'))
            except Exception as e:  # report and go on with the other servers
                print(f'  {name} failed: {e}', file=sys.stderr)
        report(rows, args, label, dispatchd_note)


if __name__ == '__main__':
    main()
