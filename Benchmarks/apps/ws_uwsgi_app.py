"""WebSocket echo written against uWSGI's API: run unmodified by uWSGI and by
dispatchd --uwsgi-compat."""
import uwsgi


def application(environ, start_response):
    uwsgi.websocket_handshake(environ['HTTP_SEC_WEBSOCKET_KEY'], environ.get('HTTP_ORIGIN', ''))
    while True:
        uwsgi.websocket_send(uwsgi.websocket_recv())
