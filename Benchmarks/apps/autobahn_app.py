"""The echo that Autobahn|Testsuite's fuzzing client tests (Benchmarks/autobahn.py): every
message is sent back as it came, text as text and binary as binary, on any path."""
from flask import Flask
from dispatchd.flask import WebSocket

app = Flask(__name__)
ws = WebSocket(app)


@ws.route('/')
def echo(client):
    while (message := client.receive()) is not None:
        client.send(message)
