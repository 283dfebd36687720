"""A chat written for Flask-uWSGI-WebSocket (after its chat-gevent example), unchanged: rooms
through a blueprint, a broadcast to the others, recv_nb, and an asyncio-style echo."""
from collections import deque

from flask import Blueprint, Flask
from flask_uwsgi_websocket import GeventWebSocket

app = Flask(__name__)
ws = GeventWebSocket(app)

users = {}
backlog = deque(maxlen=10)


@app.route('/')
def index():
    return 'chat'


@ws.route('/websocket')
def chat(ws):
    users[ws.id] = ws
    for msg in backlog:
        ws.send(msg)
    while True:
        msg = ws.receive()
        if msg is not None:
            backlog.append(msg)
            for id in users:
                if id != ws.id:
                    users[id].send(msg)
        else:
            break
    del users[ws.id]


rooms = Blueprint('rooms', __name__)
members = {}


@rooms.route('/<name>')
def room(ws, name):
    here = members.setdefault(name, {})
    here[ws.id] = ws
    ws.send(('joined %s' % name).encode())
    try:
        while (msg := ws.receive()) is not None:
            if msg == b'poll':
                ws.send(b'nothing' if ws.recv_nb() == b'' else b'something')
                continue
            for other in list(here.values()):
                other.send(b'%s: ' % name.encode() + msg)
    finally:
        del here[ws.id]


ws.register_blueprint(rooms, url_prefix='/rooms')


@ws.route('/async-echo')
async def async_echo(ws):
    while (msg := await ws.a_recv()) is not None:
        await ws.a_send(msg)


if __name__ == '__main__':
    app.run(debug=True, gevent=100)
