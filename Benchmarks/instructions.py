#!/usr/bin/env python3
"""Deterministic cost per request: instructions and system calls of dispatchd's processes.

wrk on a shared 2-core machine cannot see differences of a few percent (the same binary against
itself lands 10-25% apart). This counts instead. The server runs with one worker under valgrind
(cachegrind, --trace-children=yes: master and worker); once the worker is ready, a client sends
requests one at a time, and the instructions both processes execute in user space are summed.
Two runs, of N1 and N2 requests: (count(N2) - count(N1)) / (N2 - N1) is the cost of one
request, start-up and shutdown cancel. System calls are counted the same way with strace -f -c.

    Benchmarks/instructions.py [--baseline OLD_BINARY] [--binary NEW_BINARY] [--shared]
                               [--workloads hello,flask] [--modes ka,close]

NEW is the tree's release build (built as run.py builds it) unless --binary is given; with
--baseline both are measured, and the table has NEW/OLD ratios. Modes: ka (one keep-alive
connection) and close (`Connection: close`, a connection per request). About 2-3 minutes per
binary. valgrind 3.19 cannot read the DWARF 5 of a Swift 6 release binary, so each binary runs
as a copy made with `objcopy --strip-debug` (symbols kept) in a temporary directory. Python's and
Swift's hash seeds are fixed (PYTHONHASHSEED=0, SWIFT_DETERMINISTIC_HASHING=1), so that
dictionaries cost the same in every run.
"""
import argparse
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as harness  # noqa: E402  (the HTTP harness: build, apps, server command, ports)

REQUESTS = {'hello': (200, 4200), 'flask': (200, 2200)}  # N1, N2: the two runs of each workload
WARMUP = 20  # requests sent before the counted ones in both runs (caches, lazy imports)
START_TIMEOUT = 300  # seconds: Python starts slowly under valgrind, slower still on a loaded machine
STOP_TIMEOUT = 300
TOOLS = {'valgrind': 'valgrind', 'strace': 'strace', 'objcopy': 'binutils'}  # command: apt package


def install(workloads):
    missing = [package for command, package in TOOLS.items() if shutil.which(command) is None]
    if missing:
        harness.sh(['apt-get', 'install', '-y', '-qq'] + missing)
    # The Flask app runs in the Python dispatchd embeds ($PYTHON at build time, default python3).
    python = os.environ.get('PYTHON', 'python3')
    if 'flask' in workloads and subprocess.run([python, '-c', 'import flask'], capture_output=True).returncode:
        harness.sh([python, '-m', 'pip', 'install', '-q', 'flask'])


def strip_debug(binary, directory, name):
    """A copy of `binary` without debug info (valgrind 3.19 fails on Swift's DWARF 5)."""
    copy = os.path.join(directory, name)
    subprocess.run(['objcopy', '--strip-debug', binary, copy], check=True)
    return copy


def request(close):
    return b'GET / HTTP/1.1\r\nHost: bench\r\n' + (b'Connection: close\r\n' if close else b'') + b'\r\n'


def exchange(sock, close):
    """One request on `sock` and its response, checked."""
    sock.sendall(request(close))
    data = b''
    while True:
        chunk = sock.recv(65536)
        data += chunk
        head, sep, body = data.partition(b'\r\n\r\n')
        length = re.search(rb'(?i)\r\ncontent-length:\s*(\d+)', head)
        if not chunk or (sep and length and len(body) >= int(length.group(1))):
            break
    if not data.startswith(b'HTTP/1.1 200') or not data.endswith(b'Hello, World!'):
        raise RuntimeError(f'unexpected response: {data[:300]!r}')


def send_requests(port, n, close):
    """n requests, each sent once the previous response is in: over one connection, or one
    connection each with `Connection: close`."""
    sock = None
    try:
        for _ in range(n):
            if sock is None:
                sock = socket.create_connection(('127.0.0.1', port), timeout=60)
            exchange(sock, close)
            if close:
                sock.close()
                sock = None
    finally:
        if sock is not None:
            sock.close()


def wait_ready(port, p, log):
    """Wait for the master to log that its worker is ready, then send one request (the same in
    every run, so it cancels). A request sent earlier would wait in the master, which retries
    the hand-off every millisecond until the worker is ready: instructions that depend on how
    long Python takes to start, not on the request."""
    deadline = time.time() + START_TIMEOUT
    while True:
        with open(log, errors='replace') as f:
            output = f.read()
        if re.search(r'worker \d+ \(pid \d+\) ready', output):
            break
        if p.poll() is not None or time.time() > deadline:
            raise RuntimeError("no 'worker ... ready' line from the server: " + output[-3000:])
        time.sleep(0.2)
    with socket.create_connection(('127.0.0.1', port), timeout=60) as sock:
        exchange(sock, True)


