#!/usr/bin/env bash
# Footprint of the deskhand binary: release size, cold start of `deskhand --help`, idle RSS of
# `deskhand schedule` with the shipped workflows, peak RSS of `deskhand run` draining 1,000
# tickets and, with --clean-build, the time of a clean release build of the workspace in a
# separate target dir. Prints Markdown on stdout.
#
# Usage: bench/footprint.sh [--clean-build] [--no-build] [--runs N]
set -euo pipefail
cd "$(dirname "$0")/.."

clean_build=0
build=1
runs=50
while [ $# -gt 0 ]; do
  case "$1" in
    --clean-build) clean_build=1 ;;
    --no-build) build=0 ;;
    --runs) runs="$2"; shift ;;
    *) echo "unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
  shift
done

target="${CARGO_TARGET_DIR:-$PWD/target}"
bin="$target/release/deskhand"
if [ "$build" = 1 ]; then
  echo "[footprint] building release deskhand" >&2
  cargo build --release -p deskhand --bin deskhand >&2
fi
[ -x "$bin" ] || { echo "no release binary at $bin (drop --no-build)" >&2; exit 1; }

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

size=$(stat -c %s "$bin")
stripped_copy=$(mktemp)
cp "$bin" "$stripped_copy"
strip "$stripped_copy" 2>/dev/null || true
stripped=$(stat -c %s "$stripped_copy")
rm -f "$stripped_copy"

echo "| measure | value |"
echo "|---|---:|"
echo "| release binary \`target/release/deskhand\` | $(mib "$size") MiB ($size bytes) |"
echo "| the same, stripped | $(mib "$stripped") MiB |"

# Cold start: process start to exit of `deskhand --help` (page cache warm, nothing else cached).
if command -v hyperfine >/dev/null 2>&1; then
  json=$(mktemp)
  hyperfine --warmup 3 --runs "$runs" --shell=none --export-json "$json" "$bin --help" >/dev/null 2>&1
  read -r mean sd median < <(python3 -c "
import json, sys
r = json.load(open(sys.argv[1]))['results'][0]
print(r['mean'] * 1e3, r['stddev'] * 1e3, r['median'] * 1e3)" "$json")
  rm -f "$json"
  tool="hyperfine, $runs runs"
else
  read -r mean sd median < <(python3 - "$bin" "$runs" <<'PY'
import statistics, subprocess, sys, time
bin, runs = sys.argv[1], int(sys.argv[2])
for _ in range(3):
    subprocess.run([bin, "--help"], stdout=subprocess.DEVNULL, check=True)
t = []
for _ in range(runs):
    s = time.perf_counter()
    subprocess.run([bin, "--help"], stdout=subprocess.DEVNULL, check=True)
    t.append((time.perf_counter() - s) * 1e3)
print(statistics.mean(t), statistics.stdev(t), statistics.median(t))
PY
)
  tool="python subprocess loop, $runs runs"
fi
printf '| cold start `deskhand --help` (%s) | median %.2f ms, mean %.2f ± %.2f ms |\n' "$tool" "$median" "$mean" "$sd"

# The runner's own memory, against a `deskhand sandbox` process (so the sandbox's memory is not
# counted): idle `deskhand schedule` with the shipped workflows, and `deskhand run` draining a
# backlog of 1,000 tickets on the offline baseline.
work=$(mktemp -d)
python3 - "$work/backlog.json" <<'PY'
import json, sys
data = json.load(open("tests/fixtures/eval/dataset.json"))
originals = data["tickets"]
tickets = []
for i in range(1000):
    t = json.loads(json.dumps(originals[i % len(originals)]))
    t["id"] = f"77000000{i + 1:08d}"
    t["ticketNumber"] = str(10000 + i)
    for key, prefix in (("threads", "78"), ("comments", "79")):
        for j, e in enumerate(t.get(key, [])):
            e["id"] = f"{prefix}000000{i + 1:06d}{j:02d}"
            if "ticketId" in e:
                e["ticketId"] = t["id"]
    tickets.append(t)
data["tickets"] = tickets
json.dump(data, open(sys.argv[1], "w"))
PY
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" sandbox --port "$port" --seed-file "$work/backlog.json" >"$work/sandbox.out" 2>&1 &
sandbox_pid=$!
for _ in $(seq 1 100); do grep -q "export ZOHO" "$work/sandbox.out" 2>/dev/null && break; sleep 0.1; done
for kv in $(grep -A1 "export ZOHO" "$work/sandbox.out" | grep -o 'ZOHO_[A-Z_]*=[^ ]*'); do export "${kv?}"; done
unset OPENAI_API_KEY OPENAI_BASE_URL AZURE_OPENAI_ENDPOINT DATABASE_URL

repo=$PWD
(cd "$work" && DATABASE_URL="sqlite://$work/schedule.db?mode=rwc" DESKHAND_WORKFLOWS="$repo/workflows" \
  DESKHAND_METRICS_ADDR=127.0.0.1:0 exec "$bin" schedule >"$work/schedule.out" 2>&1) &
pid=$!
sleep 5
if kill -0 "$pid" 2>/dev/null; then
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo "| idle RSS of \`deskhand schedule\` with the shipped workflows (5 s after start, SQLite store, Zoho = a sandbox process) | $(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }') MiB |"
else
  wait "$pid" 2>/dev/null || true
  echo "| idle RSS of \`deskhand schedule\` | not available (it exited: $(tail -n1 "$work/schedule.out" | cut -c1-120)) |"
fi

# The shipped triage workflow, allowed to take all 1,000 tickets in one run.
cp -r workflows prompts "$work/"
sed -i 's/^  max_items: 100$/  max_items: 1000/' "$work/workflows/triage-and-assign.yaml"
start=$(date +%s.%N)
/usr/bin/time -f '%M' -o "$work/maxrss" "$bin" run triage-and-assign --workflows "$work/workflows" \
  --database-url "sqlite://$work/drain.db?mode=rwc" --json >"$work/drain.json" 2>"$work/drain.err" || true
end=$(date +%s.%N)
items=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["items"]))' "$work/drain.json" 2>/dev/null || echo "?")
printf '| peak RSS of `deskhand run triage-and-assign` draining %s tickets (offline baseline, concurrency 4, %.0f s) | %.1f MiB |\n' \
  "$items" "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" "$(awk -v k="$(cat "$work/maxrss")" 'BEGIN { print k / 1024 }')"
kill "$sandbox_pid" 2>/dev/null || true
wait "$sandbox_pid" 2>/dev/null || true
rm -rf "$work"

if [ "$clean_build" = 1 ]; then
  dir=/tmp/footprint-target
  rm -rf "$dir"
  echo "[footprint] clean release build of the workspace into $dir" >&2
  start=$(date +%s.%N)
  CARGO_TARGET_DIR="$dir" cargo build --release --workspace --locked >&2
  end=$(date +%s.%N)
  printf '| clean release build of the workspace (%s cores) | %.0f s |\n' "$(nproc)" \
    "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')"
  rm -rf "$dir"
else
  echo "| clean release build of the workspace | not measured (pass --clean-build) |"
fi
