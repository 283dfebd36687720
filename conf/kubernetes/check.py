#!/usr/bin/env python3
"""Checks that the Kubernetes manifests beside this file (or those named) agree with how
dispatchd stops and reports its health. Exit status 0 when they do, 1 with one line per
problem when they do not, 2 when the files cannot be read. Needs PyYAML.

    python3 conf/kubernetes/check.py [FILE.yaml ...]

For each container that runs dispatchd (no `command`, so the image's ENTRYPOINT, or a command
that is dispatchd), with its options read from command and args as dispatchd reads them (a
`DISPATCHD_<OPTION>` variable, WEB_CONCURRENCY or PORT of the container's env when the command
line does not give it; the defaults otherwise):
  - terminationGracePeriodSeconds covers preStop's sleep, --shutdown-delay and
    --graceful-timeout, with a second to spare (the grace period counts from the start of
    preStop), and preStop or --shutdown-delay leaves load balancers some time to stop sending;
  - --stats listens where the kubelet's probes arrive (the pod's IP, not loopback or a unix
    socket), and the readiness probe asks /readyz and the liveness probe /healthz on its port;
  - a CPU limit (or --workers) bounds the workers, which otherwise follow the node's CPUs;
  - each Service that selects the pod sends to the port --bind listens on.
Options set in an --ini or --yaml file are not seen.
"""
import glob
import os
import re
import sys

try:
    import yaml
