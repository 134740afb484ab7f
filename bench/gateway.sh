#!/usr/bin/env bash
# bench/gateway.sh — what gateway mode costs: `tools/call echo` against the bare-rmcp baseline
# directly, and through `mcpctl dev --upstream` in front of the same baseline, in one run on one
# machine. Reports throughput and p50/p99 at c=1 and c=32 (the median of BENCH_ROUNDS rounds that
# alternate the two paths), the added latency and the throughput ratio.
#
# Direct:  wrk -> bare-rmcp (checks the client's token, verified-token cache on)
# Gateway: wrk -> mcpctl dev (checks the client's token, cached; signs a 60 s identity assertion)
#              -> bare-rmcp (checks the assertion: a new one per request, so no cache hit)
# Both servers of the gateway path share core 0 with each other, as the direct server alone
# has it; wrk runs on core 1.
#
# Usage: bench/gateway.sh (builds what it needs; BENCH_SKIP_BUILD=1 reuses the binaries)
# Knobs: BENCH_DURATION=10 BENCH_WARMUP=2 BENCH_ROUNDS=3 BENCH_PORT=18887 (uses PORT..PORT+2)
#        BENCH_WAIT_QUIET=60 CARGO_TARGET_DIR (default <repo>/target)
# Needs: what bench/run.sh needs (cargo, wrk, taskset, python3, curl). Only talks to 127.0.0.1;
# every server it starts is stopped by its PID.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
DURATION="${BENCH_DURATION:-10}"
WARMUP="${BENCH_WARMUP:-2}"
ROUNDS="${BENCH_ROUNDS:-3}"
WAIT_QUIET="${BENCH_WAIT_QUIET:-60}"
PORT_GW="${BENCH_PORT:-18887}"
PORT_DIRECT=$((PORT_GW + 1))
PORT_UP=$((PORT_GW + 2))

log() { printf '[bench-gateway] %s\n' "$*" >&2; }
die() { printf '[bench-gateway] error: %s\n' "$*" >&2; exit 1; }
command -v wrk >/dev/null || die "wrk is required (Debian: apt-get install -y wrk)"
command -v taskset >/dev/null || die "taskset (util-linux) is required"

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  log "building mcpctl and the bench tools (release)"
  (cd "$ROOT" && cargo build --release -p mcpctl)
  (cd "$ROOT" && cargo build --release --locked -p bare-rmcp -p mcp-bench-tools)
fi
REL="$CARGO_TARGET_DIR/release"
MCPCTL="$REL/mcpctl"; BARE="$REL/bare-rmcp"; MINT="$REL/mint"
for b in "$MCPCTL" "$BARE" "$MINT"; do [ -x "$b" ] || die "missing $b (run without BENCH_SKIP_BUILD)"; done

WORK=$(mktemp -d /tmp/mcp-bench-gw.XXXXXX)
STATE="$WORK/state"
declare -A PIDS=()
cleanup() {
  local name
  for name in "${!PIDS[@]}"; do
    kill "${PIDS[$name]}" 2>/dev/null || true
    wait "${PIDS[$name]}" 2>/dev/null || true
  done
}
trap cleanup EXIT INT TERM
for p in "$PORT_GW" "$PORT_DIRECT" "$PORT_UP"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then die "port $p is in use (set BENCH_PORT)"; fi
done

# One key: mcpctl dev signs tokens and assertions with it, the baselines verify with its JWKS.
"$MINT" "$STATE" "$PORT_GW" "$PORT_DIRECT"

mcp_post() { # port body
  curl -sS --max-time 5 "http://127.0.0.1:$1/mcp" \
    -H "Authorization: Bearer $(cat "$STATE/token-$1.txt")" -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' -H 'MCP-Protocol-Version: 2025-11-25' -d "$2"
}
start() { # name port-to-probe cmd...
  local name=$1 port=$2; shift 2
  taskset -c 0 "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PIDS[$name]=$!
}
ready() { # name port
  local i
  for i in $(seq 1 500); do
    if mcp_post "$2" '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello, bench"}}}' 2>/dev/null | grep -q '"text":"hello, bench"'; then return 0; fi
    kill -0 "${PIDS[$1]}" 2>/dev/null || die "$1 exited; see $WORK/$1.err"
    sleep 0.02
  done
  die "$1 did not answer tools/call echo; see $WORK/$1.err"
}

start direct "$PORT_DIRECT" env BARE_TOKEN_CACHE=1 "$BARE" "$PORT_DIRECT" "$STATE/jwks.json"
start upstream "$PORT_UP" env BARE_TOKEN_CACHE=1 BARE_ISSUER="http://127.0.0.1:$PORT_GW" \
  BARE_AUDIENCE="http://127.0.0.1:$PORT_UP/mcp" "$BARE" "$PORT_UP" "$STATE/jwks.json"
start gateway "$PORT_GW" "$MCPCTL" dev --port "$PORT_GW" --state-dir "$STATE" --output json \
  --upstream "http://127.0.0.1:$PORT_UP/mcp"
ready direct "$PORT_DIRECT"
ready gateway "$PORT_GW"

for round in $(seq 1 "$ROUNDS"); do
  for c in 1 32; do
    for path in direct gateway; do
      port=$PORT_DIRECT; [ "$path" = gateway ] && port=$PORT_GW
      python3 "$BENCH/loadrun.py" --server-pid "${PIDS[$path]}" --port "$port" \
        --token "$(cat "$STATE/token-$port.txt")" --conns "$c" --duration "$DURATION" \
        --warmup "$WARMUP" --client-core 1 --lua "$BENCH/wrk/tools_call_echo.lua" \
        --wait-quiet "$WAIT_QUIET" >"$WORK/$path-c$c-r$round.json"
      log "round $round, $path, c=$c: $(cat "$WORK/$path-c$c-r$round.json")"
    done
  done
done

python3 - "$WORK" "$ROUNDS" <<'PY' | tee "$BENCH/last-gateway-run.md"
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
def runs(path, c):
    return [json.load(open(f"{work}/{path}-c{c}-r{r}.json")) for r in range(1, rounds + 1)]
def med(rs, key):
    return statistics.median(r[key] for r in rs)
print(f"| c | direct req/s | gateway req/s | ratio | direct p50 / p99 (µs) | gateway p50 / p99 (µs) | added p50 / p99 (µs) |")
print("|---|---|---|---|---|---|---|")
for c in (1, 32):
    d, g = runs("direct", c), runs("gateway", c)
    if any(r["non_2xx"] or r["socket_errors"] for r in d + g):
        sys.exit(f"c={c}: a run had errors; see {work}")
    drps, grps = med(d, "rps"), med(g, "rps")
    d50, d99, g50, g99 = med(d, "p50_us"), med(d, "p99_us"), med(g, "p50_us"), med(g, "p99_us")
    print(f"| {c} | {drps:,.0f} | {grps:,.0f} | {grps / drps:.2f} | {d50:.0f} / {d99:.0f} | {g50:.0f} / {g99:.0f} | {g50 - d50:+.0f} / {g99 - d99:+.0f} |")
print(f"\nMedians of {rounds} rounds; release builds; servers on core 0, wrk on core 1.")
PY
log "raw results in $WORK; table also in bench/last-gateway-run.md"
