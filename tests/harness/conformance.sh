#!/usr/bin/env bash
# Runs one official MCP conformance suite against a running server (e.g. `mcpctl dev`).
#
#   tests/harness/conformance.sh <suite> <mcp_url> <results_dir> [options] [extra conformance args]
#
# suites:
#   server-stable            conformance 0.1.16 `server` (active suite), baseline baselines/server-stable.yml
#   server-next-2025-11-25   conformance 0.2.0-alpha.12 `server --requirements 2025-11-25`, baseline baselines/server-next-2025-11-25.yml
#   server-next-2026-07-28   conformance 0.2.0-alpha.12 `server --requirements 2026-07-28`, baseline baselines/server-next-2026-07-28.yml
#   authorization            conformance 0.2.0-alpha.12 `authorization` (AS metadata + authorization-code grant) against the
#                            issuer from the AS metadata; a public client is registered via DCR with redirect
#                            http://127.0.0.1:<free port>/callback and the printed authorize URL is driven by headless-browser.mjs
# server-* suites: if the endpoint answers 401, they run through bearer-proxy.mjs --client-credentials (DCR +
#   client_credentials) on a free loopback port; the proxy is stopped by PID on exit.
# options (consumed here; anything else is passed to the conformance CLI, e.g. --scenario NAME, --verbose):
#   --consent-submit        authorization: submit an HTML consent form (approve-like button) instead of stopping
#   --issuer URL            authorization: issuer to test (default: discovered from the MCP URL)
#   --client-id ID          authorization: pre-registered public client (redirect http://127.0.0.1:<--port>/callback)
#                           server-*: client_credentials client for the proxy (with --client-secret)
#   --client-secret S       server-*: secret of --client-id
#   --port N                authorization: callback port (default: a free port)
#   --token T               server-*: static bearer token for the proxy instead of client_credentials
#   --scope S               server-*: scope for the proxy's client_credentials token
#   --baseline FILE         server-*: other expected-failures file;  --no-baseline: run without one
#   --suite-timeout SECS    kill the suite after SECS (default 600)
# output: raw suite output in <results_dir>/<suite>.log (checks.json files under <results_dir>/<suite>/), proxy log
#   <suite>.proxy.log, browser result <suite>.browser.json. Prints the suite's SUMMARY section, then a last line
#   "conformance.sh <suite>: <N passed, M failed ...> exit=<rc> log=<path>".
# exit status: the suite's exit code (0 = pass / baseline matched); 124 suite timed out; 2 bad usage;
#   3 harness setup failed (install, server unreachable, proxy or DCR failed); authorization: 1 when the
#   browser step did not reach the callback (consent form without --consent-submit, error page, no URL).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
usage() { sed -n '2,33p' "$0" >&2; exit 2; }
[[ $# -ge 3 ]] || usage
SUITE="$1"; URL="$2"; RESULTS="$3"; shift 3
case "$SUITE" in server-stable|server-next-2025-11-25|server-next-2026-07-28|authorization) ;; *) echo "conformance.sh: unknown suite '$SUITE'" >&2; usage;; esac
[[ "$URL" =~ ^https?:// ]] || { echo "conformance.sh: <mcp_url> must be an http(s) URL, got '$URL'" >&2; usage; }
CONSENT=""; ISSUER=""; CID=""; CSECRET=""; CB_PORT=""; TOKEN=""; SCOPE=""; SUITE_TIMEOUT=600; EXTRA=(); SCENARIO_GIVEN=0
BASELINE=""; [[ "$SUITE" == server-* ]] && BASELINE="$HERE/baselines/$SUITE.yml"
need() { [[ $# -ge 2 && -n "$2" ]] || { echo "conformance.sh: $1 needs a value" >&2; exit 2; }; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --consent-submit) CONSENT="--consent-submit"; shift;;
    --issuer) need "$@"; ISSUER="$2"; shift 2;;
    --client-id) need "$@"; CID="$2"; shift 2;;
    --client-secret) need "$@"; CSECRET="$2"; shift 2;;
    --port) need "$@"; CB_PORT="$2"; shift 2;;
    --token) need "$@"; TOKEN="$2"; shift 2;;
    --scope) need "$@"; SCOPE="$2"; shift 2;;
    --baseline) need "$@"; BASELINE="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"; shift 2;;
    --no-baseline) BASELINE=""; shift;;
    --suite-timeout) need "$@"; SUITE_TIMEOUT="$2"; shift 2;;
    --scenario) need "$@"; SCENARIO_GIVEN=1; EXTRA+=("$1" "$2"); shift 2;;
    *) EXTRA+=("$1"); shift;;
  esac
done

