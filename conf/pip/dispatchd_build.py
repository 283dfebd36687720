"""The PEP 517 build backend of `pip install .`: builds the dispatchd binary with the Swift
toolchain (`swift build -c release`) against the interpreter that runs pip, and packs a wheel
whose `dispatchd` goes to the environment's bin/ (and `flask_uwsgi_websocket`, dispatchd's
maintained Flask-uWSGI-WebSocket, into its site-packages, so `python app.py` can start the
server through `app.run()`, with the finder of its old name `flask.ext.uwsgi_websocket`). Before building, it checks what the build needs and says what to
install when something is missing.
"""
import base64
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAME = 'dispatchd'


class BuildError(Exception):
    pass


def _version():
    with open(os.path.join(ROOT, 'Sources', 'dispatchd', 'Version.swift')) as f:
        return re.search(r'static let number = "([^"]+)"', f.read()).group(1)


def _tag():
    impl = 'cp%d%d' % sys.version_info[:2]
    platform = sysconfig.get_platform().replace('-', '_').replace('.', '_')
    return '%s-%s-%s' % (impl, impl, platform)


def _check_toolchain():
    """What building needs, each with what to install when it is missing."""
    problems = []
    if sys.version_info < (3, 10):
        problems.append('dispatchd needs Python 3.10 or later (this is %s)' % sys.version.split()[0])
    if not shutil.which('swift'):
        problems.append('the Swift toolchain (swift) is not on PATH: install it from https://swift.org/install')
    if not shutil.which('pkg-config'):
        problems.append('pkg-config is missing: apt install pkg-config')
    else:
        for module, package in (('libevent_core', 'libevent-dev'), ('libssl', 'libssl-dev'), ('zlib', 'zlib1g-dev')):
            if subprocess.run(['pkg-config', '--exists', module]).returncode != 0:
                problems.append('%s is missing: apt install %s' % (module, package))
    if not sysconfig.get_config_var('Py_ENABLE_SHARED'):
        version = '%d.%d' % sys.version_info[:2]
        problems.append(
            'this Python (%s, %s) has no shared libpython, which dispatchd embeds: use a build with one '
            '(Debian: apt install libpython%s-dev; pyenv: PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install %s)'
            % (version, sys.executable, version, sys.version.split()[0]))
    if problems:
        raise BuildError('cannot build dispatchd:\n  - ' + '\n  - '.join(problems))


def _build_binary():
    _check_toolchain()
    # One build directory per interpreter: the binary is linked to its libpython.
    scratch = os.path.join(ROOT, '.build-pip-cp%d%d' % sys.version_info[:2])
    env = dict(os.environ, PYTHON=sys.executable)
    # --static-swift-stdlib: the Swift runtime goes into the binary, so the installed dispatchd
    # does not depend on the toolchain staying where it is, and each of its processes relocates
    # less at start (8 preloaded Flask workers: 3.4 MiB less PSS; Benchmarks/memory.py).
    command = ['swift', 'build', '-c', 'release', '--product', NAME, '--static-swift-stdlib', '--scratch-path', scratch]
    print('dispatchd: ' + ' '.join(command), file=sys.stderr)
    done = subprocess.run(command, cwd=ROOT, env=env)
    if done.returncode != 0:
        raise BuildError('swift build failed (exit status %d); its output is above' % done.returncode)
    return os.path.join(scratch, 'release', NAME)


def _metadata(version):
    return ('Metadata-Version: 2.1\nName: %s\nVersion: %s\n'
            'Summary: A production application server for Python WSGI apps\nRequires-Python: >=3.10\n'
            % (NAME, version))


def _record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()
    return '%s,sha256=%s,%d' % (path, digest, len(data))


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    """The metadata alone, so pip checks Requires-Python before anything is compiled."""
    dist_info = '%s-%s.dist-info' % (NAME, _version())
    os.makedirs(os.path.join(metadata_directory, dist_info), exist_ok=True)
    with open(os.path.join(metadata_directory, dist_info, 'METADATA'), 'w') as f:
        f.write(_metadata(_version()))
    return dist_info


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    version = _version()
    binary = _build_binary()
    name = '%s-%s-%s.whl' % (NAME, version, _tag())
    dist_info = '%s-%s.dist-info' % (NAME, version)
    data = '%s-%s.data' % (NAME, version)
    python = os.path.join(ROOT, 'Sources', 'DWSGI', 'Python')
    # Into site-packages: flask_uwsgi_websocket, and the flask.ext.NAME finder with the .pth line
    # that imports it at start-up (old apps' `from flask.ext.uwsgi_websocket import ...`).
    modules = [
        (os.path.join(python, 'dispatchd_flask_uwsgi_websocket.py'), 'flask_uwsgi_websocket.py'),
        (os.path.join(python, 'dispatchd_flask_ext.py'), 'dispatchd_flask_ext.py'),
        (os.path.join(ROOT, 'conf', 'pip', 'dispatchd_flask_ext.pth'), 'dispatchd_flask_ext.pth'),
    ]
    files = []
    with open(binary, 'rb') as f:
        files.append(('%s/scripts/%s' % (data, NAME), f.read(), 0o755))
    for source, arcname in modules:
        with open(source, 'rb') as f:
            files.append((arcname, f.read(), 0o644))
    files.append(('%s/METADATA' % dist_info, _metadata(version).encode(), 0o644))
    wheel = 'Wheel-Version: 1.0\nGenerator: dispatchd_build\nRoot-Is-Purelib: false\nTag: %s\n' % _tag()
    files.append(('%s/WHEEL' % dist_info, wheel.encode(), 0o644))
    record = [_record_line(path, content) for path, content, _ in files]
    record.append('%s/RECORD,,' % dist_info)
    files.append(('%s/RECORD' % dist_info, ('\n'.join(record) + '\n').encode(), 0o644))
    path = os.path.join(wheel_directory, name)
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as z:
        for arcname, content, mode in files:
            info = zipfile.ZipInfo(arcname, date_time=(2026, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, content)
    return name


def _source_files():
    """The repository's files: git's list when this is a clone, else every file but builds."""
    try:
        out = subprocess.run(['git', 'ls-files', '-z'], cwd=ROOT, capture_output=True, check=True).stdout
        names = [n for n in out.decode().split('\0') if n]
        if names:
            return names
    except (OSError, subprocess.CalledProcessError):
        pass
    names = []
    for directory, dirs, filenames in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(('.build', '.git', '.venv', '__pycache__'))]
        for f in filenames:
            names.append(os.path.relpath(os.path.join(directory, f), ROOT))
    return sorted(names)


def build_sdist(sdist_directory, config_settings=None):
    version = _version()
    base = '%s-%s' % (NAME, version)
    path = os.path.join(sdist_directory, base + '.tar.gz')
    with tarfile.open(path, 'w:gz') as tar:
        for name in _source_files():
            tar.add(os.path.join(ROOT, name), arcname='%s/%s' % (base, name), recursive=False)
        info = tarfile.TarInfo('%s/PKG-INFO' % base)
        metadata = _metadata(version).encode()
        info.size = len(metadata)
        tar.addfile(info, io.BytesIO(metadata))
    return base + '.tar.gz'
