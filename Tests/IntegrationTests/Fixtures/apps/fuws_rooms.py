"""A chat with rooms on Flask-uWSGI-WebSocket's API, across workers: each client subscribes to
its room (`ws.subscribe`) and what it says is published to the room (`ws.publish`), so members
connected to different workers hear each other. The page at / holds two chat pages (alice and
bob, in iframes) and makes sure they are on different workers."""
import os

from flask import Flask
from flask_uwsgi_websocket import GeventWebSocket

app = Flask(__name__)
ws = GeventWebSocket(app)


@ws.route('/chat/<room>')
def chat(client, room):
    client.subscribe(room)
    client.send('pid %d' % os.getpid())
    while (msg := client.receive()) is not None:
        client.publish(room, msg)


CHAT = """<!doctype html>
<html><head><title>chat</title></head><body><ul id="log"></ul>
<script>
const params = new URLSearchParams(location.search);
const avoid = params.get('avoid');
window.log = [];
window.pid = null;
// A client that lands on the worker to avoid reconnects: the next connection goes to the other.
function connect() {
  const ws = new WebSocket('ws://' + location.host + '/chat/lobby');
  ws.onmessage = (e) => {
    if (e.data.startsWith('pid ')) {
      const pid = e.data.slice(4);
      if (pid === avoid) { ws.close(); connect(); return; }
      window.pid = pid;
      window.ws = ws;
      return;
    }
    window.log.push(e.data);
    const li = document.createElement('li'); li.textContent = e.data; document.getElementById('log').appendChild(li);
  };
}
connect();
window.say = (m) => window.ws.send(m);
</script></body></html>"""

PAGE = """<!doctype html>
<html><head><title>rooms</title></head><body>
<iframe id="alice" src="/page?who=alice"></iframe><div id="bob-slot"></div>
<script>
const frame = (id) => document.getElementById(id).contentWindow;
let said = false;
window.chatState = () => {
  const a = frame('alice');
  if (!a || !a.pid) return 'waiting for alice';
  if (!document.getElementById('bob')) {
    const b = document.createElement('iframe');
    b.id = 'bob'; b.src = '/page?who=bob&avoid=' + a.pid;
    document.getElementById('bob-slot').appendChild(b);
  }
  const b = frame('bob');
  if (!b || !b.pid) return 'waiting for bob';
  if (!said) { said = true; a.say('hello from alice'); b.say('hi from bob'); }
  const done = a.log.includes('hi from bob') && b.log.includes('hello from alice') && a.pid !== b.pid;
  return (done ? 'CHAT-OK ' : 'waiting ') + JSON.stringify({alice: [a.pid, a.log], bob: [b.pid, b.log]});
};
</script></body></html>"""


@app.route('/')
def index():
    return PAGE


@app.route('/page')
def page():
    return CHAT
