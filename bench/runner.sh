#!/usr/bin/env bash
# The runner benchmarks, written into docs/benchmarks.md between their markers:
#   section 2  backlog drain under rate limits: runner/examples/drain.rs (three client policies)
#   section 3  tokens and round trips per ticket: runner/examples/tokens.rs (o200k_base)
#
# Usage: bench/runner.sh [--tickets 1000] [--no-build] [--reuse-drain]
# Takes about 10 minutes with the defaults: the drain is bound by the credit window on purpose.
# Raw results stay in target/bench-runner/; --reuse-drain renders the last drain again instead of
# re-running it (for when only the token figures changed).
set -euo pipefail
cd "$(dirname "$0")/.."

tickets=1000
build=1
reuse_drain=0
while [ $# -gt 0 ]; do
  case "$1" in
    --tickets) tickets="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --reuse-drain) reuse_drain=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

# The limit must be the bottleneck: 8 workers with a 50 ms model could spend several hundred
# credits a second; the window allows 100.
credits=1000 window=10 cap=6 latency=50

out=target/bench-runner
mkdir -p "$out"
if [ "$build" = 1 ]; then
  echo "== build (release examples drain and tokens)" >&2
  cargo build --release -p deskhand --example drain --example tokens >&2
fi
if [ "$reuse_drain" = 1 ] && [ -s "$out/drain.jsonl" ]; then
  echo "== drain: reusing $out/drain.jsonl" >&2
else
  echo "== drain: $tickets tickets, $credits credits per ${window}s, concurrency cap $cap, model latency ${latency} ms" >&2
  target/release/examples/drain --tickets "$tickets" --credits "$credits" --window-secs "$window" \
    --concurrency-cap "$cap" --llm-latency-ms "$latency" >"$out/drain.jsonl.new"
  mv "$out/drain.jsonl.new" "$out/drain.jsonl"
fi
echo "== tokens: 20 tickets per workflow and variant" >&2
target/release/examples/tokens --tickets 20 >"$out/tokens.jsonl"

python3 - "$out" "$tickets" "$credits" "$window" "$cap" "$latency" <<'PY'
import json, re, sys
from pathlib import Path

out, tickets, credits, window, cap, latency = Path(sys.argv[1]), *sys.argv[2:]
drain = [json.loads(l) for l in (out / "drain.jsonl").read_text().splitlines() if l.strip()]
tokens = [json.loads(l) for l in (out / "tokens.jsonl").read_text().splitlines() if l.strip()]

names = {
    "honour": "deskhand: rate gate honouring the reported reset",
    "backoff": "exponential backoff with jitter (0.5 s to 30 s), headers ignored",
    "none": "no retry (a 429 fails the item)",
}
s2 = [
    f"`bash bench/runner.sh` (runner/examples/drain.rs): {tickets} unassigned open tickets, the sandbox "
    f"allowing {credits} credits per {window} s window and {cap} concurrent calls; the shipped "
    f"triage-and-assign workflow (decide mode) with concurrency 8 and a scripted model answering after {latency} ms "
    "(the runner reads the ticket, the model decides once, the runner assigns and writes a note). "
    "The three policies run one after the other in one process, each on a fresh sandbox. Two minimums: "
    "the floor (3 credits per ticket: read, update, note) and the credits the run's successful calls "
    "actually cost, each divided by the credits allowed per second.",
    "",
    "| client policy | wall time | credits per ticket | floor minimum | wall / floor | actual-spend minimum | wall / actual-spend | Zoho calls | answered 429 | tickets lost | duplicated |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
]
for d in drain:
    s2.append(
        f"| {names.get(d['policy'], d['policy'])} | {d['wall_s']:.1f} s | {d['credits_per_ticket']:.2f} | "
        f"{d['floor_min_s']:.1f} s | {d['wall_over_floor']:.3f} | {d['actual_spend_min_s']:.1f} s | "
        f"{d['wall_over_actual_spend_min']:.3f} | {d['zoho_calls']} | {d['answered_429']} ({100 * d['share_429']:.1f}%) | "
        f"{d['lost']} | {d['duplicated']} |"
    )
by = {d["policy"]: d for d in drain}
if "honour" in by and "backoff" in by:
    h, b = by["honour"], by["backoff"]
    s2 += [
        "",
        f"The gate drained the backlog {b['wall_s'] / h['wall_s']:.2f}x faster than backoff that ignores the "
        f"headers, with {b['answered_429'] / max(h['answered_429'], 1):.0f}x fewer 429s. "
        "A ticket is lost when it ends without an assignment or without its note, duplicated when it has "
        "more than one note. Without retries the run is fast because most items fail: a read or write "
        "answered 429 fails the item, which the next run offers again. A ratio slightly under 1 is "
        "possible: the first window's credits are there at the start, so the last window need not be "
        "waited out in full.",
    ]

