#!/usr/bin/env python3
"""Checks conf/container/Containerfile without a container engine: what a build would get
wrong that reading can tell. Exit status 0 when every check passes, 1 with one line per
problem otherwise.

    python3 conf/container/check.py [CONTAINERFILE]

The checks: every stage is named; every COPY --from (and RUN --mount from=) names an earlier
stage or a named context the file defines as a stage; the final stage runs dispatchd as an
exec-form ENTRYPOINT with no init shim (tini, dumb-init) anywhere; STOPSIGNAL is absent or
SIGTERM; the final stage runs as a non-root numeric USER; it installs libevent's runtime
library; the binary it copies comes from a stage that runs `swift build --static-swift-stdlib`
(else it would need the toolchain's libraries); that stage's libpython and the final stage's
Python are the same (the same stage, or python:X.Y images of the same X.Y); and the
ignore file beside the Containerfile (NAME.dockerignore) lets through what COPY takes from the
build context. Stdlib only.
"""
import json
import os
import re
import shlex
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def instructions(text):
    """(line number, KEYWORD, rest) for each instruction: continuation lines joined, comments and
    parser directives dropped (a comment inside a continued instruction too, as BuildKit does)."""
    out, buffer, start = [], '', None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if start is None and (not stripped or stripped.startswith('#')):
            continue
        if start is not None and stripped.startswith('#'):
            continue
        if start is None:
            start = number
        if line.rstrip().endswith('\\'):
            buffer += line.rstrip()[:-1] + ' '
            continue
        buffer += line
        keyword, _, rest = buffer.strip().partition(' ')
        out.append((start, keyword.upper(), rest.strip()))
        buffer, start = '', None
    if start is not None:
        out.append((start, 'UNTERMINATED', buffer))
    return out


def expand(value, args):
    return re.sub(r'\$\{(\w+)\}|\$(\w+)', lambda m: args.get(m.group(1) or m.group(2), m.group(0)), value)


def flags(rest):
    """--name=value flags at the start of an instruction, and what follows them."""
    found = {}
    while rest.startswith('--'):
        flag, _, rest = rest.partition(' ')
        name, _, value = flag[2:].partition('=')
        found.setdefault(name, []).append(value)
        rest = rest.strip()
    return found, rest


def exec_form(rest):
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def python_tag(image):
    """'3.12' for python:3.12-slim-bookworm (and docker.io/library/python:3.12.7-...)."""
    name, _, tag = image.rpartition(':')
    if name.split('/')[-1] != 'python':
        return None
    match = re.match(r'(\d+\.\d+)', tag)
    return match.group(1) if match else None


def pattern_regex(pattern):
    """An ignore-file pattern as a regular expression: `*` and `?` within one path element,
    `**` across any number of them."""
    out, i = '', 0
    while i < len(pattern):
        if pattern.startswith('**/', i):
            out, i = out + '(?:.*/)?', i + 3
        elif pattern.startswith('**', i):
            out, i = out + '.*', i + 2
        elif pattern[i] == '*':
            out, i = out + '[^/]*', i + 1
        elif pattern[i] == '?':
            out, i = out + '[^/]', i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r'\Z')


def ignored(path, patterns):
    """Whether the ignore file's patterns leave `path` (relative to the context) out: the last
    pattern that matches it or a directory above it decides; '!' takes back in."""
    parts = os.path.normpath(path).strip('/').split('/')
    candidates = ['/'.join(parts[:i]) for i in range(1, len(parts) + 1)]
    result = False
    for pattern in patterns:
        negate = pattern.startswith('!')
        regex = pattern_regex(os.path.normpath(pattern.lstrip('!')).strip('/'))
        if any(regex.match(c) for c in candidates):
            result = not negate
    return result


