#!/usr/bin/env bash
# bench/run.sh — loopback benchmark of `mcpctl dev` (release build, per-request JSON logging on)
# against a bare rmcp server with the same tools and the same ES256 bearer check.
#
# Measures: cold start (spawn -> first answered authenticated tools/list, median of N spawns),
# warm tools/call `echo` throughput and p50/p99 latency at concurrency 1 and 32 (server pinned to
# core 0, wrk to core 1), and the server's peak RSS (VmHWM). Prints a Markdown table.
#
# Usage: bench/run.sh            (from anywhere; builds what it needs)
# Knobs (environment): BENCH_DURATION=10 (s per measured load run), BENCH_WARMUP=3 (s),
#   BENCH_COLD_RUNS=21, BENCH_PORT=18787 (uses PORT and PORT+1), BENCH_SKIP_BUILD=1,
#   BENCH_LOGGING_OFF_ROW=1 (adds a diagnostic column: mcpctl dev with RUST_LOG=off),
#   CARGO_TARGET_DIR (default: <repo>/target, shared with the main workspace).
# Needs: cargo, wrk (Debian: apt-get install -y wrk; installed automatically when run as root),
#   taskset, python3, curl. Only talks to 127.0.0.1. Every server it starts is stopped by PID.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
DURATION="${BENCH_DURATION:-10}"
WARMUP="${BENCH_WARMUP:-3}"
COLD_RUNS="${BENCH_COLD_RUNS:-21}"
PORT_OURS="${BENCH_PORT:-18787}"
PORT_BARE=$((PORT_OURS + 1))
SERVER_CORE=0
CLIENT_CORE=1

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

[ "$(nproc --all)" -ge 2 ] || die "needs at least 2 cores (server on core $SERVER_CORE, load on core $CLIENT_CORE)"
command -v taskset >/dev/null || die "taskset (util-linux) is required"
command -v python3 >/dev/null || die "python3 is required"
command -v curl >/dev/null || die "curl is required"
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing wrk from Debian"
    apt-get install -y wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y wrk >/dev/null; }
  else
    die "wrk is required (Debian: apt-get install -y wrk)"
  fi
fi

# --- build --------------------------------------------------------------------------------------
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  log "building mcpctl (release, fat LTO: the shipped profile)"
  (cd "$ROOT" && cargo build --release -p mcpctl)
  log "building bench tools and the bare-rmcp baseline (release, same profile)"
  # Same dependency versions as the product: start from the root lockfile (bench/Cargo.lock is
  # generated, not tracked), so shared crates resolve identically and their artifacts are reused.
  cp "$ROOT/Cargo.lock" "$BENCH/Cargo.lock"
  (cd "$BENCH" && cargo build --release)
fi
REL="$CARGO_TARGET_DIR/release"
MCPCTL="$REL/mcpctl"; BARE="$REL/bare-rmcp"; MINT="$REL/mint"; COLD="$REL/coldstart"
for b in "$MCPCTL" "$BARE" "$MINT" "$COLD"; do [ -x "$b" ] || die "missing $b (run without BENCH_SKIP_BUILD)"; done

# A busy machine (a compile on the other core) ruins every figure below: measure the CPU use of
# everything else for 2 s and warn loudly (the figure goes into the report).
BUSY_PCT=$(python3 - <<'PY'
import time
def snap():
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(f), f[3] + f[4]
t0, i0 = snap(); time.sleep(2); t1, i1 = snap()
print(f"{100 * (1 - (i1 - i0) / max(1, t1 - t0)):.0f}")
PY
)
if [ "$BUSY_PCT" -gt 10 ]; then
  log "WARNING: the machine is ${BUSY_PCT}% busy before the run; other work skews the results"
fi

# --- setup --------------------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/mcp-bench.XXXXXX)
STATE="$WORK/state"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT INT TERM

for p in "$PORT_OURS" "$PORT_BARE"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then die "port $p is in use (set BENCH_PORT)"; fi
done

log "minting keys and tokens in $STATE"
"$MINT" "$STATE" "$PORT_OURS" "$PORT_BARE"
TOKEN_OURS=$(cat "$STATE/token-$PORT_OURS.txt")
TOKEN_BARE=$(cat "$STATE/token-$PORT_BARE.txt")