mkdir -p "$RESULTS" || { echo "conformance.sh: cannot create results dir $RESULTS" >&2; exit 3; }
RESULTS="$(cd "$RESULTS" && pwd)"
LOG="$RESULTS/$SUITE.log"; : > "$LOG"
note() { echo "conformance.sh: $*"; echo "# conformance.sh: $*" >> "$LOG"; }
setup_fail() { echo "conformance.sh: SETUP FAILED: $*" >&2; echo "# conformance.sh: SETUP FAILED: $*" >> "$LOG"; echo "conformance.sh $SUITE: not run (setup failed) exit=3 log=$LOG"; exit 3; }
"$HERE/install.sh" --node-only --quiet || setup_fail "tests/harness/install.sh --node-only failed"
[[ -z "$BASELINE" || -f "$BASELINE" ]] || setup_fail "baseline file $BASELINE not found"

# Node < 22: the conformance CLI imports fs.globSync; the compat hook stubs it (no-op on Node >= 22).
if (( $(node -p 'process.versions.node.split(".")[0]') < 22 )); then
  export NODE_OPTIONS="--import $HERE/node20-compat.mjs${NODE_OPTIONS:+ $NODE_OPTIONS}"
fi
CONF_STABLE=(node "$HERE/node_modules/@modelcontextprotocol/conformance/dist/index.js")
CONF_NEXT=(node "$HERE/node_modules/conformance-next/dist/index.js")

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    if kill -0 "$p" 2>/dev/null; then kill "$p" 2>/dev/null; fi
  done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
strip() { sed 's/\x1b\[[0-9;]*m//g'; }
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
# "N passed, M failed[, W warnings]" from a conformance log
tally() {
  local t
  t=$(strip < "$LOG" | grep -E '^Total: ' | tail -1 | sed 's/^Total: //')
  [[ -z "$t" ]] && t=$(strip < "$LOG" | grep -E '^Passed: ' | tail -1 | sed -E 's#^Passed: ([0-9]+)/[0-9]+, ([0-9]+) failed.*#\1 passed, \2 failed#')
  echo "${t:-no summary}"
}
finish() {  # $1 = exit code of the suite
  strip < "$LOG" | sed -n '/=== SUMMARY ===/,$p' | grep -v '^# conformance.sh:'
  echo "conformance.sh $SUITE: $(tally) exit=$1 log=$LOG"
  exit "$1"
}
# JSON discovery of the MCP URL: 401 challenge + PRM + AS metadata (TS SDK discovery code)
DISC=$(cd "$HERE" && timeout 60 node discover.mjs "$URL" 2>>"$LOG") || DISC='{}'
echo "$DISC" > "$RESULTS/$SUITE.discovery.json"
jget() { node -e 'try{const v=JSON.parse(process.argv[1])[process.argv[2]];console.log(v??"")}catch{console.log("")}' "$DISC" "$1"; }
STATUS="$(jget status)"
note "target $URL: unauthenticated initialize -> HTTP ${STATUS:-?}; issuer=$(jget issuer) resource=$(jget resource)"
[[ -n "$STATUS" && "$STATUS" != 0 ]] || setup_fail "server not reachable at $URL ($(jget error))"

if [[ "$SUITE" == server-* ]]; then
  TEST_URL="$URL"
  if [[ "$STATUS" == 401 ]]; then
    PLOG="$RESULTS/$SUITE.proxy.log"
    PARGS=(--target "$URL" --port 0)
    if [[ -n "$TOKEN" ]]; then PARGS+=(--token "$TOKEN")
    else PARGS+=(--client-credentials); [[ -n "$CID" ]] && PARGS+=(--client-id "$CID" --client-secret "$CSECRET"); fi
    [[ -n "$SCOPE" ]] && PARGS+=(--scope "$SCOPE")
    (cd "$HERE" && exec node bearer-proxy.mjs "${PARGS[@]}") > "$PLOG" 2>&1 &
    PROXY_PID=$!; PIDS+=("$PROXY_PID")
    TEST_URL=""
    for _ in $(seq 1 300); do
      TEST_URL=$(grep -m1 '^PROXY_URL=' "$PLOG" | cut -d= -f2-)
      [[ -n "$TEST_URL" ]] && break
      kill -0 "$PROXY_PID" 2>/dev/null || break
      sleep 0.1
    done
    [[ -n "$TEST_URL" ]] || setup_fail "bearer-proxy did not start: $(tr '\n' ' ' < "$PLOG" | cut -c1-400)"
    note "endpoint requires OAuth: running through bearer-proxy $TEST_URL (pid $PROXY_PID, token via ${TOKEN:+static --token}${TOKEN:-DCR + client_credentials})"
  else
    note "endpoint answered $STATUS without a token: running the suite directly (no proxy)"
  fi
  case "$SUITE" in
    server-stable) CMD=("${CONF_STABLE[@]}" server --url "$TEST_URL" -o "$RESULTS/$SUITE"); [[ $SCENARIO_GIVEN == 0 ]] && CMD+=(--suite active);;
    server-next-*) CMD=("${CONF_NEXT[@]}" server --url "$TEST_URL" -o "$RESULTS/$SUITE"); [[ $SCENARIO_GIVEN == 0 ]] && CMD+=(--requirements "${SUITE#server-next-}");;
  esac
  [[ -n "$BASELINE" ]] && CMD+=(--expected-failures "$BASELINE")
  CMD+=("${EXTRA[@]}")
  note "${CMD[*]}"
  (cd "$HERE" && exec timeout "$SUITE_TIMEOUT" "${CMD[@]}") >> "$LOG" 2>&1 &
  SCN=$!; PIDS+=("$SCN"); wait "$SCN"; rc=$?
  [[ $rc == 124 ]] && note "suite timed out after ${SUITE_TIMEOUT}s"
  finish "$rc"
