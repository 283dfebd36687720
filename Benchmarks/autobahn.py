#!/usr/bin/env python3
"""Autobahn|Testsuite's fuzzing client against dispatchd's WebSocket server.

Installs autobahntestsuite (Python 2.7 only) into a virtualenv in .build-autobahn/ at the
repository's root (once), builds dispatchd, starts it with one worker on a free port serving
the echo in Benchmarks/apps/autobahn_app.py (the Flask API: text back as text, binary as
binary), runs `wstest -m fuzzingclient` on the chosen cases, and prints how many cases ended
with each behaviour (OK, NON-STRICT, INFORMATIONAL, UNIMPLEMENTED, FAILED) and every case that
is not OK. Exits 1 when a case is neither OK nor INFORMATIONAL. The HTML and JSON reports are
in .build-autobahn/reports/clients/.

    Benchmarks/autobahn.py [--cases 1-11] [--exclude 9] [--release | --binary PATH]
                           [--python2 PATH]
    Benchmarks/autobahn.py --install    (only the virtualenv: scripts/setup)

--cases: `*` (every case, the default), section ranges (`1-11`: sections 1 to 11), sections
(`5`), or cases (`6.4.3`), separated by commas; --exclude takes the same.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
APPS = os.path.join(HERE, 'apps')
WORK = os.path.join(ROOT, '.build-autobahn')
VENV = os.path.join(WORK, 'venv')
BOOTSTRAP = os.path.join(WORK, 'bootstrap')
REPORTS = os.path.join(WORK, 'reports')
BEHAVIOURS = ('OK', 'NON-STRICT', 'INFORMATIONAL', 'UNIMPLEMENTED', 'FAILED')
PASSING = ('OK', 'INFORMATIONAL')
# The largest messages of section 9 are 16 MiB.
MAX_MESSAGE = 64 << 20


def sh(cmd, **kw):
    """Runs a setup command; its output goes to stderr, so that stdout carries only the report."""
    print('+', ' '.join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, stdout=sys.stderr, **kw)


def find_python2():
    """pyenv's Python 2.7 (autobahntestsuite runs on nothing newer), else python2.7 on PATH."""
    if shutil.which('pyenv'):
        for version in ('2.7.18', '2.7'):
            r = subprocess.run(['pyenv', 'prefix', version], capture_output=True, text=True)
            if r.returncode == 0 and r.stdout.strip():
                return os.path.join(r.stdout.strip().splitlines()[0], 'bin', 'python')
    found = shutil.which('python2.7') or shutil.which('python2')
    if found:
        return found
    sys.exit('autobahn.py: no Python 2.7 found (pyenv install 2.7.18, or pass --python2)')


def install_wstest(python2):
    """The wstest of .build-autobahn/venv, created with virtualenv (16, the last that runs on
    2.7 without further packages) and autobahntestsuite installed on first use."""
    wstest = os.path.join(VENV, 'bin', 'wstest')
    if os.path.exists(wstest):
        return wstest
    if not os.path.exists(os.path.join(VENV, 'bin', 'pip')):
        sh([python2, '-m', 'pip', 'install', '-q', '--target', BOOTSTRAP, 'virtualenv<20'])
        sh([python2, '-m', 'virtualenv', '-q', VENV], env=dict(os.environ, PYTHONPATH=BOOTSTRAP))
    sh([os.path.join(VENV, 'bin', 'pip'), 'install', '-q', 'autobahntestsuite'])
    return wstest


def build_dispatchd(release):
    configuration = 'release' if release else 'debug'
    sh(['swift', 'build', '-c', configuration, '--product', 'dispatchd'], cwd=ROOT)
    return os.path.join(ROOT, '.build', configuration, 'dispatchd')


def case_key(case):
    return tuple(int(p) for p in case.split('.'))


def case_patterns(text):
    """Autobahn's case patterns for `1-11,6.4.3`: a section range becomes one pattern a section."""
    patterns = []
    for part in (p.strip() for p in text.split(',') if p.strip()):
        m = re.fullmatch(r'(\d+)-(\d+)', part)
        if m:
            patterns += [f'{n}.*' for n in range(int(m.group(1)), int(m.group(2)) + 1)]
        elif part == '*' or re.fullmatch(r'\d+(\.\d+)*(\.\*)?', part):
            patterns.append(part if part == '*' or '.' in part else part + '.*')
        else:
            sys.exit(f'autobahn.py: not a case, section or range: {part!r}')
    return patterns