def master_pid(p, tool):
    """The dispatchd master: valgrind runs it in its own process, strace as its child."""
    if tool != 'strace':
        return p.pid
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/stat') as f:
                if int(f.read().rsplit(')', 1)[1].split()[1]) == p.pid:  # field 4, the parent
                    return int(pid)
        except OSError:
            pass
    raise RuntimeError('no dispatchd process under strace')


def count(binary, workload, close, n, tool, tmp, extra=()):
    """Run the server (master + 1 worker) under `tool` for n requests. Returns the counts:
    instructions by process ({'master': Ir, 'worker': Ir}) or system calls by name."""
    for f in os.listdir(tmp):
        os.unlink(os.path.join(tmp, f))
    if tool == 'strace':
        prefix = ['strace', '-f', '-c', '-o', os.path.join(tmp, 'out.strace')]
    else:
        prefix = ['valgrind', '--tool=cachegrind', '--cache-sim=no', '--trace-children=yes',
                  f'--cachegrind-out-file={tmp}/out.%p']
    port = harness.free_port()
    command = harness.server_commands(binary)['dispatchd'](port, harness.APP_SPECS[workload])
    command[command.index('--workers') + 1] = '1'
    command[1:1] = list(extra)
    # Fixed seeds for Python's and Swift's hashing: the same dictionary probes in every run.
    env = dict(os.environ, PYTHONPATH=harness.APPS, PYTHONHASHSEED='0', SWIFT_DETERMINISTIC_HASHING='1')
    log = os.path.join(tmp, 'stderr')
    with open(log, 'wb') as stderr:
        p = subprocess.Popen(prefix + command, cwd=harness.APPS, stdout=subprocess.DEVNULL, stderr=stderr,
                             start_new_session=True, env=env)
    try:
        wait_ready(port, p, log)
        send_requests(port, WARMUP, close)
        send_requests(port, n, close)
        # A graceful stop of the master alone: the worker exits, every count is written.
        master = master_pid(p, tool)
        os.kill(master, signal.SIGTERM)
        p.wait(STOP_TIMEOUT)
    finally:
        harness.stop(p)  # only if something went wrong: kills whatever is left of the session
    if p.returncode != 0:
        with open(log, errors='replace') as f:
            raise RuntimeError(f'{tool} exited with status {p.returncode}: ' + f.read()[-3000:])
    if tool == 'strace':
        return strace_counts(os.path.join(tmp, 'out.strace'))
    files = sorted(f for f in os.listdir(tmp) if f.startswith('out.'))
    if len(files) != 2 or f'out.{master}' not in files:
        raise RuntimeError(f'expected counts from the master ({master}) and one worker, got {files}')
    counts = {}
    for f in files:
        with open(os.path.join(tmp, f)) as out:
            summary = next(int(line.split()[1]) for line in out if line.startswith('summary:'))
        counts['master' if f == f'out.{master}' else 'worker'] = summary
    return counts


def strace_counts(path):
    """strace -c's table: {syscall: calls}."""
    calls = {}
    with open(path) as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 5 and re.fullmatch(r'[\d.]+', fields[0]) and fields[3].isdigit():
                calls[fields[-1]] = int(fields[3])
    calls.pop('total')
    return calls


def per_request(binary, workload, mode, tool, tmp, extra=()):
    """Counts per request, from a run of N1 requests and one of N2."""
    n1, n2 = REQUESTS[workload]
    c1, c2 = (count(binary, workload, mode == 'close', n, tool, tmp, extra) for n in (n1, n2))
    return {k: (c2.get(k, 0) - c1.get(k, 0)) / (n2 - n1) for k in c1.keys() | c2.keys()}


def measure(binary, workload, mode, tmp, label, extra=()):
    """{'instructions': by process, 'syscalls': by name}, per request."""
    t0 = time.time()
    result = {'instructions': per_request(binary, workload, mode, 'valgrind', tmp, extra),
              'syscalls': per_request(binary, workload, mode, 'strace', tmp, extra)}
    print(f'  {workload} {mode} {label}: {details(result)} ({time.time() - t0:.0f} s)', file=sys.stderr, flush=True)
    return result