except ImportError:
    sys.exit('check.py needs PyYAML: pip install pyyaml')

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = {'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'Pod'}
# The options read here, with dispatchd's and its peers' spellings for them.
SPELLINGS = {
    '--bind': 'bind', '-b': 'bind', '--http': 'bind', '--http-socket': 'bind',
    '--stats': 'stats',
    '--shutdown-delay': 'shutdown-delay',
    '--graceful-timeout': 'graceful-timeout',
    '--workers': 'workers', '-w': 'workers', '--processes': 'workers', '-p': 'workers',
}
DEFAULTS = {'shutdown-delay': 0.0, 'graceful-timeout': 30.0}
SPARE = 1  # seconds: the 0.1 s handshake settle before the drain, the kill, the exit


def expand(text, env):
    """Kubernetes' $(VAR) in command and args, from the container's env."""
    return re.sub(r'\$\((\w+)\)', lambda m: env.get(m.group(1), m.group(0)), text)


def options(container):
    """The options dispatchd gets, by name (the last one given wins), each with where it came
    from: the command line, or the environment dispatchd reads."""
    env = {e['name']: str(e['value']) for e in container.get('env') or [] if 'value' in e}
    command = container.get('command') or []
    words = [expand(str(w), env) for w in command[1:] + (container.get('args') or [])]
    found = {}
    i = 0
    while i < len(words):
        word = words[i]
        name, eq, value = word.partition('=')
        if name in SPELLINGS:
            if not eq:
                i += 1
                value = words[i] if i < len(words) else ''
            found[SPELLINGS[name]] = (value, 'args: %s' % name)
        i += 1
    for variable, value in sorted(env.items()):
        if variable.startswith('DISPATCHD_'):
            name = '--' + variable[len('DISPATCHD_'):].lower().replace('_', '-')
            if name in SPELLINGS and SPELLINGS[name] not in found:
                found[SPELLINGS[name]] = (value, 'env %s' % variable)
    if 'WEB_CONCURRENCY' in env and 'workers' not in found:
        found['workers'] = (env['WEB_CONCURRENCY'], 'env WEB_CONCURRENCY')
    if 'PORT' in env and 'bind' not in found:
        found['bind'] = ('0.0.0.0:' + env['PORT'], 'env PORT')
    return found


def address(text):
    """(host, port) of a TCP address as dispatchd reads it, ('unix', path) for a socket."""
    if text.startswith('unix:'):
        return 'unix', text[5:]
    match = re.fullmatch(r'\[([^\]]*)\]:(\d+)|([^:]*):(\d+)', text)
    if not match:
        return None
    host = match.group(1) if match.group(1) is not None else match.group(3)
    return host, int(match.group(2) or match.group(4))


def loopback(host):
    return host == 'localhost' or host.startswith('127.') or host in ('::1', '0:0:0:0:0:0:0:1')


def seconds(value, what, problems, where):
    try:
        return float(value)
    except (TypeError, ValueError):
        problems.append('%s: %s is %r, not a number of seconds' % (where, what, value))
        return 0.0


def prestop_seconds(container, problems, where):
    """How long preStop holds SIGTERM back: its sleep action, or an exec of sleep."""
    hook = (container.get('lifecycle') or {}).get('preStop')
    if not hook:
        return 0.0
    if 'sleep' in hook:
        return seconds(hook['sleep'].get('seconds'), 'preStop sleep', problems, where)
    command = [str(w) for w in (hook.get('exec') or {}).get('command') or []]
    if len(command) == 2 and os.path.basename(command[0]) == 'sleep':
        return seconds(command[1], 'preStop sleep', problems, where)
    if len(command) == 3 and os.path.basename(command[0]) in ('sh', 'bash') and command[1] == '-c':
        match = re.fullmatch(r'\s*(?:exec\s+)?sleep\s+(\d+(?:\.\d+)?)\s*', command[2])
        if match:
            return float(match.group(1))
    problems.append('%s: preStop is neither a sleep action nor `sleep N`, so how long it holds '
                    'SIGTERM back cannot be told' % where)
    return 0.0


def port_number(port, container):
    """A probe's or Service's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    for p in container.get('ports') or []:
        if p.get('name') == port:
            return p.get('containerPort')
    return None


def pod_templates(doc):
    if doc.get('kind') == 'Pod':
        return doc
    if doc.get('kind') in WORKLOADS:
        return (doc.get('spec') or {}).get('template')
    return None


def runs_dispatchd(container):
    command = container.get('command')
    return not command or os.path.basename(str(command[0])) == 'dispatchd'


def check_container(container, pod, labels, services, where):
    problems = []
    opts = options(container)

    # The stop: preStop, then SIGTERM; --shutdown-delay, then the drain of --graceful-timeout.
    grace = pod.get('terminationGracePeriodSeconds', 30)
    prestop = prestop_seconds(container, problems, where)
    delay = seconds(opts.get('shutdown-delay', (DEFAULTS['shutdown-delay'],))[0], '--shutdown-delay', problems, where)
    drain = seconds(opts.get('graceful-timeout', (DEFAULTS['graceful-timeout'],))[0], '--graceful-timeout',
                    problems, where)
    needed = prestop + delay + drain + SPARE
    if grace < needed:
        problems.append(
            '%s: terminationGracePeriodSeconds is %s, less than preStop %g + --shutdown-delay %g + '
            '--graceful-timeout %g + %d s to spare = %g: requests still draining would be cut by SIGKILL'
            % (where, grace, prestop, delay, drain, SPARE, needed))
    if prestop + delay <= 0:
        problems.append('%s: neither a preStop sleep nor --shutdown-delay: the listeners close at SIGTERM, '
                        'while kube-proxy and Ingress controllers may still send to the pod' % where)

    # The probes: on the stats listener, which must listen on the pod's IP.
    stats = opts.get('stats')
    stats_port = None
    if stats is None:
        problems.append('%s: no --stats (nor DISPATCHD_STATS): /readyz and /healthz are served only there' % where)
    else:
        parsed = address(stats[0])
        if parsed is None:
            problems.append('%s: --stats %r (%s) is not an address' % (where, stats[0], stats[1]))
        elif parsed[0] == 'unix':
            problems.append('%s: --stats %s (%s) is a unix socket: the kubelet\'s HTTP probes need TCP on the '
                            'pod\'s IP (--stats :9191)' % (where, stats[0], stats[1]))
        elif loopback(parsed[0]):
            problems.append('%s: --stats %s (%s) listens on loopback: the kubelet\'s probes come to the pod\'s '
                            'IP (--stats :9191)' % (where, stats[0], stats[1]))
        elif parsed[0] not in ('', '0.0.0.0', '::', '[::]') and not parsed[0].startswith('$('):
            problems.append('%s: --stats %s (%s) is a fixed address, not the pod\'s IP (--stats :9191, or '
                            '$(POD_IP):9191 from the downward API)' % (where, stats[0], stats[1]))
        else:
            stats_port = parsed[1]
    for kind, path in (('readinessProbe', '/readyz'), ('livenessProbe', '/healthz')):
        probe = container.get(kind)
        get = (probe or {}).get('httpGet')
        if probe is None:
            problems.append('%s: no %s (httpGet %s on the stats port)' % (where, kind, path))
            continue
        if get is None:
            problems.append('%s: %s is not an httpGet of %s' % (where, kind, path))
            continue
        if get.get('path') != path:
            problems.append('%s: %s asks %s, not %s' % (where, kind, get.get('path'), path))
        port = port_number(get.get('port'), container)
        if port is None:
            problems.append('%s: %s port %r is no port of the container' % (where, kind, get.get('port')))
        elif stats_port is not None and port != stats_port:
            problems.append('%s: %s goes to port %s, but --stats listens on %s' % (where, kind, port, stats_port))

    # Workers: the CPU limit, or a number.
    limits = (container.get('resources') or {}).get('limits') or {}
    if 'workers' not in opts and 'cpu' not in limits:
        problems.append('%s: no CPU limit and no --workers (nor WEB_CONCURRENCY): dispatchd would start one '
                        'worker per CPU of the node' % where)

    # Services that select this pod send to the --bind port.
    bind = address(opts['bind'][0]) if 'bind' in opts else None
    bind_port = bind[1] if bind and bind[0] != 'unix' else None
    for service in services:
        selector = (service.get('spec') or {}).get('selector') or {}
        if not selector or any(labels.get(k) != v for k, v in selector.items()):
            continue
        name = (service.get('metadata') or {}).get('name', '?')
        for sp in (service.get('spec') or {}).get('ports') or []:
            target = port_number(sp.get('targetPort', sp.get('port')), container)
            if target is None:
                problems.append('Service %s: targetPort %r is no port of container %s'
                                % (name, sp.get('targetPort'), container.get('name')))
            elif bind_port is not None and target != bind_port and target != stats_port:
                problems.append('Service %s: targetPort %s, but --bind listens on %s' % (name, target, bind_port))
    return problems, (prestop, delay, drain, grace)


def main():
    paths = sys.argv[1:] or sorted(glob.glob(os.path.join(HERE, '*.yaml')))
    docs = []
    try:
        for path in paths:
            with open(path) as f:
                docs += [(path, d) for d in yaml.safe_load_all(f) if d]
    except (OSError, yaml.YAMLError) as error:
        print('check.py: %s' % error)
        return 2
    services = [d for _, d in docs if d.get('kind') == 'Service']
    problems, checked = [], []
    for path, doc in docs:
        template = pod_templates(doc)
        if not template:
            continue
        pod = template.get('spec') or {}
        labels = (template.get('metadata') or {}).get('labels') or {}
        for container in pod.get('containers') or []:
            if not runs_dispatchd(container):
                continue
            where = '%s %s, container %s' % (doc['kind'], (doc.get('metadata') or {}).get('name', '?'),
                                              container.get('name'))
            found, timing = check_container(container, pod, labels, services, where)
            problems += found
            checked.append((where, timing))
    if not checked:
        problems.append('no container running dispatchd in %s' % ', '.join(os.path.relpath(p) for p in paths))
    for problem in problems:
        print(problem)
    if problems:
        return 1
    for where, (prestop, delay, drain, grace) in checked:
        print('%s: consistent: preStop %gs + --shutdown-delay %gs + --graceful-timeout %gs = %gs, within '
              'terminationGracePeriodSeconds %ss' % (where, prestop, delay, drain, prestop + delay + drain, grace))
    return 0


if __name__ == '__main__':
    sys.exit(main())
