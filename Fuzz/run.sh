#!/usr/bin/env bash
# Fuzzes with libFuzzer for SECONDS (default 1800): TARGET HTTP1Fuzzer (default; the request
# parser and chunked decoder, seeded with the conformance corpora in Tests/Fixtures/conformance/http)
# or WebSocketFuzzer (the WebSocket codec and session, static paths and ranges).
# Findings go to Fuzz/findings/.
#   Fuzz/run.sh [SECONDS] [TARGET]
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_TO_RUN="${1:-1800}"
TARGET="${2:-HTTP1Fuzzer}"
swift build -c release --product "$TARGET" --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address
if [ "$TARGET" = WebSocketFuzzer ]; then
  mkdir -p corpus-ws findings
  # Seeds: a masked text frame, a fragmented message with a ping between, a close.
  printf '\x00\x00\x81\x85\x01\x02\x03\x04\x69\x67\x6f\x68\x6e' > corpus-ws/text
  printf '\x00\x00\x01\x82\x00\x00\x00\x00hi\x89\x80\x00\x00\x00\x00\x80\x81\x00\x00\x00\x00!' > corpus-ws/fragments
  printf '\x00\x00\x88\x82\x00\x00\x00\x00\x03\xe8' > corpus-ws/close
  exec .build-fuzz/release/WebSocketFuzzer corpus-ws -artifact_prefix=findings/ -max_total_time="$SECONDS_TO_RUN" -max_len=2048 -print_final_stats=1
fi
mkdir -p corpus findings
python3 - <<'PY'
import base64, json, os, glob, hashlib, re
root = '../Tests/Fixtures/conformance/http'
def save(b):
    open(os.path.join('corpus', hashlib.sha1(b).hexdigest()), 'wb').write(b)
for c in json.load(open(f'{root}/llhttp/requests.json')):
    save(base64.b64decode(c['raw_b64']))
for f in glob.glob(f'{root}/gunicorn/*/*.http'):
    t = open(f, encoding='latin-1').read().replace('\n', '')
    t = t.replace('\\r', '\r').replace('\\n', '\n').replace('\\t', '\t').replace('\\0', '\0')
    save(re.sub(r'\\x([0-9A-Fa-f]{2})', lambda m: chr(int(m.group(1), 16)), t).encode('latin-1'))
PY
exec .build-fuzz/release/HTTP1Fuzzer corpus -artifact_prefix=findings/ -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -print_final_stats=1