def details(result):
    """'21,509 instructions (master 0, worker 21,509), 3.00 syscalls (read 1.00, ...)'."""
    by_process = result['instructions']
    calls = sorted(((n, name) for name, n in result['syscalls'].items() if abs(n) >= 0.005), reverse=True)
    return (f'{round(sum(by_process.values())):,} instructions (master {round(by_process["master"]):,}, worker '
            f'{round(by_process["worker"]):,}), {sum(result["syscalls"].values()):.2f} syscalls ('
            + ', '.join(f'{name} {n:.2f}' for n, name in calls) + ')')


def sha(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--binary', metavar='NEW_BINARY', help="measure this binary instead of the tree's release build")
    ap.add_argument('--baseline', metavar='OLD_BINARY', help='also measure this binary, with NEW/OLD ratios')
    ap.add_argument('--workloads', default='hello,flask', help='hello and/or flask (default: both)')
    ap.add_argument('--modes', default='ka,close', help='ka (keep-alive) and/or close (default: both)')
    ap.add_argument('--shared', action='store_true',
                    help='run NEW with --accept-mode shared (the workers accept); with --baseline the same binary, '
                         'the two accept modes side by side')
    args = ap.parse_args()
    workloads = args.workloads.split(',')
    modes = args.modes.split(',')
    for name, given, known in (('workload', workloads, REQUESTS), ('mode', modes, ('ka', 'close'))):
        for w in given:
            if w not in known:
                ap.error(f'unknown {name} {w!r} (known: {", ".join(known)})')

    install(workloads)
    binaries = {'new': os.path.abspath(args.binary) if args.binary else harness.build_dispatchd()}
    if args.baseline:
        binaries['baseline'] = os.path.abspath(args.baseline)
    results = {}  # (workload, mode, label) -> measure()
    with tempfile.TemporaryDirectory(prefix='dispatchd-instructions-') as tmp:
        copies = {label: strip_debug(path, tmp, f'dispatchd-{label}') for label, path in binaries.items()}
        out = os.path.join(tmp, 'out')
        os.mkdir(out)
        for workload in workloads:
            for mode in modes:
                for label, copy in copies.items():
                    extra = ('--accept-mode', 'shared') if args.shared and label == 'new' else ()
                    results[workload, mode, label] = measure(copy, workload, mode, out, label, extra)
    report(results, binaries, workloads, modes, args.shared)


def report(results, binaries, workloads, modes, shared_new=False):
    runs = ', '.join(f'{w} {n1} and {n2}' for w, (n1, n2) in REQUESTS.items() if w in workloads)
    print('\n# Instructions and system calls per request\n')
    print(f'dispatchd with 1 worker, requests one at a time (ka: one keep-alive connection; close: '
          f'`Connection: close`, a connection each). Instructions: user space of master and worker (valgrind); '
          f'system calls: strace -f -c. Runs of {runs} requests.\n')
    for label, path in binaries.items():
        shared = ' with `--accept-mode shared`' if label == 'new' and shared_new else ''
        print(f'- {label}: `{path}` (sha256 {sha(path)}){shared}')
    print()
    baseline = 'baseline' in binaries
    if baseline:
        print('| workload | mode | instructions/request | baseline | ratio | syscalls/request | baseline | ratio |')
        print('|---|---|---|---|---|---|---|---|')
    else:
        print('| workload | mode | instructions/request | syscalls/request |')
        print('|---|---|---|---|')
    for workload in workloads:
        for mode in modes:
            i_new, s_new = totals(results[workload, mode, 'new'])
            if baseline:
                i_old, s_old = totals(results[workload, mode, 'baseline'])
                print(f'| {workload} | {mode} | {i_new:,.0f} | {i_old:,.0f} | {i_new / i_old:.3f} | '
                      f'{s_new:.2f} | {s_old:.2f} | {s_new / s_old:.3f} |')
            else:
                print(f'| {workload} | {mode} | {i_new:,.0f} | {s_new:.2f} |')
    print('\nBy process and by system call:\n')
    for workload in workloads:
        for mode in modes:
            for label in binaries:
                print(f'- {workload} {mode} {label}: {details(results[workload, mode, label])}')
    if 'close' in modes:
        print('\nThe same binary measured twice agrees within about 1% in instructions and exactly in keep-alive '
              'system calls; with close, how often the master wakes (epoll_wait, recvmsg) depends on timing, '
              'so its system calls vary by up to about 10%.')


def totals(result):
    return sum(result['instructions'].values()), sum(result['syscalls'].values())


if __name__ == '__main__':
    main()
