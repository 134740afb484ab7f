#!/usr/bin/env bash
# bench/run.sh — loopback benchmark of `mcpctl dev` (release build, per-request JSON logging on)
# against a bare rmcp server with the same tools and the same ES256 bearer check.
#
# Measures:
#   1. cold start: spawn of the server -> first answered, authenticated `tools/list` (median of N);
#   2. warm `tools/call` `echo` (MCP-Protocol-Version 2025-11-25, JSON response, valid JWT on every
#      request): throughput and p50/p99 latency at concurrency 1 and 32;
#   3. peak RSS of the server (VmHWM) over the whole load phase;
#   4. the same for the bare-rmcp baseline, and our throughput / bare throughput.
# Servers run pinned to core 0, the load generator (wrk) and the cold-start client to core 1.
# The load phase runs BENCH_ROUNDS rounds that alternate the servers; for every (server, c) each
# figure is the median over the rounds (the worst CPU used by other processes is shown).
# Prints a Markdown table (also saved to bench/last-run.md).
#
# Usage: bench/run.sh            (from anywhere; builds what it needs)
# Knobs (environment):
#   BENCH_DURATION=10  seconds per measured load run     BENCH_WARMUP=3  seconds of warm-up before each
#   BENCH_ROUNDS=5     load rounds                        BENCH_COLD_RUNS=21  spawns per cold-start configuration
#   BENCH_PORT=18787   uses PORT, PORT+1, PORT+2          BENCH_SKIP_BUILD=1  use the binaries already built
#   BENCH_LOGGING_OFF_ROW=0  drop the diagnostic column "mcpctl dev with RUST_LOG=off"
#   BENCH_WAIT_QUIET=120     max seconds to wait before each measurement for the machine to be idle
#   CARGO_TARGET_DIR   default: <repo>/target, shared with the main workspace
# Needs: cargo, wrk (Debian: apt-get install -y wrk; installed automatically when run as root),
#   taskset, python3, curl. Only talks to 127.0.0.1. Every server it starts is stopped by its PID.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
DURATION="${BENCH_DURATION:-10}"
WARMUP="${BENCH_WARMUP:-3}"
ROUNDS="${BENCH_ROUNDS:-5}"
COLD_RUNS="${BENCH_COLD_RUNS:-21}"
WAIT_QUIET="${BENCH_WAIT_QUIET:-120}"
NOLOG="${BENCH_LOGGING_OFF_ROW:-1}"
PORT_OURS="${BENCH_PORT:-18787}"
PORT_BARE=$((PORT_OURS + 1))
PORT_NOLOG=$((PORT_OURS + 2))
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
  log "building mcpctl (release: the local profile, thin LTO)"
  (cd "$ROOT" && cargo build --release -p mcpctl)
  log "building bench tools and the bare-rmcp baseline (release, same profile)"
  # Members of the root workspace (outside its default members): the same lockfile and profile.
  (cd "$ROOT" && cargo build --release --locked -p bare-rmcp -p mcp-bench-tools)
fi
REL="$CARGO_TARGET_DIR/release"
MCPCTL="$REL/mcpctl"; BARE="$REL/bare-rmcp"; MINT="$REL/mint"; COLD="$REL/coldstart"
for b in "$MCPCTL" "$BARE" "$MINT" "$COLD"; do [ -x "$b" ] || die "missing $b (run without BENCH_SKIP_BUILD)"; done

# --- setup --------------------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/mcp-bench.XXXXXX)
STATE="$WORK/state"
declare -A PIDS=()
cleanup() {
  local name
  for name in "${!PIDS[@]}"; do
    if kill -0 "${PIDS[$name]}" 2>/dev/null; then
      kill "${PIDS[$name]}" 2>/dev/null || true
      wait "${PIDS[$name]}" 2>/dev/null || true
    fi
  done
}
trap cleanup EXIT INT TERM

for p in "$PORT_OURS" "$PORT_BARE" "$PORT_NOLOG"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then die "port $p is in use (set BENCH_PORT)"; fi
done

log "minting keys and tokens in $STATE"
"$MINT" "$STATE" "$PORT_OURS" "$PORT_BARE" "$PORT_NOLOG"

# The servers. mcpctl dev outside a server crate serves examples/hello in-process, so
# both servers offer the same 3 tools.
ours_cmd() { echo "$MCPCTL" dev --port "$1" --state-dir "$STATE" --output json; }
ours_default_cmd() { echo "$MCPCTL" dev --port "$1" --state-dir "$STATE" --output json; }
# The baseline does the same bearer check as the handler, including its verified-token cache
# (handler/src/oauth/verified_tokens.rs): ES256 once per token, exp/nbf on every request.
bare_cmd() { echo env BARE_TOKEN_CACHE=1 "$BARE" "$1" "$STATE/jwks.json"; }

wait_quiet() { # what
  local r
  if ! r=$(python3 "$BENCH/loadrun.py" --wait-only --wait-quiet "$WAIT_QUIET"); then
    log "WARNING: the machine is still busy before $1 ($r); other work skews the figures"
  fi
}

