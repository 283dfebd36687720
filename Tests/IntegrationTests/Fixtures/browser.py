"""Drives headless Chromium over the DevTools protocol for the browser tests.

    python3 browser.py URL EXPRESSION SUBSTRING [TIMEOUT [CHROMIUM_FLAG...]]

Opens URL in a fresh headless Chromium, evaluates the JavaScript EXPRESSION in the page until
its (string) value contains SUBSTRING or TIMEOUT seconds pass, prints the last value, and exits
0 when it matched, 1 otherwise. Needs Debian's chromium and the websockets package.
"""
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import websockets


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


async def evaluate_until(ws_url, expression, substring, timeout):
    async with websockets.connect(ws_url, max_size=None) as ws:
        ident = 0
        value = ''
        deadline = time.time() + timeout
        while time.time() < deadline:
            ident += 1
            await ws.send(json.dumps({'id': ident, 'method': 'Runtime.evaluate',
                                      'params': {'expression': expression, 'returnByValue': True}}))
            while True:
                reply = json.loads(await ws.recv())
                if reply.get('id') == ident:
                    break
            value = str(reply.get('result', {}).get('result', {}).get('value', ''))
            if substring in value:
                return True, value
            await asyncio.sleep(0.1)
        return False, value


def main():
    url, expression, substring = sys.argv[1], sys.argv[2], sys.argv[3]
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 15
    binary = shutil.which('chromium') or shutil.which('chromium-browser') or shutil.which('google-chrome')
    if not binary:
        print('chromium is not installed', file=sys.stderr)
        sys.exit(2)
    port = free_port()
    profile = tempfile.mkdtemp(prefix='dispatchd-chromium-')
    chrome = subprocess.Popen([binary, '--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run',
                               f'--remote-debugging-port={port}', f'--user-data-dir={profile}'] + sys.argv[5:] + [url],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        page = None
        for _ in range(200):
            try:
                with urllib.request.urlopen(f'http://127.0.0.1:{port}/json/list', timeout=1) as r:
                    pages = [t for t in json.load(r) if t.get('type') == 'page']
                if pages:
                    page = pages[0]
                    break
            except OSError:
                pass
            time.sleep(0.1)
        if page is None:
            print('chromium did not start', file=sys.stderr)
            sys.exit(2)
        ok, value = asyncio.run(evaluate_until(page['webSocketDebuggerUrl'], expression, substring, timeout))
        print(value)
        sys.exit(0 if ok else 1)
    finally:
        chrome.terminate()
        try:
            chrome.wait(5)
        except subprocess.TimeoutExpired:
            chrome.kill()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == '__main__':
    main()
