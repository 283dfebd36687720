"""The demo application that `scripts/serve-demo` serves: a page, a form that posts back,
and the request's environ, with nothing but the standard library."""
import html


def application(environ, start_response):
    method = environ['REQUEST_METHOD']
    posted = ''
    if method == 'POST':
        posted = environ['wsgi.input'].read().decode('utf-8', 'replace')
    rows = ''.join(
        '<tr><td>%s</td><td>%s</td></tr>' % (html.escape(k), html.escape(repr(v)))
        for k, v in sorted(environ.items())
    )
    body = (
        '<!doctype html><title>dispatchd demo</title>'
        '<h1>Hello from dispatchd</h1>'
        '<form method="post"><input name="message"><button>Send</button></form>'
        '<p>You sent: %s</p><h2>environ</h2><table>%s</table>' % (html.escape(posted), rows)
    ).encode('utf-8')
    start_response('200 OK', [('Content-Type', 'text/html; charset=utf-8'),
                              ('Content-Length', str(len(body)))])
    return [body]
