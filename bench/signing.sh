#!/usr/bin/env bash
# What `signing: kms` costs on the token path: signs access tokens with a local key and through
# KMS (moto_server on loopback, from the test harness's pinned venv), release build. Prints one
# JSON line (median and p99 per token, microseconds). moto answers on loopback, so the KMS figure
# is a floor: in a region, a KMS Sign round trip adds a few milliseconds more.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-500}"
tests/harness/install.sh >/dev/null
cargo build --release --locked -p mcp-bench-tools --bin signing
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
tests/harness/.venv-aws/bin/moto_server -H 127.0.0.1 -p "$PORT" >/tmp/mcpctl-bench-moto.log 2>&1 &
MOTO=$!
trap 'kill "$MOTO" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://127.0.0.1:$PORT/moto-api/" && break
  sleep 0.1
done
AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=bench \
  AWS_SECRET_ACCESS_KEY=bench target/release/signing "$N"