# --- 1. cold start ------------------------------------------------------------------------------
# COLD_RUNS spawns per configuration, in 3 rounds that alternate the configurations, so that any
# interference from other work on the machine is spread evenly over them.
cold() { # name round port extra-header('' for none) cmd...
  local name=$1 round=$2 port=$3 header=$4; shift 4
  wait_quiet "cold start $name"
  local extra=()
  [ -n "$header" ] && extra=(--header "$header")
  "$COLD" --runs "$COLD_PER_ROUND" --port "$port" --token-file "$STATE/token-$port.txt" "${extra[@]}" \
    --server-core "$SERVER_CORE" --client-core "$CLIENT_CORE" --stderr "$WORK/$name-cold.log" \
    -- "$@" >"$WORK/cold-$name-r$round.json" 2>>"$WORK/cold-$name.runs"
}
COLD_PER_ROUND=$(( (COLD_RUNS + 2) / 3 ))
for round in 1 2 3; do
  log "cold start, round $round of 3 ($COLD_PER_ROUND spawns per configuration)"
  # shellcheck disable=SC2046
  cold ours "$round" "$PORT_OURS" '' $(ours_cmd "$PORT_OURS")
  # shellcheck disable=SC2046
  cold bare "$round" "$PORT_BARE" '' $(bare_cmd "$PORT_BARE")
  # Diagnostic: a client-supplied x-request-id skips the access log's own request-id generation
  # (which once was the first use of aws-lc's RNG: ~30 ms of CPU-jitter entropy start-up).
  # shellcheck disable=SC2046
  cold ours-reqid "$round" "$PORT_OURS" 'x-request-id: coldstart' $(ours_cmd "$PORT_OURS")
  # shellcheck disable=SC2046
  cold ours-default "$round" "$PORT_OURS" '' $(ours_default_cmd "$PORT_OURS")
done

# --- 2 + 3. warm load and peak RSS ---------------------------------------------------------------
mcp_post() { # port body
  curl -sS --max-time 5 "http://127.0.0.1:$1/mcp" \
    -H "Authorization: Bearer $(cat "$STATE/token-$1.txt")" -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' -H 'MCP-Protocol-Version: 2025-11-25' -d "$2"
}

start_server() { # name port stderr-file cmd...
  local name=$1 port=$2 errfile=$3; shift 3
  taskset -c "$SERVER_CORE" "$@" >"$WORK/$name.out" 2>"$errfile" &
  PIDS[$name]=$!
  local i
  for i in $(seq 1 500); do
    if mcp_post "$port" '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' 2>/dev/null | grep -q '"echo"'; then break; fi
    kill -0 "${PIDS[$name]}" 2>/dev/null || die "$name exited; see $errfile"
    sleep 0.01
  done
  local answer
  answer=$(mcp_post "$port" '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello, bench"}}}')
  echo "$answer" | grep -q '"text":"hello, bench"' || die "$name: unexpected tools/call answer: $answer"
}

SERVERS=(ours bare)
declare -A PORT_OF=([ours]=$PORT_OURS [bare]=$PORT_BARE [ours-nolog]=$PORT_NOLOG)
# shellcheck disable=SC2046
start_server ours "$PORT_OURS" "$WORK/ours-requests.log" $(ours_cmd "$PORT_OURS")
# shellcheck disable=SC2046
start_server bare "$PORT_BARE" "$WORK/bare.err" $(bare_cmd "$PORT_BARE")
if [ "$NOLOG" = 1 ]; then
  SERVERS+=(ours-nolog)
  # shellcheck disable=SC2046
  RUST_LOG=off start_server ours-nolog "$PORT_NOLOG" "$WORK/ours-nolog.err" $(ours_cmd "$PORT_NOLOG")
fi

for round in $(seq 1 "$ROUNDS"); do
  for c in 1 32; do
    for name in "${SERVERS[@]}"; do
      port=${PORT_OF[$name]}
      python3 "$BENCH/loadrun.py" --server-pid "${PIDS[$name]}" --port "$port" \
        --token "$(cat "$STATE/token-$port.txt")" --conns "$c" --duration "$DURATION" \
        --warmup "$WARMUP" --client-core "$CLIENT_CORE" --lua "$BENCH/wrk/tools_call_echo.lua" \
        --wait-quiet "$WAIT_QUIET" >"$WORK/load-$name-c$c-r$round.json"
      log "round $round, $name, c=$c: $(cat "$WORK/load-$name-c$c-r$round.json")"
    done
  done
done

for name in "${SERVERS[@]}"; do
  grep -E '^(VmHWM|VmRSS|RssAnon|RssFile|Threads):' "/proc/${PIDS[$name]}/status" \
    | tr -s ' \t' ' ' | paste -sd';' >"$WORK/status-$name.txt"
  kill "${PIDS[$name]}"; wait "${PIDS[$name]}" 2>/dev/null || true
  unset "PIDS[$name]"
done
wc -l <"$WORK/ours-requests.log" >"$WORK/loglines-ours.txt"

# --- report -------------------------------------------------------------------------------------
MACHINE="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc --all) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r)"
WRK_VERSION=$( (wrk --version 2>&1 || true) | head -1 | awk '{print $2}')
MCPCTL_INFO="$(stat -c %s "$MCPCTL" | awk '{printf "%.1f MiB", $1/1048576}'), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- handler deployer 2>/dev/null || echo ' + uncommitted changes in handler/ or deployer/')"
python3 "$BENCH/report.py" "$WORK" "$MACHINE" "$WRK_VERSION" "$DURATION" "$ROUNDS" "$MCPCTL_INFO" | tee "$WORK/table.md"
cp "$WORK/table.md" "$BENCH/last-run.md"
log "raw results in $WORK; table also in bench/last-run.md"
