"""The classic echo test on one port: a Flask page, a WebSocket echo at /ws, and the page's
stylesheet under /assets, served by

    dispatchd --static-map /assets=conf/echo/assets --pythonpath conf/echo app:app

(`scripts/serve-demo` runs exactly that). The page is Flask's; the WebSocket is dispatchd's;
the stylesheet never touches Python."""
from flask import Flask, render_template
from dispatchd.flask import WebSocket

app = Flask(__name__)
ws = WebSocket(app)


@app.route('/')
def index():
    return render_template('index.html')


@ws.route('/ws')
def echo(client):
    while True:
        message = client.receive()
        if message is None:
            return
        client.send(message)
