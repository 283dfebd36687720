"""Reports which interpreter prefix serves it and imports a module found only via the venv
or --pythonpath, named by the environment."""
import importlib
import os
import sys


def application(environ, start_response):
    mod = importlib.import_module(os.environ['DISPATCHD_TEST_MODULE'])
    body = ('%s|%s|%s' % (sys.prefix, sys.base_prefix, mod.WHERE)).encode()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body]
