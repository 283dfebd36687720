# Embedded in the binary at build time and run at a worker's start-up in the dispatchd module's
# namespace (PythonRuntime.swift); `pip install` also puts it in site-packages as
# dispatchd_flask_ext.py with a .pth line that imports it, so that `python app.py` has it too.
# Comments, not a docstring: in the worker a docstring would become dispatchd.__doc__.
#
# `import flask.ext.NAME` as Flask before 1.0 had it: the module flask_NAME (Flask 1.0 removed
# flask.ext). Code written for early Flask-uWSGI-WebSocket says
# `from flask.ext.uwsgi_websocket import WebSocket`; flask_uwsgi_websocket is dispatchd's. The
# finder is the last on sys.meta_path: a Flask that has its own flask.ext keeps it.
import sys as _sys


class _FlaskExtFinder:
    """Answers `flask.ext` (an empty package) and `flask.ext.NAME` (flask_NAME, the same module
    under both names), and nothing else."""

    def __init__(self):
        self._specs = {}

    def find_spec(self, name, path=None, target=None):
        if name != 'flask.ext' and not name.startswith('flask.ext.'):
            return None
        import importlib.util
        if name == 'flask.ext':
            return importlib.util.spec_from_loader(name, self, is_package=True)
        rest = name[len('flask.ext.'):]
        if '.' in rest:
            return None  # flask.ext.NAME.SUB: found as flask_NAME's submodule by the path finder
        try:
            if importlib.util.find_spec('flask_' + rest) is None:
                return None
        except (ImportError, ValueError):
            return None
        return importlib.util.spec_from_loader(name, self)

    def create_module(self, spec):
        if spec.name == 'flask.ext':
            import types
            module = types.ModuleType('flask.ext', 'Flask extensions under their old names: flask.ext.NAME is flask_NAME.')
            module.__path__ = []
            return module
        import importlib
        module = importlib.import_module('flask_' + spec.name[len('flask.ext.'):])
        # The import system sets the new name's spec on the module it is given: its own is put
        # back in exec_module (for importlib.reload and pickling).
        self._specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module):
        own = self._specs.pop(module.__spec__.name, None)
        if own is not None:
            module.__spec__ = own


if not any(type(f).__name__ == '_FlaskExtFinder' for f in _sys.meta_path):
    _sys.meta_path.append(_FlaskExtFinder())
