"""Fan-out on the websockets library's asyncio server (one process): a connection on /pub has
every message it sends broadcast with websockets.broadcast() to all the others, which are
subscribed as they connect (and say so: their first message). Compression and pings off."""
import asyncio
import sys

import websockets

SUBSCRIBERS = set()


async def handler(ws):
    if ws.request.path == '/pub':
        try:
            async for message in ws:
                websockets.broadcast(SUBSCRIBERS, message)
        except websockets.ConnectionClosed:  # the load tool leaves without a close frame
            pass
        return
    SUBSCRIBERS.add(ws)
    try:
        await ws.send('subscribed')
        await ws.wait_closed()
    finally:
        SUBSCRIBERS.discard(ws)


async def main(port):
    async with websockets.serve(handler, '127.0.0.1', port, compression=None, max_size=1 << 20, ping_interval=None,
                                backlog=4096):
        print('listening', flush=True)
        await asyncio.Future()


asyncio.run(main(int(sys.argv[1])))