label = {"shipped": "shipped file", "agent": "agent mode (bench/agent-mode/ allow-list)", "all_tools": "every generated tool", "no_composite": "without the composite context tool"}
s3 = [
    "`bash bench/runner.sh` (runner/examples/tokens.rs): each shipped workflow on the first 20 tickets of "
    "the labelled dataset, with a scripted model that does what the prompt asks from the real tool "
    "results (deskhand_e2e::agents). Every request the runner sends is counted with OpenAI's o200k_base "
    "tokenizer (tiktoken-rs): messages with 3 tokens of framing each, and the `tools` array as the JSON "
    "sent. Completion tokens are the scripted answers and tool calls, counted the same way.",
    "",
    "| workflow | mode | tools offered | variant | LLM round trips | tool calls | prompt tokens | completion tokens | tool-schema tokens | schema share | Zoho credits |",
    "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
]
for t in tokens:
    s3.append(
        f"| {t['workflow']} | {t.get('mode', 'agent')} | {t['tools_offered']} | {label[t['variant']]} | {t['llm_round_trips_per_ticket']:.1f} | "
        f"{t['tool_calls_per_ticket']:.1f} | {t['prompt_tokens_per_ticket']:,.0f} | {t['completion_tokens_per_ticket']:,.0f} | "
        f"{t['tool_schema_tokens_per_ticket']:,.0f} | {100 * t['tool_schema_share']:.0f}% | {t.get('zoho_credits_per_ticket', 0):.2f} |"
    )
s3 += ["", "Per ticket. Ratios against the agent-mode allow-list (the shipped file's, or bench/agent-mode/'s for a workflow that ships in decide mode):", ""]
for wf in dict.fromkeys(t["workflow"] for t in tokens):
    rows = {t["variant"]: t for t in tokens if t["workflow"] == wf}
    ship, every, piece = rows.get("agent", rows["shipped"]), rows["all_tools"], rows["no_composite"]
    if "agent" in rows:
        decide = rows["shipped"]
        s3.append(
            f"- {wf}: decide mode sends {ship['prompt_tokens_per_ticket'] / decide['prompt_tokens_per_ticket']:.1f}x fewer prompt tokens "
            f"in {decide['llm_round_trips_per_ticket']:.0f} round trip(s) instead of {ship['llm_round_trips_per_ticket']:.0f}, and spends "
            f"{decide.get('zoho_credits_per_ticket', 0):.2f} Zoho credits per ticket against {ship.get('zoho_credits_per_ticket', 0):.2f}."
        )
    s3.append(
        f"- {wf}: offering every tool costs {every['tool_schema_tokens_per_ticket'] / ship['tool_schema_tokens_per_ticket']:.1f}x "
        f"the tool-schema tokens and {every['prompt_tokens_per_ticket'] / ship['prompt_tokens_per_ticket']:.2f}x the prompt tokens; "
        f"without the composite tool, {piece['llm_round_trips_per_ticket'] / ship['llm_round_trips_per_ticket']:.2f}x the round trips "
        f"and {piece['prompt_tokens_per_ticket'] / ship['prompt_tokens_per_ticket']:.2f}x the prompt tokens."
    )
sizes = next((t["tool_schema_tokens"] for t in tokens if t["variant"] == "all_tools"), {})
if sizes:
    s3 += ["", "What each tool's definition costs per request (o200k_base tokens):", "",
           "| tool | tokens |", "|---|---:|"]
    s3 += [f"| `{k}` | {v} |" for k, v in sorted(sizes.items(), key=lambda kv: -kv[1])]

doc = Path("docs/benchmarks.md")
text = doc.read_text()
for name, body in {"section-2": "\n".join(s2), "section-3": "\n".join(s3)}.items():
    pattern = re.compile(rf"<!-- BEGIN {name} -->.*?<!-- END {name} -->", re.S)
    if not pattern.search(text):
        sys.exit(f"docs/benchmarks.md has no <!-- BEGIN/END {name} --> markers")
    text = pattern.sub(lambda _: f"<!-- BEGIN {name} -->\n{body}\n<!-- END {name} -->", text)
doc.write_text(text)
print(f"wrote sections 2 and 3 of {doc}")
PY
