#!/usr/bin/env python3
"""permessage-deflate on a JSON chat workload (issue 17): what context takeover saves on the wire
and what it costs in worker memory (not a test; the machine is shared and has 2 cores).

Each connection offers what a browser offers (`permessage-deflate; client_max_window_bits`)
and echoes small JSON chat messages (93-264 bytes, the same keys, words from a small
vocabulary) through one dispatchd worker (--uwsgi-compat, Benchmarks/apps/ws_uwsgi_app.py).
The client is here, on raw sockets with Python's zlib, so that it counts every byte on the wire
and decompresses as the server's answer says (with or without the earlier messages).

For each server setting (no extension offered; --websocket-deflate-memory 0, every message
compressed alone; the default 64 KiB; 320000 bytes, room for 15-bit windows both ways):

1. ratio: wire bytes (frame headers and payloads) over message bytes, each direction, over
   --ratio-connections connections of --messages messages each; the server's CPU per message.
2. memory: --connections connections open at once, each having echoed --memory-messages
   messages (enough to fill a 12-bit window, and a 15-bit window's hash heads); the worker's RSS
   growth per connection (/proc/PID/status VmRSS after, minus before), next to the zlib state the
   answer lets it keep (PerMessageDeflate's formulas, checked against zlib's own allocations in
   Tests/DWebSocketTests).

    Benchmarks/ws_deflate.py [--connections 1000] [--messages 200] [--memory-messages 50]
                             [--ratio-connections 50] [--rounds 3]
"""
import argparse
import asyncio
import base64
import json
import os
import random
import resource
import statistics
import struct
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as harness  # noqa: E402  (the HTTP harness: build, ports, CPU accounting)
import ws_bench  # noqa: E402  (server start, worker pid, RSS)

OFFER = 'permessage-deflate; client_max_window_bits'
# (label, the client's offer, --websocket-deflate-memory)
SETTINGS = [
    ('no extension', None, None),
    ('no takeover (`--websocket-deflate-memory 0`)', OFFER, '0'),
    ('takeover, the default 64 KiB', OFFER, None),
    ('takeover, `--websocket-deflate-memory 320000`', OFFER, '320000'),
]

USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi']
WORDS = ('hello there how are you doing today the meeting is at noon lunch ok sure thanks see you later '
         'great idea ship it tomorrow review merge').split()


def chat_messages(seed, count):
    """Small JSON chat messages, as a chat room's clients send them."""
    rnd = random.Random(seed)
    return [json.dumps({'type': 'message', 'room': 'general', 'user': rnd.choice(USERS), 'id': i,
                        'ts': 1767225600 + i * 7,
                        'text': ' '.join(rnd.choice(WORDS) for _ in range(rnd.randint(3, 30)))},
                       separators=(',', ':')).encode() for i in range(count)]


def extension_params(value):
    """The answer's permessage-deflate parameters: {name: value or True}."""
    params = {}
    for part in value.split(';')[1:]:
        k, _, v = part.strip().partition('=')
        params[k.strip()] = int(v) if v else True
    return params


