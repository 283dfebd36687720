"""An echo written for early Flask-uWSGI-WebSocket (its 2014 examples), unchanged: the
`flask.ext.uwsgi_websocket` import that Flask 1.0 removed, a `ws.run(...)` left at module level,
and `app.run(debug=True, gevent=100)` for `python app.py`. Under dispatchd neither run() starts
anything: the module-level one runs at import, in the worker, and must not start a second
server on RUN_PORT."""
import os

from flask import Flask
from flask.ext.uwsgi_websocket import WebSocket

app = Flask(__name__)
ws = WebSocket(app)


@app.route('/')
def index():
    return 'old'


@ws.route('/websocket')
def echo(ws):
    while True:
        msg = ws.receive()
        if msg is None:
            return
        ws.send(msg)


ws.run(host='127.0.0.1', port=int(os.environ.get('RUN_PORT', '5000')), gevent=100)

if __name__ == '__main__':
    app.run(debug=True, gevent=100)
