"""An app as uWSGI's getting-started guide writes them: `import uwsgi` at the top (dispatchd's
module stands in for it), a callable named `application`."""
import uwsgi


def application(environ, start_response):
    body = ('hello from %s, uwsgi is %s\n' % (environ['PATH_INFO'], uwsgi.__name__)).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
