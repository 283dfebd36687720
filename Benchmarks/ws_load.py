#!/usr/bin/env python3
"""WebSocket load client (asyncio protocols, raw RFC 6455 frames, no library overhead).

    ws_load.py echo PORT --connections 100 --duration 10 [--inflight 1]
        each connection sends a 32-byte text message and waits for its echo, again and again:
        messages/s and round-trip p50/p99.
    ws_load.py hold PORT --connections 10000 --duration 60 [--interval 1]
        opens every connection, then each echoes one message per interval: how many stay
        connected, round-trip p99. Prints a JSON line.
"""
import argparse
import asyncio
import base64
import json
import os
import random
import struct
import time

MASK = b'\x01\x02\x03\x04'


def frame(payload, opcode=1):
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack('!H', n)
    else:
        head += bytes([0x80 | 127]) + struct.pack('!Q', n)
    masked = bytes(b ^ MASK[i & 3] for i, b in enumerate(payload))
    return head + MASK + masked


class Client(asyncio.Protocol):
    def __init__(self, stats, path):
        self.stats, self.path = stats, path
        self.buf = b''
        self.upgraded = asyncio.get_running_loop().create_future()
        self.waiters = []
        self.closed = False
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write((f'GET {self.path} HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                         f'Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n').encode())

    def data_received(self, data):
        self.buf += data
        if not self.upgraded.done():
            end = self.buf.find(b'\r\n\r\n')
            if end < 0:
                return
            ok = self.buf.startswith(b'HTTP/1.1 101')
            self.buf = self.buf[end + 4:]
            self.upgraded.set_result(ok)
        while len(self.buf) >= 2:
            n = self.buf[1] & 0x7F
            off = 2
            if n == 126:
                if len(self.buf) < 4:
                    return
                n = struct.unpack('!H', self.buf[2:4])[0]
                off = 4
            elif n == 127:
                if len(self.buf) < 10:
                    return
                n = struct.unpack('!Q', self.buf[2:10])[0]
                off = 10
            if len(self.buf) < off + n:
                return
            op = self.buf[0] & 0x0F
            payload = self.buf[off:off + n]
            self.buf = self.buf[off + n:]
            if op == 9:
                self.transport.write(frame(payload, 10))
            elif op == 8:
                self.closed = True
            elif self.waiters:
                self.waiters.pop(0).set_result(payload)

    def connection_lost(self, exc):
        self.closed = True
        if not self.upgraded.done():
            self.upgraded.set_result(False)
        for w in self.waiters:
            if not w.done():
                w.set_exception(ConnectionError('closed'))
        self.waiters = []

    async def roundtrip(self, payload):
        fut = asyncio.get_running_loop().create_future()
        self.waiters.append(fut)
        self.transport.write(frame(payload))
        return await fut


async def connect(port, path, stats):
    loop = asyncio.get_running_loop()
    for attempt in range(5):
        try:
            _, proto = await loop.create_connection(lambda: Client(stats, path), '127.0.0.1', port)
            if await proto.upgraded:
                return proto
        except OSError:
            await asyncio.sleep(0.05 * (attempt + 1))
    return None


def percentile(values, p):
    if not values:
        return float('nan')
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


async def echo(args):
    stats = {}
    clients = [c for c in await asyncio.gather(*[connect(args.port, args.path, stats) for _ in range(args.connections)]) if c]
    payload = b'x' * 32
    deadline = time.monotonic() + args.duration
    count = 0
    rtts = []

    async def run(c):
        nonlocal count
        while time.monotonic() < deadline and not c.closed:
            t = time.perf_counter()
            futs = [c.roundtrip(payload) for _ in range(args.inflight)]
            await asyncio.gather(*futs)
            rtts.append(time.perf_counter() - t)
            count += args.inflight
    start = time.monotonic()
    await asyncio.gather(*[run(c) for c in clients], return_exceptions=True)
    elapsed = time.monotonic() - start
    for c in clients:
        c.transport.close()
    print(json.dumps({'connected': len(clients), 'messages': count, 'msgs_per_s': count / elapsed,
                      'p50_ms': percentile(rtts, 0.5) * 1000, 'p99_ms': percentile(rtts, 0.99) * 1000}))


async def hold(args):
    stats = {}
    clients = []
    # Connect in batches (the kernel backlog is finite).
    for i in range(0, args.connections, 500):
        batch = await asyncio.gather(*[connect(args.port, args.path, stats) for _ in range(min(500, args.connections - i))])
        clients += [c for c in batch if c]
    connected = len(clients)
    print(json.dumps({'phase': 'connected', 'connected': connected}), flush=True)
    if args.pause:
        await asyncio.sleep(args.pause)  # idle: the harness reads the server's memory now
    rtts = []
    failures = 0
    deadline = time.monotonic() + args.duration

    async def run(c):
        nonlocal failures
        await asyncio.sleep(random.random() * args.interval)
        while time.monotonic() < deadline:
            t = time.perf_counter()
            try:
                await asyncio.wait_for(c.roundtrip(b'tick'), 10)
            except Exception:
                failures += 1
                return
            rtts.append(time.perf_counter() - t)
            await asyncio.sleep(max(0, args.interval - (time.perf_counter() - t)))
    await asyncio.gather(*[run(c) for c in clients])
    still = sum(1 for c in clients if not c.closed)
    for c in clients:
        c.transport.close()
    print(json.dumps({'phase': 'done', 'connected': connected, 'still_connected': still, 'failures': failures,
                      'roundtrips': len(rtts), 'p50_ms': percentile(rtts, 0.5) * 1000, 'p99_ms': percentile(rtts, 0.99) * 1000}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('mode', choices=['echo', 'hold'])
    ap.add_argument('port', type=int)
    ap.add_argument('--path', default='/ws')
    ap.add_argument('--connections', type=int, default=100)
    ap.add_argument('--duration', type=float, default=10)
    ap.add_argument('--inflight', type=int, default=1)
    ap.add_argument('--interval', type=float, default=1.0)
    ap.add_argument('--pause', type=float, default=0)
    args = ap.parse_args()
    asyncio.run(echo(args) if args.mode == 'echo' else hold(args))


if __name__ == '__main__':
    main()