ours_cmd() { echo "$MCPCTL" dev --port "$PORT_OURS" --state-dir "$STATE" --no-conformance-pack --output json; }
ours_default_cmd() { echo "$MCPCTL" dev --port "$PORT_OURS" --state-dir "$STATE" --output json; }
bare_cmd() { echo "$BARE" "$PORT_BARE" "$STATE/jwks.json"; }

# --- 1. cold start ------------------------------------------------------------------------------
cold() { # name port token-file cmd...
  local name=$1 port=$2 tokfile=$3; shift 3
  log "cold start: $name ($COLD_RUNS spawns)"
  "$COLD" --runs "$COLD_RUNS" --port "$port" --token-file "$tokfile" \
    --server-core "$SERVER_CORE" --client-core "$CLIENT_CORE" --stderr "$WORK/$name-cold.log" \
    -- "$@" >"$WORK/cold-$name.json"
}
# shellcheck disable=SC2046
cold ours "$PORT_OURS" "$STATE/token-$PORT_OURS.txt" $(ours_cmd)
# shellcheck disable=SC2046
cold ours-default "$PORT_OURS" "$STATE/token-$PORT_OURS.txt" $(ours_default_cmd)
# shellcheck disable=SC2046
cold bare "$PORT_BARE" "$STATE/token-$PORT_BARE.txt" $(bare_cmd)

# --- 2 + 3. warm load and peak RSS ---------------------------------------------------------------
mcp_post() { # port token body
  curl -sS --max-time 5 "http://127.0.0.1:$1/mcp" \
    -H "Authorization: Bearer $2" -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' -H 'MCP-Protocol-Version: 2025-11-25' -d "$3"
}

wrk_run() { # port token conns seconds -> JSON line
  BENCH_TOKEN=$2 taskset -c "$CLIENT_CORE" wrk -t1 -c"$3" -d"$4s" --timeout 5s \
    -s "$BENCH/wrk/tools_call_echo.lua" "http://127.0.0.1:$1/mcp" | grep '^{' | tail -1
}

load() { # name port token stderr-file cmd...
  local name=$1 port=$2 token=$3 errfile=$4; shift 4
  log "load: $name"
  taskset -c "$SERVER_CORE" "$@" >"$WORK/$name.out" 2>"$errfile" &
  SERVER_PID=$!
  local i
  for i in $(seq 1 500); do
    if mcp_post "$port" "$token" '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' 2>/dev/null | grep -q '"echo"'; then break; fi
    kill -0 "$SERVER_PID" 2>/dev/null || die "$name exited; see $errfile"
    sleep 0.01
  done
  local answer
  answer=$(mcp_post "$port" "$token" '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello, bench"}}}')
  echo "$answer" | grep -q '"text":"hello, bench"' || die "$name: unexpected tools/call answer: $answer"
  local c
  for c in 1 32; do
    wrk_run "$port" "$token" "$c" "$WARMUP" >/dev/null
    wrk_run "$port" "$token" "$c" "$DURATION" >"$WORK/load-$name-c$c.json"
    log "  c=$c: $(cat "$WORK/load-$name-c$c.json")"
  done
  awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status" >"$WORK/hwm-$name.txt"
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
}

# shellcheck disable=SC2046
load ours "$PORT_OURS" "$TOKEN_OURS" "$WORK/ours-requests.log" $(ours_cmd)
wc -l <"$WORK/ours-requests.log" >"$WORK/loglines-ours.txt"
# shellcheck disable=SC2046
load bare "$PORT_BARE" "$TOKEN_BARE" "$WORK/bare.err" $(bare_cmd)
if [ "${BENCH_LOGGING_OFF_ROW:-0}" = 1 ]; then
  # shellcheck disable=SC2046
  RUST_LOG=off load ours-nolog "$PORT_OURS" "$TOKEN_OURS" "$WORK/ours-nolog.err" $(ours_cmd)
fi

# --- report -------------------------------------------------------------------------------------
MACHINE="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc --all) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r)"
WRK_VERSION=$(wrk --version 2>&1 | head -1 | awk '{print $2}')
python3 - "$WORK" "$MACHINE" "$WRK_VERSION" "$DURATION" "$COLD_RUNS" "$BUSY_PCT" <<'PY' | tee "$WORK/table.md"
import json, os, sys, datetime
work, machine, wrk_version, duration, cold_runs, busy = sys.argv[1:7]
def j(name):
    with open(os.path.join(work, name)) as f:
        return json.load(f)
