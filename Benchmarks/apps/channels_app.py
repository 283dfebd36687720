"""dispatchd.channels fan-out (uWSGI-style API, run as greenlets): a WebSocket on /pub publishes
every message it sends to the room; any other path subscribes to the room, says so (its first
message), and holds the connection (the worker delivers the room's messages itself)."""
import dispatchd
import dispatchd.channels

ROOM = 'fanout'


def application(environ, start_response):
    dispatchd.websocket_handshake()
    try:
        if environ['PATH_INFO'] == '/pub':
            publish, recv = dispatchd.channels.publish, dispatchd.websocket_recv
            while True:
                publish(ROOM, recv())
        dispatchd.channels.subscribe(None, ROOM)
        dispatchd.websocket_send('subscribed')
        while True:
            dispatchd.websocket_recv()
    except dispatchd.WebSocketClosed:
        return []