class Server:
    """dispatchd with one worker on a free port: ready once it printed its listening address
    and its worker said it is ready (as the integration tests' ServerProcess waits)."""

    def __init__(self, binary, log_path):
        self.log_path = log_path
        self.log = open(log_path, 'w')
        self.process = subprocess.Popen(
            [binary, '--workers', '1', '--bind', '127.0.0.1:0', '--no-access-log',
             '--websocket-max-message', str(MAX_MESSAGE), '--pythonpath', APPS, 'autobahn_app:app'],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            env=dict(os.environ, PYTHONUNBUFFERED='1'))
        self.port = self.wait_ready()

    def text(self):
        with open(self.log_path, errors='replace') as f:
            return f.read()

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = self.text()
            m = re.search(r'listening on http://[^ \n]*:(\d+)', text)
            if m and ') ready' in text:
                return int(m.group(1))
            if self.process.poll() is not None:
                sys.exit(f'autobahn.py: dispatchd exited during start-up ({self.process.returncode}):\n{text}')
            time.sleep(0.02)
        self.stop()
        sys.exit(f'autobahn.py: dispatchd did not become ready:\n{self.text()}')

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def run_fuzzingclient(wstest, port, patterns, excluded):
    if os.path.exists(REPORTS):
        shutil.rmtree(REPORTS)
    spec = {
        'outdir': os.path.join(REPORTS, 'clients'),
        'servers': [{'agent': 'dispatchd', 'url': f'ws://127.0.0.1:{port}'}],
        'cases': patterns,
        'exclude-cases': excluded,
        'exclude-agent-cases': {},
    }
    path = os.path.join(WORK, 'fuzzingclient.json')
    with open(path, 'w') as f:
        json.dump(spec, f, indent=2)
    log = os.path.join(WORK, 'wstest.log')
    print(f'+ {wstest} -m fuzzingclient -s {path} > {log}', file=sys.stderr)
    with open(log, 'w') as out:
        status = subprocess.run([wstest, '-m', 'fuzzingclient', '-s', path], cwd=WORK, stdout=out,
                                stderr=subprocess.STDOUT).returncode
    index = os.path.join(REPORTS, 'clients', 'index.json')
    if status != 0 or not os.path.exists(index):
        with open(log, errors='replace') as f:
            sys.exit(f'autobahn.py: wstest exited {status} without a report:\n{f.read()[-3000:]}')
    with open(index) as f:
        return json.load(f)['dispatchd']


def case_result(entry):
    """The sentence the case's report gives for its outcome."""
    try:
        with open(os.path.join(REPORTS, 'clients', entry['reportfile'])) as f:
            report = json.load(f)
    except (OSError, ValueError, KeyError):
        return ''
    return report.get('result', '')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--cases', default='*', help='cases, sections or section ranges (default: every case)')
    ap.add_argument('--exclude', default='', help='cases, sections or section ranges to leave out')
    ap.add_argument('--release', action='store_true', help='build and test a release binary (default: debug)')
    ap.add_argument('--binary', help='an existing dispatchd binary (no build)')
    ap.add_argument('--python2', help='the Python 2.7 for autobahntestsuite (default: pyenv 2.7.18)')
    ap.add_argument('--install', action='store_true', help='install autobahntestsuite, run nothing')
    args = ap.parse_args()

    os.makedirs(WORK, exist_ok=True)
    wstest = install_wstest(args.python2 or find_python2())
    if args.install:
        return
    binary = args.binary or build_dispatchd(args.release)
    patterns = case_patterns(args.cases)
    excluded = case_patterns(args.exclude) if args.exclude else []

    server = Server(binary, os.path.join(WORK, 'dispatchd.log'))
    started = time.time()
    try:
        results = run_fuzzingclient(wstest, server.port, patterns, excluded)
    finally:
        server.stop()
    elapsed = time.time() - started

    counts = {b: 0 for b in BEHAVIOURS}
    for entry in results.values():
        counts[entry['behavior']] = counts.get(entry['behavior'], 0) + 1
    print(f'{len(results)} cases ({args.cases}) in {elapsed:.0f} s: '
          + ', '.join(f'{b} {n}' for b, n in counts.items()))
    failing = []
    for case in sorted(results, key=case_key):
        entry = results[case]
        if entry['behavior'] != 'OK':
            print(f'  {case}: {entry["behavior"]} (close {entry["behaviorClose"]}) {case_result(entry)}')
            if entry['behavior'] not in PASSING:
                failing.append(case)
    print(f'reports: {os.path.join(REPORTS, "clients", "index.html")}')
    sys.exit(1 if failing else 0)


if __name__ == '__main__':
    main()