def n(name):
    with open(os.path.join(work, name)) as f:
        return int(f.read().strip())
have_nolog = os.path.exists(os.path.join(work, "load-ours-nolog-c1.json"))
cold = {k: j(f"cold-{k}.json") for k in ("ours", "ours-default", "bare")}
load = {k: {c: j(f"load-{k}-c{c}.json") for c in (1, 32)} for k in (["ours", "bare"] + (["ours-nolog"] if have_nolog else []))}
hwm = {k: n(f"hwm-{k}.txt") for k in load}
ms = lambda us: f"{us / 1000:.3f}"
def status(ok):
    return "PASS" if ok else "**MISS**"
rows = []
def row(metric, ours, bare, nolog="", target="", ok=None):
    cells = [metric, ours, bare] + ([nolog] if have_nolog else []) + [target, "" if ok is None else status(ok)]
    rows.append("| " + " | ".join(cells) + " |")
c = cold["ours"]
row(f"Cold start → first `tools/list` (ms), median of {c['runs']}", f"{c['median_ms']:.2f}", f"{cold['bare']['median_ms']:.2f}", "", "≤ 10", c["median_ms"] <= 10)
row("Cold start min / p90 (ms)", f"{c['min_ms']:.2f} / {c['p90_ms']:.2f}", f"{cold['bare']['min_ms']:.2f} / {cold['bare']['p90_ms']:.2f}")
d = cold["ours-default"]
row("Cold start, default flags (conformance pack on), median (ms)", f"{d['median_ms']:.2f}", "–")
for conc in (1, 32):
    o, b = load["ours"][conc], load["bare"][conc]
    nl = load.get("ours-nolog", {}).get(conc)
    row(f"`tools/call echo` c={conc}: throughput (req/s)", f"{o['rps']:,.0f}", f"{b['rps']:,.0f}", f"{nl['rps']:,.0f}" if nl else "")
    row(f"c={conc}: p50 latency (ms)", ms(o["p50_us"]), ms(b["p50_us"]), ms(nl["p50_us"]) if nl else "")
    if conc == 1:
        row(f"c={conc}: p99 latency (ms)", ms(o["p99_us"]), ms(b["p99_us"]), ms(nl["p99_us"]) if nl else "", "≤ 0.25", o["p99_us"] <= 250)
    else:
        row(f"c={conc}: p99 latency (ms)", ms(o["p99_us"]), ms(b["p99_us"]), ms(nl["p99_us"]) if nl else "")
for conc in (1, 32):
    ratio = load["ours"][conc]["rps"] / load["bare"][conc]["rps"]
    nlr = f"{load['ours-nolog'][conc]['rps'] / load['bare'][conc]['rps']:.2f}" if have_nolog else ""
    row(f"Throughput ÷ bare, c={conc}", f"{ratio:.2f}", "1.00", nlr, "≥ 0.8", ratio >= 0.8)
row("Peak RSS over the load run, VmHWM (MiB)", f"{hwm['ours'] / 1024:.1f}", f"{hwm['bare'] / 1024:.1f}", f"{hwm['ours-nolog'] / 1024:.1f}" if have_nolog else "", "≤ 15", hwm["ours"] / 1024 <= 15)
errors = sum(v[c]["non_2xx"] + v[c]["socket_errors"] for v in load.values() for c in (1, 32))
header = ["Metric", "mcpctl dev (logging on)", "bare rmcp"] + (["mcpctl dev, RUST_LOG=off"] if have_nolog else []) + ["Target", "Status"]
print(f"Machine: {machine}; wrk {wrk_version}; {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
print(f"CPU busy before the run (other work): {busy}%")
print(f"Load: {duration} s per run after warm-up, server on core 0, wrk -t1 on core 1; errors (non-2xx + socket): {errors}")
print(f"Access-log lines written by mcpctl dev during its load run: {n('loglines-ours.txt'):,}")
print()
print("| " + " | ".join(header) + " |")
print("|" + "|".join("---" for _ in header) + "|")
print("\n".join(rows))
PY
cp "$WORK/table.md" "$BENCH/last-run.md"
log "raw results in $WORK; table also in bench/last-run.md"
