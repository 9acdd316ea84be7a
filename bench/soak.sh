#!/usr/bin/env bash
# The fault soak: scheduler replicas on PostgreSQL work a sandbox backlog under injected faults
# (5xx, dropped connections, cut bodies, latency, both kinds of 429, token expiry) while a replica
# is killed with SIGKILL at random moments. Bounded: --minutes (default 4) plus a minute to settle.
# Fails when any ticket lost or doubled its write or any item was abandoned; the totals go into
# docs/benchmarks.md between the soak markers.
#
#   bash bench/soak.sh [--database-url postgres://...] [--tickets 40] [--minutes 4] [--replicas 2] [--seed 7]
set -euo pipefail
cd "$(dirname "$0")/.."
url="${DATABASE_URL:-${DESKHAND_TEST_POSTGRES_URL:-}}"
args=("$@")
if [[ " ${args[*]-} " != *" --database-url "* ]]; then
  [[ -n "$url" ]] || { echo "soak: set DATABASE_URL (PostgreSQL) or pass --database-url" >&2; exit 2; }
  args+=(--database-url "$url")
fi
cargo build --release -q -p deskhand --bin deskhand --example soak
line="$(target/release/examples/soak "${args[@]}")"
echo "$line"
python3 - "$line" <<'PY'
import json, re, sys, datetime
r = json.loads(sys.argv[1])
faults = ", ".join(f"{k} {v}" for k, v in sorted((r.get("faults_injected") or {}).items()))
body = f"""Measured {datetime.date.today()} with `bash bench/soak.sh` (seed {r['seed']}): {r['replicas']} scheduler
replicas on PostgreSQL, {r['tickets']} tickets, a tick every 3 s.

| measure | value |
|---|---|
| backlog done after | {r['drained_s'] if r['drained_s'] is not None else 'not within the bound'} s |
| replicas killed with SIGKILL | {r['kills']} |
| access tokens expired | {r['token_expiries']} |
| faults injected | {faults} |
| 429 answered (credit window / concurrency) | {r['answered_429_quota']} / {r['answered_429_concurrency']} |
| Zoho calls / LLM requests | {r['zoho_calls']} / {r['llm_requests']} |
| items / abandoned | {r['items']} / {r['abandoned']} |
| tickets with a lost write | {r['lost']} |
| tickets with a duplicated write | {r['duplicated']} |
"""
path = "docs/benchmarks.md"
text = open(path).read()
start, end = "<!-- soak:start -->", "<!-- soak:end -->"
block = f"{start}\n{body}{end}"
if start in text:
    text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
else:
    text = text.rstrip("\n") + "\n\n## 5. Fault soak\n\n" + block + "\n"
open(path, "w").write(text)
PY
