#!/usr/bin/env bash
# Footprint of the deskhand binary: release size, cold start of `deskhand --help`, idle RSS of
# `deskhand schedule` (when that command exists) and, with --clean-build, the time of a clean
# release build of the workspace in a separate target dir. Prints Markdown on stdout.
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

# Idle RSS of the scheduler, once `deskhand schedule` exists.
if "$bin" schedule --help >/dev/null 2>&1; then
  # An empty workflows directory: the scheduler's own idle cost, without an embedded sandbox.
  work=$(mktemp -d)
  mkdir "$work/workflows"
  (cd "$work" && DATABASE_URL="sqlite://$work/deskhand.db?mode=rwc" DESKHAND_WORKFLOWS="$work/workflows" \
    DESKHAND_METRICS_ADDR=127.0.0.1:0 exec "$bin" schedule >"$work/out" 2>&1) &
  pid=$!
  sleep 5
  if kill -0 "$pid" 2>/dev/null; then
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    echo "| idle RSS of \`deskhand schedule\` (5 s after start, empty workflows directory, SQLite store) | $(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }') MiB |"
  else
    wait "$pid" 2>/dev/null || true
    echo "| idle RSS of \`deskhand schedule\` | not available (it exited: $(tail -n1 "$work/out" | cut -c1-120)) |"
  fi
  rm -rf "$work"
else
  echo "| idle RSS of \`deskhand schedule\` | not available (no \`deskhand schedule\` command yet) |"
fi

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
