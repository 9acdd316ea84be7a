#!/usr/bin/env python3
"""deskhand's MCP gateway against a FastMCP.from_openapi peer, side by side in one run.

One `deskhand sandbox` process; `deskhand mcp serve --http` and bench/fastmcp_peer.py both proxy
it. The same client (runner/examples/mcp_load.rs: rmcp's Streamable HTTP client, one session per
concurrent client) calls get_single_zoho_desk_ticket_by_id on each server at 1, 8 and 64
concurrent clients; a plain HTTP GET of the same ticket straight from the sandbox is the floor.
It also reads each server's resident memory (/proc/PID/status VmRSS) before and after opening
idle MCP sessions. Prints Markdown on stdout.

Usage: python3 bench/gateway_compare.py [--calls 2000] [--idle-sessions 200] [--json-out F] [--svg F]
Needs: cargo, python3 with venv; installs bench/requirements.txt into --venv on first use.
"""

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOL = "get_single_zoho_desk_ticket_by_id"
CONCURRENCY = (1, 8, 64)


def log(msg: str) -> None:
    print(f"[gateway_compare] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{what} did not listen on port {port} within {timeout:.0f}s")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise SystemExit(f"no VmRSS for pid {pid}")


def ensure_venv(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        log(f"creating {venv}")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    probe = subprocess.run([str(python), "-c", "import fastmcp"], capture_output=True)
    if probe.returncode != 0:
        log("installing bench/requirements.txt (fastmcp)")
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "-r", str(ROOT / "bench" / "requirements.txt")],
            check=True,
        )
    return python


def sandbox_token(sandbox: dict) -> str:
    form = urllib.parse.urlencode({
        "grant_type": "refresh_token",
        "client_id": sandbox["client_id"],
        "client_secret": sandbox["client_secret"],
        "refresh_token": sandbox["refresh_token"],
    }).encode()
    url = sandbox["accounts_url"].rstrip("/") + "/oauth/v2/token"
    with urllib.request.urlopen(urllib.request.Request(url, data=form, method="POST")) as r:
        body = json.load(r)
    if "access_token" not in body:
        raise SystemExit(f"sandbox token refused: {body.get('error')}")
    return body["access_token"]


