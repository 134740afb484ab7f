#!/usr/bin/env python3
"""Turns the raw files of one bench/run.sh run into the Markdown table it prints.

Usage: report.py WORK_DIR MACHINE WRK_VERSION DURATION ROUNDS MCPCTL_INFO
For every (server, concurrency) each figure is the median over the rounds (the rounds alternate the
servers, so a disturbance of the machine hits them alike); the spread over all rounds and the worst
foreign CPU (CPU used by anything other than the server and wrk) are shown too.
"""

import datetime
import glob
import json
import os
import re
import sys

work, machine, wrk_version, duration, rounds, mcpctl_info = sys.argv[1:7]


def load_json(name):
    with open(os.path.join(work, name)) as f:
        return json.load(f)


def read(name, default="?"):
    try:
        with open(os.path.join(work, name)) as f:
            return f.read().strip()
    except OSError:
        return default


servers = ["ours", "bare"] + (["ours-nolog"] if glob.glob(os.path.join(work, "load-ours-nolog-*")) else [])
have_nolog = "ours-nolog" in servers
def merge_cold(name):
    parts = [load_json(os.path.basename(p)) for p in sorted(glob.glob(os.path.join(work, f"cold-{name}-r*.json")))
             if re.fullmatch(rf"cold-{re.escape(name)}-r\d+\.json", os.path.basename(p))]
    samples = sorted(x for p in parts for x in p["samples_ms"])
    n = len(samples)
    median = samples[n // 2] if n % 2 else (samples[n // 2 - 1] + samples[n // 2]) / 2
    p90 = samples[min(n - 1, max(0, -(-9 * n // 10) - 1))]
    return {"runs": n, "median_ms": median, "min_ms": samples[0], "p90_ms": p90, "max_ms": samples[-1],
            "max_vmhwm_kb": max(p["max_vmhwm_kb"] or 0 for p in parts)}


cold = {k: merge_cold(k) for k in ("ours", "ours-reqid", "ours-default", "bare")}

runs = {}  # (server, c) -> list of run dicts
for path in sorted(glob.glob(os.path.join(work, "load-*-c*-r*.json"))):
    base = os.path.basename(path)[len("load-"):-len(".json")]
    server, c, _round = base.rsplit("-", 2)
    runs.setdefault((server, int(c[1:])), []).append(load_json(os.path.basename(path)))


def median(values):
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


# Per (server, c): the median of every figure over the rounds, each figure on its own.
med = {k: {key: median(r[key] for r in v) for key in ("rps", "p50_us", "p99_us", "server_us_per_req")}
       for k, v in runs.items()}


def status_kv(server):
    out = {}
    for part in read(f"status-{server}.txt", "").split(";"):
        if ":" in part:
            k, v = part.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def kb(server, key):
    v = status_kv(server).get(key, "")
    return int(v.split()[0]) if v else None


mib = lambda k: "?" if k is None else f"{k / 1024:.1f}"
ms = lambda us: f"{us / 1000:.3f}"
verdict = lambda ok: "PASS" if ok else "**MISS**"

rows = []


def row(metric, values, target="", ok=None):
    """values: one cell per server in `servers` order (missing ones are left blank)."""
    values = list(values) + [""] * (len(servers) - len(values))
    cells = [metric] + values[: len(servers)] + [target, "" if ok is None else verdict(ok)]
    rows.append("| " + " | ".join(cells) + " |")


def per_server(c, fmt):
    return [fmt(med[(s, c)]) if (s, c) in med else "" for s in servers]


c_ours, c_bare = cold["ours"], cold["bare"]
row(f"Cold start: spawn → first answered `tools/list` (ms), median of {c_ours['runs']}",
    [f"{c_ours['median_ms']:.2f}", f"{c_bare['median_ms']:.2f}"], "≤ 10", c_ours["median_ms"] <= 10)
row("Cold start min / p90 (ms)",
    [f"{c_ours['min_ms']:.2f} / {c_ours['p90_ms']:.2f}", f"{c_bare['min_ms']:.2f} / {c_bare['p90_ms']:.2f}"])
row("Cold start when the client sends `x-request-id` (diagnostic), median (ms)",
    [f"{cold['ours-reqid']['median_ms']:.2f}", "–"])
row("Cold start with default flags (conformance pack on), median (ms)",
    [f"{cold['ours-default']['median_ms']:.2f}", "–"])
row("RSS right after the first answer, VmHWM (MiB)", [mib(c_ours["max_vmhwm_kb"]), mib(c_bare["max_vmhwm_kb"])])

for c in (1, 32):
    row(f"`tools/call echo`, c={c}: throughput (req/s)", per_server(c, lambda r: f"{r['rps']:,.0f}"))
    row(f"c={c}: p50 latency (ms)", per_server(c, lambda r: ms(r["p50_us"])))
    row(f"c={c}: p99 latency (ms)", per_server(c, lambda r: ms(r["p99_us"])))
    row(f"c={c}: server CPU per request (µs)", per_server(c, lambda r: f"{r['server_us_per_req']:.0f}"))
p99_ratios = [med[(s, 1)]["p99_us"] / med[("bare", 1)]["p99_us"] for s in servers]
row("p99 latency ÷ bare p99, c=1", [f"{x:.2f}" for x in p99_ratios], "≤ 1.5", p99_ratios[0] <= 1.5)
for c in (1, 32):
    ratios = [med[(s, c)]["rps"] / med[("bare", c)]["rps"] for s in servers]
    if c == 32:
        row(f"Throughput ÷ bare, c={c}", [f"{x:.2f}" for x in ratios], "≥ 0.9", ratios[0] >= 0.9)
    else:
        row(f"Throughput ÷ bare, c={c}", [f"{x:.2f}" for x in ratios])
hwm = kb("ours", "VmHWM")
row("Peak RSS over the whole load phase, VmHWM (MiB)", [mib(kb(s, "VmHWM")) for s in servers],
    "≤ 12", hwm is not None and hwm / 1024 <= 12)
row("… of which file-backed (binary pages) / anonymous (MiB)",
    [f"{mib(kb(s, 'RssFile'))} / {mib(kb(s, 'RssAnon'))}" for s in servers])
row("Foreign CPU during the runs, worst round (% of 2 cores)",
    [f"{max(r['foreign_cpu_pct'] for c in (1, 32) for r in runs[(s, c)]):.1f}" for s in servers])
row("Throughput spread over all rounds, c=1; c=32 (req/s)",
    ["; ".join(f"{min(r['rps'] for r in runs[(s, c)]):,.0f}–{max(r['rps'] for r in runs[(s, c)]):,.0f}"
               for c in (1, 32)) for s in servers])

errors = sum(r["non_2xx"] + r["socket_errors"] for v in runs.values() for r in v)
header = ["Metric", "mcpctl dev (logging on)", "bare rmcp"] + (["mcpctl dev, RUST_LOG=off (diagnostic)"] if have_nolog else []) + ["Target", "Status"]
print(f"Machine: {machine}; wrk {wrk_version}; {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
print(f"mcpctl: {mcpctl_info}")
print(f"Load: {rounds} rounds × {duration} s per (server, c) after warm-up, medians over the rounds; "
      f"server on core 0, `wrk -t1` on core 1; "
      f"HTTP/socket errors: {errors}")
print(f"Access-log lines written by mcpctl dev during the load phase: {int(read('loglines-ours.txt', '0')):,}")
print()
print("| " + " | ".join(header) + " |")
print("|" + "|".join("---" for _ in header) + "|")
print("\n".join(rows))