def check(path):
    problems = []
    with open(path) as f:
        steps = instructions(f.read())
    global_args, stages, current = {}, [], None
    for number, keyword, rest in steps:
        if keyword == 'UNTERMINATED':
            problems.append('line %d: the file ends inside a continued instruction' % number)
        elif keyword == 'ARG' and current is None:
            name, _, default = rest.partition('=')
            global_args[name.strip()] = default.strip().strip('"')
        elif keyword == 'FROM':
            _, rest = flags(rest)
            words = rest.split()
            image = expand(words[0], global_args)
            name = words[2] if len(words) == 3 and words[1].upper() == 'AS' else None
            if name is None:
                problems.append('line %d: FROM %s has no stage name (FROM IMAGE AS NAME)' % (number, words[0]))
            known = [s['name'] for s in stages]
            current = {'name': name, 'line': number, 'image': image,
                       'parent': image if image in known else None, 'steps': []}
            stages.append(current)
        elif current is not None:
            current['steps'].append((number, keyword, rest))
        else:
            problems.append('line %d: %s before the first FROM' % (number, keyword))
    if not stages:
        return ['no FROM: not a Containerfile']

    by_name = {s['name']: s for s in stages if s['name']}

    def lineage(stage):
        """The stage and the stages it is built FROM, nearest first."""
        chain = [stage]
        while chain[-1]['parent']:
            chain.append(by_name[chain[-1]['parent']])
        return chain

    def all_steps(stage):
        """Its steps and those of the stages it is built FROM, in the order they run."""
        return [step for s in reversed(lineage(stage)) for step in s['steps']]

    def python_of(stage, seen=()):
        """Where a stage's /usr/local Python comes from: ('stage', NAME) for the stage whose
        image provides it, ('tag', 'X.Y') otherwise; None when it has none that can be told."""
        for s in lineage(stage):
            for _, keyword, rest in s['steps']:
                if keyword == 'COPY':
                    opts, args = flags(rest)
                    source = (opts.get('from') or [None])[-1]
                    if source in by_name and args.split()[:1] == ['/usr/local'] and source not in seen:
                        return python_of(by_name[source], seen + (source,))
            if s['parent'] is None:
                tag = python_tag(s['image'])
                return (('stage', s['name']), tag) if tag else None
        return None

    # COPY --from and RUN --mount=...,from= name earlier stages.
    for index, stage in enumerate(stages):
        earlier = {s['name'] for s in stages[:index] if s['name']}
        for number, keyword, rest in stage['steps']:
            opts, _ = flags(rest)
            sources = opts.get('from', []) if keyword == 'COPY' else []
            if keyword == 'RUN':
                for mount in opts.get('mount', []):
                    sources += [kv[5:] for kv in mount.split(',') if kv.startswith('from=')]
            for source in sources:
                if source not in earlier:
                    problems.append('line %d: %s --from=%s names no earlier stage' % (number, keyword, source))

    final = stages[-1]
    steps = all_steps(final)

    def last(keyword):
        """The instruction that is in force: the last one that ran."""
        found = [s for s in steps if s[1] == keyword]
        return found[-1] if found else None

    entrypoint = last('ENTRYPOINT')
    if entrypoint is None:
        problems.append('the final stage has no ENTRYPOINT (it should be ["dispatchd"])')
    else:
        argv = exec_form(entrypoint[2])
        if argv is None:
            problems.append('line %d: ENTRYPOINT is in shell form: /bin/sh would be PID 1 and '
                            'SIGTERM would not reach dispatchd (use ["dispatchd"])' % entrypoint[0])
        elif not argv or os.path.basename(argv[0]) != 'dispatchd':
            problems.append('line %d: ENTRYPOINT %s does not run dispatchd as PID 1' % (entrypoint[0], argv))
    for number, keyword, rest in [s for stage in stages for s in stage['steps']]:
        if keyword in ('ENTRYPOINT', 'CMD', 'RUN') and re.search(r'\b(tini|dumb-init)\b', rest):
            problems.append('line %d: an init shim (tini, dumb-init): dispatchd is PID 1 itself' % number)
    cmd = last('CMD')
    if cmd and exec_form(cmd[2]) is None:
        problems.append('line %d: CMD is in shell form: with an ENTRYPOINT it would pass "/bin/sh -c ..." '
                        'to dispatchd' % cmd[0])
    signal = last('STOPSIGNAL')
    if signal and signal[2].upper() not in ('SIGTERM', 'TERM', '15'):
        problems.append('line %d: STOPSIGNAL %s: dispatchd drains on SIGTERM' % (signal[0], signal[2]))
    user = last('USER')
    if user is None:
        problems.append('the final stage has no USER: it would run as root')
    else:
        name = user[2].split(':')[0]
        if name in ('0', 'root'):
            problems.append('line %d: USER %s is root' % (user[0], user[2]))
        elif not name.isdigit():
            problems.append('line %d: USER %s is a name: Kubernetes\' runAsNonRoot can only verify a '
                            'number' % (user[0], user[2]))
    if not any(k == 'RUN' and re.search(r'\blibevent(-core)?-2\.1-7\b', r) for _, k, r in steps):
        problems.append('the final stage installs no libevent-core-2.1-7 (dispatchd links libevent_core-2.1.so.7)')

    # The binary: from which stage, built how, against which Python.
    binary_from = None
    for number, keyword, rest in steps:
        opts, args = flags(rest)
        if keyword == 'COPY' and 'from' in opts and 'dispatchd' in args:
            binary_from = (number, opts['from'][-1])
            break
    if binary_from is None:
        problems.append('the final stage copies no dispatchd binary from a build stage')
    elif binary_from[1] in by_name:
        build = by_name[binary_from[1]]
        builds = [r for _, k, r in all_steps(build) if k == 'RUN' and 'swift build' in r]
        if not builds:
            problems.append('stage %s (line %d) runs no `swift build`' % (build['name'], build['line']))
        elif not any('--static-swift-stdlib' in r for r in builds):
            problems.append('stage %s builds without --static-swift-stdlib: the binary would need the '
                            'Swift runtime libraries, which the final stage lacks' % build['name'])
        built, runs = python_of(build), python_of(final)
        if built is None or runs is None:
            problems.append('cannot tell which Python stage %s links (%s) or the final stage runs (%s): '
                            'COPY --from=STAGE /usr/local and python:X.Y images are what this reads'
                            % (build['name'], built, runs))
        elif built[0] != runs[0] and built[1] != runs[1]:
            problems.append('stage %s links Python %s but the final stage runs Python %s'
                            % (build['name'], built[1], runs[1]))

    # The ignore file lets through what COPY takes from the build context.
    ignore_file = path + '.dockerignore'
    if os.path.exists(ignore_file):
        with open(ignore_file) as f:
            patterns = [p.strip() for p in f if p.strip() and not p.strip().startswith('#')]
        for stage in stages:
            for number, keyword, rest in stage['steps']:
                opts, args = flags(rest)
                if keyword not in ('COPY', 'ADD') or 'from' in opts:
                    continue
                for source in (exec_form(args) or shlex.split(args))[:-1]:
                    source = expand(source, global_args)
                    if not os.path.exists(os.path.join(ROOT, source)):
                        problems.append('line %d: %s does not exist in the repository' % (number, source))
                    elif ignored(source, patterns):
                        problems.append('line %d: %s is left out of the build context by %s'
                                        % (number, source, os.path.basename(ignore_file)))
    return problems


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, 'Containerfile')
    problems = check(path)
    for problem in problems:
        print('%s: %s' % (os.path.relpath(path), problem))
    if not problems:
        print('%s: consistent' % os.path.relpath(path))
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
