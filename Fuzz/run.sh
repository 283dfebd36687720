#!/usr/bin/env bash
# Fuzzes the request parser and chunked decoder with libFuzzer for SECONDS (default 1800),
# seeded with the conformance corpora in ../shared/conformance/http. Findings go to Fuzz/findings/.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_TO_RUN="${1:-1800}"
swift build -c release --product HTTP1Fuzzer --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address
mkdir -p corpus findings
python3 - <<'PY'
import base64, json, os, glob, hashlib
root = '../../shared/conformance/http'
def save(b):
    open(os.path.join('corpus', hashlib.sha1(b).hexdigest()), 'wb').write(b)
for c in json.load(open(f'{root}/llhttp/requests.json')):
    save(base64.b64decode(c['raw_b64']))
for f in glob.glob(f'{root}/gunicorn/*/*.http'):
    t = open(f, encoding='latin-1').read().replace('\n', '')
    save(t.replace('\\r', '\r').replace('\\n', '\n').replace('\\t', '\t').replace('\\0', '\0').encode('latin-1'))
PY
exec .build-fuzz/release/HTTP1Fuzzer corpus -artifact_prefix=findings/ -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -print_final_stats=1
