"""The guide's `--module modulewsgihelloworld.helloworld:mainhello`, and its ini's
`module = my.example.module.file:MyHandler()` (a factory called once for the app)."""

MADE = []


def mainhello(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'mainhello\n']


class MyHandler:
    def __init__(self):
        MADE.append(self)

    def __call__(self, environ, start_response):
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [('made by a factory, %d made\n' % len(MADE)).encode()]