class Run:
    def __init__(self, args):
        self.args = args
        self.procs: list[subprocess.Popen] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="deskhand-gateway-compare-"))
        target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
        self.deskhand = target / "release" / "deskhand"
        self.load = target / "release" / "examples" / "mcp_load"

    def start(self, cmd, env=None, stdout=subprocess.DEVNULL, name="proc"):
        err = open(self.tmp / f"{name}.stderr", "w")
        p = subprocess.Popen(cmd, env=env, stdout=stdout, stderr=err, stdin=subprocess.DEVNULL, text=True)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()

    def load_json(self, *argv) -> dict:
        out = subprocess.run([str(self.load), *map(str, argv)], capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"mcp_load {argv[0]} failed: {out.stderr.strip()[-2000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])

    def idle_memory(self, pid: int, url: str, sessions: int) -> dict:
        before = rss_kib(pid)
        client = subprocess.Popen([str(self.load), "idle", url, str(sessions)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = client.stdout.readline()
        if not line:
            client.kill()
            raise SystemExit(f"idle sessions failed: {client.stderr.read()[-2000:]}")
        time.sleep(1.0)
        after = rss_kib(pid)
        client.stdin.close()
        client.wait(timeout=60)
        return {"rss_before_kib": before, "rss_after_kib": after, "sessions": sessions,
                "per_session_kib": (after - before) / sessions}

    def main(self) -> dict:
        a = self.args
        if not a.no_build:
            log("building release deskhand and the mcp_load client")
            subprocess.run(["cargo", "build", "--release", "-p", "deskhand", "--bin", "deskhand",
                            "--example", "mcp_load"], cwd=ROOT, check=True)
        python = ensure_venv(Path(a.venv))

        sandbox_proc = self.start(
            [str(self.deskhand), "sandbox", "--port", "0", "--json",
             # Limits high enough never to answer 429: this measures the servers, not Zoho's quotas.
             "--credits-per-window", "1000000000000", "--window-secs", "86400",
             "--max-concurrency", "100000"],
            stdout=subprocess.PIPE, name="sandbox")
        line = sandbox_proc.stdout.readline()
        if not line:
            raise SystemExit("the sandbox printed no JSON line")
        sandbox = json.loads(line)
        api = sandbox["base_url"].rstrip("/") + "/api/v1"
        token = sandbox_token(sandbox)
        headers = {"Authorization": f"Zoho-oauthtoken {token}", "orgId": str(sandbox["org_id"])}
        req = urllib.request.Request(api + "/tickets?limit=1", headers=headers)
        with urllib.request.urlopen(req) as r:
            ticket_id = str(json.load(r)["data"][0]["id"])

        env = dict(os.environ,
                   ZOHO_DESK_BASE_URL=sandbox["base_url"], ZOHO_ACCOUNTS_URL=sandbox["accounts_url"],
                   ZOHO_ORG_ID=str(sandbox["org_id"]), ZOHO_CLIENT_ID=sandbox["client_id"],
                   ZOHO_CLIENT_SECRET=sandbox["client_secret"], ZOHO_REFRESH_TOKEN=sandbox["refresh_token"],
                   DATABASE_URL=f"sqlite://{self.tmp}/registry.db?mode=rwc", RUST_LOG="warn")
        env.pop("DESKHAND_CONNECTIONS", None)
        port = free_port()
        created = subprocess.run(
            [str(self.deskhand), "mcp", "servers", "create", "--name", "bench", "--json",
             "--public-url", f"http://127.0.0.1:{port}"],
            env=env, capture_output=True, text=True)
        if created.returncode != 0:
            raise SystemExit(f"mcp servers create failed: {created.stderr.strip()}")
        deskhand_url = json.loads(created.stdout)["url"]
        deskhand_proc = self.start([str(self.deskhand), "mcp", "serve", "--http", "--port", str(port)],
                                   env=env, name="deskhand-mcp")
        wait_port(port, deskhand_proc, "deskhand mcp serve")

        spec = self.tmp / "openapi.json"
        subprocess.run([str(self.deskhand), "mcp", "openapi", "--server-url", api, "--output", str(spec)],
                       check=True)
        peer_port = free_port()
        peer_proc = self.start(
            [str(python), str(ROOT / "bench" / "fastmcp_peer.py"), "--openapi", str(spec),
             "--port", str(peer_port)],
            env=dict(os.environ, DESKHAND_SANDBOX_JSON=line.strip()), name="fastmcp-peer")
        wait_port(peer_port, peer_proc, "the FastMCP peer")
        peer_url = f"http://127.0.0.1:{peer_port}/mcp"

        versions = subprocess.run(
            [str(python), "-c", "import fastmcp, mcp, sys; from importlib.metadata import version as v;"
             " print(v('fastmcp'), v('mcp'), sys.version.split()[0])"],
            capture_output=True, text=True).stdout.split()
        servers = {"deskhand": (deskhand_proc.pid, deskhand_url), "fastmcp": (peer_proc.pid, peer_url)}
        args_json = json.dumps({"id": ticket_id})

        # Smoke call and warm-up for both servers before anything is measured.
        for name, (_, url) in servers.items():
            self.load_json("call", url, TOOL, args_json, 1, 50)

        memory = {}
        for name, (pid, url) in servers.items():
            log(f"idle memory: {name}, {a.idle_sessions} sessions")
            memory[name] = self.idle_memory(pid, url, a.idle_sessions)

        results = []
        for clients in CONCURRENCY:
            log(f"{clients} concurrent clients")
            row = {"clients": clients}
            row["direct"] = self.load_json("direct", f"{api}/tickets/{ticket_id}", clients, a.calls,
                                           *[f"{k}:{v}" for k, v in headers.items()])
            for name, (_, url) in servers.items():
                row[name] = self.load_json("call", url, TOOL, args_json, clients, a.calls)
            results.append(row)
        return {
            "tool": TOOL, "calls": a.calls, "results": results, "memory": memory,
            "fastmcp_version": versions[0] if versions else "?",
            "mcp_version": versions[1] if len(versions) > 1 else "?",
            "python_version": versions[2] if len(versions) > 2 else platform.python_version(),
            "server_rss_kib": {name: rss_kib(pid) for name, (pid, _) in servers.items()},
        }


def markdown(r: dict) -> str:
    out = []
    out.append(f"Tool `{r['tool']}`, {r['calls']} calls per row, one rmcp Streamable HTTP session per "
               f"concurrent client for both servers; FastMCP {r['fastmcp_version']} (mcp "
               f"{r['mcp_version']}, Python {r['python_version']}). Direct = plain HTTP GET of the same "
               "ticket from the sandbox (the floor).\n")
    out.append("| clients | path | p50 µs | p99 µs | calls/s |")
    out.append("|---:|---|---:|---:|---:|")
    labels = {"direct": "direct HTTP to the sandbox", "deskhand": "deskhand `mcp serve --http`",
              "fastmcp": "FastMCP.from_openapi peer"}
    for row in r["results"]:
        for key in ("direct", "deskhand", "fastmcp"):
            m = row[key]
            out.append(f"| {row['clients']} | {labels[key]} | {m['p50_us']:.0f} | {m['p99_us']:.0f} | "
                       f"{m['calls_per_s']:.0f} |")
    out.append("\nRatios (deskhand / peer; below 1 means deskhand is faster for latency, above 1 means "
               "it serves more calls per second):\n")
    out.append("| clients | p50 | p99 | calls/s | deskhand p50 over the floor | peer p50 over the floor |")
    out.append("|---:|---:|---:|---:|---:|---:|")
    for row in r["results"]:
        d, p, f = row["deskhand"], row["fastmcp"], row["direct"]
        out.append(f"| {row['clients']} | {d['p50_us'] / p['p50_us']:.2f} | {d['p99_us'] / p['p99_us']:.2f} | "
                   f"{d['calls_per_s'] / p['calls_per_s']:.2f} | +{d['p50_us'] - f['p50_us']:.0f} µs | "
                   f"+{p['p50_us'] - f['p50_us']:.0f} µs |")
    n = next(iter(r["memory"].values()))["sessions"]
    out.append(f"\nMemory (VmRSS of the server process, before and after opening {n} idle MCP sessions):\n")
    out.append("| server | RSS before (MiB) | RSS with sessions (MiB) | per idle session (KiB) | RSS after the load runs (MiB) |")
    out.append("|---|---:|---:|---:|---:|")
    for name, label in (("deskhand", labels["deskhand"]), ("fastmcp", labels["fastmcp"])):
        m = r["memory"][name]
        out.append(f"| {label} | {m['rss_before_kib'] / 1024:.1f} | {m['rss_after_kib'] / 1024:.1f} | "
                   f"{m['per_session_kib']:.1f} | {r['server_rss_kib'][name] / 1024:.1f} |")
    return "\n".join(out) + "\n"


def svg(r: dict) -> str:
    """Calls/s against concurrent clients, log-scaled x, hand-written SVG (no plotting library)."""
    import math
    w, h, left, right, top, bottom = 640, 360, 70, 170, 30, 50
    series = [("direct", "direct HTTP (floor)", "#888888"), ("deskhand", "deskhand", "#1f77b4"),
              ("fastmcp", "FastMCP peer", "#d62728")]
    ymax = max(row[k]["calls_per_s"] for row in r["results"] for k, _, _ in series) * 1.1
    xs = [row["clients"] for row in r["results"]]
    lx = [math.log2(x) for x in xs]

    def px(x):
        return left + (math.log2(x) - min(lx)) / ((max(lx) - min(lx)) or 1) * (w - left - right)

    def py(y):
        return h - bottom - y / ymax * (h - top - bottom)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
             f'<rect width="{w}" height="{h}" fill="white"/>',
             f'<text x="{left}" y="18" font-size="14">MCP tool calls per second vs concurrent clients</text>',
             f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" stroke="black"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}" stroke="black"/>']
    for i in range(6):
        y = ymax * i / 5
        parts.append(f'<text x="{left - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:.0f}</text>')
        parts.append(f'<line x1="{left}" y1="{py(y):.1f}" x2="{w - right}" y2="{py(y):.1f}" stroke="#eee"/>')
    for x in xs:
        parts.append(f'<text x="{px(x):.1f}" y="{h - bottom + 16}" text-anchor="middle">{x}</text>')
    parts.append(f'<text x="{(left + w - right) / 2}" y="{h - 12}" text-anchor="middle">concurrent clients, each calling {r["tool"]}</text>')
    for i, (key, label, colour) in enumerate(series):
        pts = " ".join(f"{px(row['clients']):.1f},{py(row[key]['calls_per_s']):.1f}" for row in r["results"])
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for row in r["results"]:
            parts.append(f'<circle cx="{px(row["clients"]):.1f}" cy="{py(row[key]["calls_per_s"]):.1f}" r="3" fill="{colour}"/>')
        ly = top + 20 + i * 18
        parts.append(f'<line x1="{w - right + 15}" y1="{ly}" x2="{w - right + 35}" y2="{ly}" stroke="{colour}" stroke-width="2"/>')
        parts.append(f'<text x="{w - right + 40}" y="{ly + 4}">{label}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=2000, help="calls per row")
    p.add_argument("--idle-sessions", type=int, default=200)
    p.add_argument("--venv", default=str(Path(tempfile.gettempdir()) / "deskhand-bench-venv"))
    p.add_argument("--no-build", action="store_true", help="use the release binaries already built")
    p.add_argument("--json-out", help="also write the raw figures here")
    p.add_argument("--svg", help="also write a throughput plot here")
    run = Run(p.parse_args())
    try:
        result = run.main()
    finally:
        run.stop_all()
    for target in (run.args.json_out, run.args.svg):
        if target:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
    if run.args.json_out:
        Path(run.args.json_out).write_text(json.dumps(result, indent=2) + "\n")
    if run.args.svg:
        Path(run.args.svg).write_text(svg(result))
    print(markdown(result), end="")


if __name__ == "__main__":
    main()
