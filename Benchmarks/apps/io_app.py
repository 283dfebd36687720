"""An I/O-bound app: each request waits 5 ms (as a database call would), then answers hello."""
import time


def app(environ, start_response):
    time.sleep(0.005)
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '13')])
    return [b'Hello, World!']
