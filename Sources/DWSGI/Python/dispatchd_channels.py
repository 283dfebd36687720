# The `dispatchd` module, channels part: `dispatchd.channels`, publish/subscribe for WebSockets
# across every worker (and, with --channels redis://..., every instance). Embedded in the binary
# at build time and run at start-up in the module's namespace after dispatchd_websocket.py, once
# PythonRuntime.swift has added the native names this file uses:
#   _channel_subscribe(sock, name), _channel_unsubscribe(sock, name)   (ChannelFunctions.swift)
#   _channel_publish(name, message)
# The worker keeps the subscriptions and delivers messages itself (ChannelHub.swift): no Python
# code runs per subscriber.
import sys as _sys
import types as _types

channels = _types.ModuleType('dispatchd.channels', """Publish/subscribe for WebSockets across workers.

    subscribe(ws, name)      messages published to `name` are sent to the WebSocket `ws`
    unsubscribe(ws, name)    (a closed WebSocket is unsubscribed from everything by itself)
    publish(name, message)   str: a text message, bytes: a binary one; from any handler or
                             ordinary request, in any worker; each subscriber gets it once, in
                             publish order per publisher

`ws` is a handler's client object (dispatchd.flask, flask_uwsgi_websocket), the environ's
`dispatchd.websocket`, or None for the current request's WebSocket (uWSGI's API). A subscriber
whose unsent output stays over --websocket-send-queue is closed with 1008.
""")


def _channel_socket(ws):
    """The native socket of `ws`."""
    if ws is None:
        return _uwsgi_socket()  # dispatchd_websocket.py's: the current handler's
    if type(ws) is _Socket:
        return ws
    sock = getattr(ws, '_sock', None)
    if type(sock) is _Socket:
        return sock
    raise TypeError('expected a WebSocket (a handler\'s client object), got %s' % type(ws).__name__)


def _channels_subscribe(ws, name):
    """Messages published to `name` are sent to `ws` from now on."""
    _channel_subscribe(_channel_socket(ws), name)


def _channels_unsubscribe(ws, name):
    """Stops the messages of `name` to `ws` (nothing happens if it was not subscribed)."""
    _channel_unsubscribe(_channel_socket(ws), name)


def _channels_publish(name, message):
    """Sends `message` (str: text, bytes: binary) to every subscriber of `name`, in every worker."""
    if isinstance(message, (bytearray, memoryview)):
        message = bytes(message)
    _channel_publish(name, message)


channels.subscribe = _channels_subscribe
channels.unsubscribe = _channels_unsubscribe
channels.publish = _channels_publish
_channels_subscribe.__name__ = 'subscribe'
_channels_unsubscribe.__name__ = 'unsubscribe'
_channels_publish.__name__ = 'publish'
_sys.modules['dispatchd.channels'] = channels


def _client_subscribe(self, name):
    _channels_subscribe(self, name)


def _client_unsubscribe(self, name):
    _channels_unsubscribe(self, name)


def _client_publish(self, name, message):
    _channels_publish(name, message)


# The client objects of dispatchd.flask (and of async handlers) have the same API as methods.
for _cls in (WebSocket, AsyncWebSocket):
    _cls.subscribe, _cls.unsubscribe, _cls.publish = _client_subscribe, _client_unsubscribe, _client_publish
del _cls
