#!/usr/bin/env bash
# bench/first-run.sh — how long the README's first command takes from a clean target directory
# before `mcpctl dev` answers: `cargo run --release -p mcpctl -- dev`, timed from the cargo
# invocation to the first answered request (the authorization server's metadata document).
#
# Also reports the same build with `--features aws` (the whole CLI) when BENCH_FIRST_RUN_AWS=1,
# and checks that the quick build says how to get the AWS commands instead of failing obscurely.
#
# Usage: bench/first-run.sh          (about 3 min; 15 more with BENCH_FIRST_RUN_AWS=1)
# Knobs: BENCH_PORT=18797  BENCH_TARGET=<dir> (default: a fresh temporary directory, removed after)
#        CARGO_BUILD_JOBS (default: all cores)
# Needs: cargo, curl. Only talks to 127.0.0.1; stops the server it started by its PID.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PORT="${BENCH_PORT:-18797}"
log() { printf '[first-run] %s\n' "$*" >&2; }
die() { printf '[first-run] error: %s\n' "$*" >&2; exit 1; }
command -v curl >/dev/null || die "curl is required"

TARGET="${BENCH_TARGET:-}"
OWN_TARGET=0
if [ -z "$TARGET" ]; then
  TARGET=$(mktemp -d /tmp/mcpctl-first-run.XXXXXX)
  OWN_TARGET=1
fi
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "$OWN_TARGET" = 1 ]; then rm -rf "$TARGET"; fi
}
trap cleanup EXIT

# One measured first run: prints the seconds from `cargo run` to the first answer.
first_run() {
  local label=$1; shift
  local dir="$TARGET/$label" out="$TARGET/$label.log" start now
  rm -rf "$dir"
  start=$(date +%s.%N)
  (cd "$ROOT" && CARGO_TARGET_DIR="$dir" exec cargo run --release --locked -p mcpctl "$@" -- \
      dev --port "$PORT" --state-dir "$TARGET/$label-state") >"$out" 2>&1 &
  SERVER_PID=$!
  until curl -fsS --max-time 2 "http://127.0.0.1:$PORT/.well-known/oauth-authorization-server" >/dev/null 2>&1; do
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$out" >&2; die "$label: cargo run exited before serving (log above)"; }
    sleep 0.2
  done
  now=$(date +%s.%N)
  local binary="$dir/release/mcpctl"
  python3 -c "print(f'{$now - $start:.1f}')" >"$TARGET/$label.seconds"
  du -b "$binary" | cut -f1 >"$TARGET/$label.bytes"
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

log "clean release build of mcpctl (no AWS SDK) and first answer from mcpctl dev"
first_run quick
quick_binary="$TARGET/quick/release/mcpctl"
# The quick build names the feature when asked for an AWS command, and exits non-zero.
if "$quick_binary" deploy --stage dev >"$TARGET/deploy.out" 2>&1; then
  die "the quick build ran \`mcpctl deploy\`; expected the error naming --features aws"
fi
grep -q -- "--features aws" "$TARGET/deploy.out" || { cat "$TARGET/deploy.out" >&2; die "the quick build's deploy error does not name --features aws"; }

if [ "${BENCH_FIRST_RUN_AWS:-0}" = 1 ]; then
  log "the same with --features aws (the whole CLI, AWS SDK linked)"
  first_run full --features aws
fi

cores=$(nproc)
printf '\n| Build (clean target, %s cores, `cargo run --release -p mcpctl`) | seconds to first answer | binary (MiB) |\n|---|---|---|\n' "$cores"
for label in quick full; do
  [ -f "$TARGET/$label.seconds" ] || continue
  name=$([ "$label" = quick ] && echo 'default features (`mcpctl dev` without the AWS SDK)' || echo '`--features aws`')
  printf '| %s | %s | %s |\n' "$name" "$(cat "$TARGET/$label.seconds")" \
    "$(python3 -c "print(f'{$(cat "$TARGET/$label.bytes")/1048576:.1f}')")"
done
