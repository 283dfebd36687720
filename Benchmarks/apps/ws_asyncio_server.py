"""WebSocket echo on the websockets library's asyncio server (one process)."""
import asyncio
import sys

import websockets


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main(port):
    async with websockets.serve(echo, '127.0.0.1', port, compression=None, max_size=1 << 20, ping_interval=None):
        print('listening', flush=True)
        await asyncio.Future()


asyncio.run(main(int(sys.argv[1])))