class Client:
    """One connection: handshake, then messages echoed; counts wire and message bytes."""

    def __init__(self, port, offer):
        self.port = port
        self.offer = offer
        self.sent_wire = self.sent_plain = self.received_wire = self.received_plain = 0
        self.compress = self.decompress = None

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection('127.0.0.1', self.port)
        key = base64.b64encode(os.urandom(16)).decode()
        extension = f'Sec-WebSocket-Extensions: {self.offer}\r\n' if self.offer else ''
        self.writer.write((f'GET /ws HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                           f'Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extension}\r\n').encode())
        head = (await self.reader.readuntil(b'\r\n\r\n')).decode()
        if not head.startswith('HTTP/1.1 101'):
            raise RuntimeError(head)
        self.answer = None
        for line in head.split('\r\n'):
            name, _, value = line.partition(':')
            if name.lower() == 'sec-websocket-extensions':
                self.answer = value.strip()
        if self.answer:
            p = extension_params(self.answer)
            self.client_takeover = 'client_no_context_takeover' not in p
            self.server_takeover = 'server_no_context_takeover' not in p
            self.client_bits = p.get('client_max_window_bits', 15)
            self.compress = zlib.compressobj(6, zlib.DEFLATED, -self.client_bits)
            self.decompress = zlib.decompressobj(-15)

    async def echo(self, message):
        payload, rsv = message, 0
        if self.compress:
            if not self.client_takeover:
                self.compress = zlib.compressobj(6, zlib.DEFLATED, -self.client_bits)
            payload, rsv = (self.compress.compress(message) + self.compress.flush(zlib.Z_SYNC_FLUSH))[:-4], 0x40
        n = len(payload)
        head = bytes([0x80 | rsv | 0x1]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack('>H', n))
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        self.writer.write(head + mask + masked)
        self.sent_wire += len(head) + 4 + n
        self.sent_plain += len(message)
        b0, b1 = await self.reader.readexactly(2)
        n, extra = b1 & 0x7F, 0
        if n == 126:
            n, extra = struct.unpack('>H', await self.reader.readexactly(2))[0], 2
        elif n == 127:
            n, extra = struct.unpack('>Q', await self.reader.readexactly(8))[0], 8
        data = await self.reader.readexactly(n)
        self.received_wire += 2 + extra + n
        if b0 & 0x40:
            if not self.server_takeover:
                self.decompress = zlib.decompressobj(-15)
            data = self.decompress.decompress(data + b'\x00\x00\xff\xff')
        if data != message:
            raise RuntimeError('the echo differs')
        self.received_plain += len(data)

    def close(self):
        self.writer.close()


async def run_clients(port, offer, count, messages, hold=None):
    """`count` connections, each echoing `messages` of its own; then, with `hold`, awaits it
    with every connection still open."""
    clients = [Client(port, offer) for _ in range(count)]
    for i in range(0, count, 100):
        await asyncio.gather(*(c.open() for c in clients[i:i + 100]))

    async def talk(i, c):
        for m in chat_messages(i, messages):
            await c.echo(m)

    await asyncio.gather(*(talk(i, c) for i, c in enumerate(clients)))
    if hold:
        await hold()
    for c in clients:
        c.close()
    return clients


def server(binary, port, memory):
    cmd = ws_bench.servers(binary)['dispatchd'](port)
    return cmd[:1] + (['--websocket-deflate-memory', memory] if memory is not None else []) + cmd[1:]


def ratio(binary, args, offer, setting):
    port = harness.free_port()
    p = harness.start(server(binary, port, setting))
    try:
        ws_bench.wait_listening(port, p)
        cpu0 = harness.session_cpu(p.pid)
        clients = asyncio.run(run_clients(port, offer, args.ratio_connections, args.messages))
        cpu = harness.session_cpu(p.pid) - cpu0
        total = lambda k: sum(getattr(c, k) for c in clients)  # noqa: E731
        return {'answer': clients[0].answer, 'down': total('received_wire') / total('received_plain'),
                'up': total('sent_wire') / total('sent_plain'),
                'cpu_us': cpu / (args.ratio_connections * args.messages) * 1e6}
    finally:
        harness.stop(p)


def memory(binary, args, offer, setting):
    port = harness.free_port()
    p = harness.start(server(binary, port, setting))
    try:
        ws_bench.wait_listening(port, p)
        worker = ws_bench.worker_pid(p, 'dispatchd')
        # One connection first, so that what every worker allocates once (Python's objects for the
        # handler, the shared zlib streams) is in the baseline.
        asyncio.run(run_clients(port, offer, 1, args.memory_messages))
        time.sleep(0.3)
        before = ws_bench.rss_kib(worker)
        seen = {}

        async def measure():
            await asyncio.sleep(0.5)
            seen['rss'] = ws_bench.rss_kib(worker)

        asyncio.run(run_clients(port, offer, args.connections, args.memory_messages, measure))
        return (seen['rss'] - before) / args.connections
    finally:
        harness.stop(p)


def zlib_state(answer):
    """What the answer lets a connection keep, by PerMessageDeflate's formulas (bytes)."""
    if not answer:
        return 0
    p = extension_params(answer)
    total = 0
    if 'server_no_context_takeover' not in p:
        bits = p.get('server_max_window_bits', 15)
        total += (1 << (bits + 2)) + (1 << (bits - 7 + 9)) + 5952 + 512
    if 'client_no_context_takeover' not in p:
        total += (1 << max(p.get('client_max_window_bits', 15), 9)) + 7160 + 512
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--connections', type=int, default=1000)
    ap.add_argument('--messages', type=int, default=200)
    ap.add_argument('--memory-messages', type=int, default=50)
    ap.add_argument('--ratio-connections', type=int, default=50)
    ap.add_argument('--rounds', type=int, default=3)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, args.connections + 100)), hard))
    binary = harness.build_dispatchd()
    harness.venv_install(('greenlet',))
    rows = {}
    for rnd in range(args.rounds):
        for label, offer, setting in SETTINGS:
            r = ratio(binary, args, offer, setting)
            r['rss'] = memory(binary, args, offer, setting)
            print(f'round {rnd + 1}: {label}: {r}', file=sys.stderr)
            rows.setdefault(label, []).append(r)
    print(f'# permessage-deflate, JSON chat messages: {args.ratio_connections} connections x {args.messages} '
          f'messages for the ratios; {args.connections} connections x {args.memory_messages} messages for memory; '
          f'medians of {args.rounds} rounds\n')
    print('| server | answer to `permessage-deflate; client_max_window_bits` | wire / message bytes, server to client '
          '| client to server | server CPU µs per echo | zlib state kept per connection | worker RSS per connection |')
    print('|---|---|---|---|---|---|---|')
    for label, _, _ in SETTINGS:
        rs = rows[label]
        med = lambda k: statistics.median(r[k] for r in rs)  # noqa: E731
        print(f"| {label} | `{rs[0]['answer'] or 'none'}` | {med('down'):.3f} | {med('up'):.3f} | "
              f"{med('cpu_us'):.1f} | {zlib_state(rs[0]['answer']) / 1024:.1f} KiB | {med('rss'):.1f} KiB |")


if __name__ == '__main__':
    main()
