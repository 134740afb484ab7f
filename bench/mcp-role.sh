#!/usr/bin/env bash
# bench/mcp-role.sh — memory and per-invocation time of the deployed MCP function: the real
# `bootstrap` of examples/hello, built with the Lambda zip's profile (`lambda`: fat LTO, opt-level
# "z", one codegen unit), run as the MCP role (`MCP_HANDLER=mcp`, verify-only) under a Runtime API
# that feeds it `tools/call echo` one invocation at a time, as Lambda does (bench/tools
# `lambda-load`). Per-request JSON logs on (`RUST_LOG=info`), written to a file.
#
# Reports, as medians over BENCH_ROUNDS fresh containers: peak RSS after the load (VmHWM, with its
# file-backed and anonymous parts), the cold start to the first answer, and the warm p50/p99.
# Built for this machine's architecture (the zip is arm64; the code and the profile are the same).
#
# Usage: bench/mcp-role.sh       (about 1 min after the build; the first build takes ~8 min)
# Knobs: BENCH_ROUNDS=5  BENCH_INVOCATIONS=20000  BENCH_SKIP_BUILD=1
#        CARGO_TARGET_DIR (default: <repo>/target, shared with the main workspace)
# Needs: cargo, taskset, python3. Only talks to 127.0.0.1; lambda-load stops the process it started.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
ROUNDS="${BENCH_ROUNDS:-5}"
INVOCATIONS="${BENCH_INVOCATIONS:-20000}"
log() { printf '[mcp-role] %s\n' "$*" >&2; }
die() { printf '[mcp-role] error: %s\n' "$*" >&2; exit 1; }
command -v taskset >/dev/null || die "taskset (util-linux) is required"
command -v python3 >/dev/null || die "python3 is required"
[ "$(nproc --all)" -ge 2 ] || die "needs 2 cores (the function on core 0, the Runtime API on core 1)"

# With an explicit --target, so the binary lands in <target>/<triple>/lambda/, apart from what
# `mcpctl build` keeps in <target>/lambda/<arch>/.
HOST=$(rustc -vV | sed -n 's/^host: //p')
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  log "building bootstrap (profile lambda, --features mcpctl-handler/aws, $HOST) and lambda-load"
  (cd "$ROOT" && cargo build --locked --profile lambda --target "$HOST" -p example-hello --features mcpctl-handler/aws --bin bootstrap)
  (cd "$ROOT" && cargo build --locked --release -p mcp-bench-tools --bin lambda-load)
fi
BOOTSTRAP="$CARGO_TARGET_DIR/$HOST/lambda/bootstrap"
LOAD="$CARGO_TARGET_DIR/release/lambda-load"
[ -x "$BOOTSTRAP" ] || die "$BOOTSTRAP is missing: run without BENCH_SKIP_BUILD=1"
[ -x "$LOAD" ] || die "$LOAD is missing: run without BENCH_SKIP_BUILD=1"

OUT=$(mktemp -d /tmp/mcp-role-bench.XXXXXX)
for round in $(seq 1 "$ROUNDS"); do
  taskset -c 1 "$LOAD" --count "$INVOCATIONS" --core 0 --stderr "$OUT/log-$round.txt" -- "$BOOTSTRAP" \
    >"$OUT/round-$round.json" || die "round $round failed (log: $OUT/log-$round.txt)"
  log "round $round: $(cat "$OUT/round-$round.json")"
done

python3 - "$OUT" "$ROUNDS" "$BOOTSTRAP" <<'EOF'
import json, os, statistics, sys
out, rounds, binary = sys.argv[1], int(sys.argv[2]), sys.argv[3]
runs = [json.load(open(f"{out}/round-{n}.json")) for n in range(1, rounds + 1)]
med = lambda key: statistics.median(r[key] for r in runs)
mib = lambda kib: kib / 1024
hwm = med("vm_hwm_kib")
print(f"\nMCP role (`MCP_HANDLER=mcp`), profile lambda, {os.path.getsize(binary) / 1048576:.1f} MiB binary; "
      f"{runs[0]['invocations']} sequential `tools/call echo` per container, medians of {rounds} containers\n")
print("| Figure | Value | Target | Status |\n|---|---|---|---|")
print(f"| Peak RSS after the load, VmHWM (MiB) | {mib(hwm):.1f} | ≤ 12 | {'PASS' if mib(hwm) <= 12 else '**MISS**'} |")
print(f"| … file-backed / anonymous at the end (MiB) | {mib(med('rss_file_kib')):.1f} / {mib(med('rss_anon_kib')):.1f} |  |  |")
print(f"| Peak RSS, worst container (MiB) | {mib(max(r['vm_hwm_kib'] for r in runs)):.1f} |  |  |")
print(f"| Spawn → first answer (ms) | {med('cold_start_to_first_answer_ms'):.2f} |  |  |")
print(f"| Warm invocation p50 / p99 (µs) | {med('warm_p50_us'):.0f} / {med('warm_p99_us'):.0f} |  |  |")
EOF
rm -rf "$OUT"