fi

# ---------------- authorization ----------------
ISSUER="${ISSUER:-$(jget issuer)}"; RES="$(jget resource)"; REG="$(jget registration_endpoint)"
[[ -n "$ISSUER" ]] || setup_fail "issuer not discovered from $URL (pass --issuer): $(jget error)"
CB_PORT="${CB_PORT:-$(free_port)}"
REDIRECT="http://127.0.0.1:$CB_PORT/callback"
if [[ -z "$CID" ]]; then
  [[ -n "$REG" ]] || setup_fail "AS metadata has no registration_endpoint: pass --client-id of a public client with redirect $REDIRECT"
  CID=$(node -e '
    const [reg, redirect] = process.argv.slice(1);
    fetch(reg, { method: "POST", headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ client_name: "mcp-conformance-authorization", redirect_uris: [redirect], grant_types: ["authorization_code"],
        response_types: ["code"], token_endpoint_auth_method: "none" }) })
      .then(async (r) => { const t = await r.text(); let j = {}; try { j = JSON.parse(t); } catch {}
        if (!r.ok || !j.client_id) { console.error(`DCR ${reg} -> HTTP ${r.status}: ${t.slice(0, 300)}`); process.exit(1); }
        console.log(j.client_id); })
      .catch((e) => { console.error(`DCR ${reg}: ${e.message}`); process.exit(1); });' "$REG" "$REDIRECT" 2>>"$LOG") \
    || setup_fail "DCR of the public client failed (see $LOG)"
  note "registered public client $CID (redirect_uri $REDIRECT) via $REG"
fi
CMD=("${CONF_NEXT[@]}" authorization --url "$ISSUER" -p "$CB_PORT" --client-id "$CID" -o "$RESULTS/$SUITE")
[[ -n "$RES" ]] && CMD+=(--resource "$RES")
CMD+=("${EXTRA[@]}")
note "${CMD[*]}  (browser step: headless-browser.mjs ${CONSENT})"
(cd "$HERE" && exec timeout "$SUITE_TIMEOUT" "${CMD[@]}") >> "$LOG" 2>&1 &
SCN=$!; PIDS+=("$SCN")
BROWSER="$RESULTS/$SUITE.browser.json"; : > "$BROWSER"
AURL=""
for _ in $(seq 1 600); do
  AURL=$(strip < "$LOG" | grep -m1 -E '^https?://[^ ]*[?&]response_type=code' || true)
  [[ -n "$AURL" ]] && break
  kill -0 "$SCN" 2>/dev/null || break
  sleep 0.1
done
if [[ -n "$AURL" ]]; then
  for _ in $(seq 1 100); do grep -q 'Callback server started' "$LOG" && break; sleep 0.1; done
  (cd "$HERE" && timeout 60 node headless-browser.mjs "$AURL" $CONSENT) > "$BROWSER" 2>>"$LOG"
  note "browser: $(cut -c1-300 "$BROWSER")"
  # a consent form or an error page never reaches the callback: do not wait for the suite's 5-minute timeout
  grep -q '"final":true' "$BROWSER" || { note "browser did not reach the callback: stopping the suite"; kill "$SCN" 2>/dev/null; STOPPED=1; }
elif kill -0 "$SCN" 2>/dev/null; then
  note "no authorize URL printed within 60s: stopping the suite"; kill "$SCN" 2>/dev/null; STOPPED=1
fi
wait "$SCN"; rc=$?
[[ ${STOPPED:-0} == 1 ]] && rc=1   # stopped by us: a failure, not a timeout/signal of the suite itself
if grep -q '"consentForm":true' "$BROWSER"; then
  note "BLOCKED: /authorize returned an HTML consent form; run the server with --auto-approve or pass --consent-submit"
  rc=1
fi
finish "$rc"
