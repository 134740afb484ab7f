#!/usr/bin/env bash
# Installs the external test harness (pinned) into tests/harness/ — idempotent and fast when up to date.
#
#   tests/harness/install.sh [--node-only | --python-only | --browser-only] [--force] [--quiet]
#
#   node:   `npm ci --no-audit --no-fund` from package-lock.json into tests/harness/node_modules
#           (conformance 0.1.16, conformance-next = 0.2.0-alpha.12, @modelcontextprotocol/sdk 1.32.2,
#           oidc-provider 8.8.1, puppeteer-core 24.43.1 which never downloads a browser; jose 6.2.17 and
#           zod 4.6.7, the SDK's own versions, named because upstream-ts.mjs imports them).
#           Skipped when node_modules/.harness-stamp holds the sha256 of package.json + package-lock.json
#           (and node_modules/.package-lock.json exists); the stamp is written only after a successful npm ci.
#   python: venv at tests/harness/.venv, `pip install --no-deps -r requirements.lock` (every package pinned ==)
#           then `pip check` and an import test (mcp, httpx2, fastmcp and its JWTVerifier). Skipped when
#           .venv/.harness-stamp holds the sha256 of requirements.lock + the interpreter version.
#   lambda web adapter: `cargo install lambda_web_adapter --version 0.9.1 --locked` into .lwa/ (with python;
#           skipped when .lwa/.harness-stamp names that version).
#   browser: Chromium for browser-signin.mjs (default run and --browser-only; not with --node-only or
#           --python-only). Found at $CHROMIUM, /usr/bin/chromium or `chromium` on PATH; if missing and we are
#           root with apt-get: `apt-get install -y --no-install-recommends chromium` (after `apt-get update`
#           when the package lists are stale); otherwise exit 3 naming the package.
#   Env: PYTHON (default python3), NPM (default npm), CHROMIUM (path of the browser binary).
#   Concurrent calls (e.g. parallel cargo tests) serialise on .work/install.lock.
# Exit status: 0 ok, 1 an install step failed, 2 bad usage, 3 a required tool (node, npm, python3, chromium) is missing.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DO_NODE=1; DO_PY=1; DO_BROWSER=1; FORCE=0; QUIET=0
for a in "$@"; do
  case "$a" in
    --node-only) DO_PY=0; DO_BROWSER=0;; --python-only) DO_NODE=0; DO_BROWSER=0;; --browser-only) DO_NODE=0; DO_PY=0;;
    --force) FORCE=1;; --quiet|-q) QUIET=1;;
    -h|--help) sed -n '2,22p' "$0"; exit 0;;
    *) echo "install.sh: unknown option '$a' (see --help)" >&2; exit 2;;
  esac
done
say() { [[ $QUIET == 1 ]] || echo "install.sh: $*"; }
die() { echo "install.sh: ERROR: $1" >&2; exit "${2:-1}"; }
PYTHON="${PYTHON:-python3}"; NPM="${NPM:-npm}"

# ---- browser (Chromium for browser-signin.mjs) ----
find_chromium() {
  local c
  if [[ -n "${CHROMIUM:-}" ]]; then [[ -x "$CHROMIUM" ]] && { echo "$CHROMIUM"; return 0; }; return 1; fi
  [[ -x /usr/bin/chromium ]] && { echo /usr/bin/chromium; return 0; }
  c="$(command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null || true)"
  [[ -n "$c" ]] && { echo "$c"; return 0; }
  return 1
}
install_browser() {
  local chromium log
  if chromium="$(find_chromium)"; then
    [[ $QUIET == 1 ]] || say "chromium: $chromium ($("$chromium" --version 2>/dev/null | head -n1))"
    return 0
  fi
  if [[ -n "${CHROMIUM:-}" ]]; then
    die "CHROMIUM=$CHROMIUM is not an executable file (unset it to use /usr/bin/chromium)" 3
  fi
  if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    die "missing required tool: chromium (Debian/Ubuntu, as root: apt-get install -y --no-install-recommends chromium; or set CHROMIUM=/path/to/chrome)" 3
  fi
  mkdir -p "$HERE/.work"
  log="$HERE/.work/apt-chromium.log"
  say "chromium not found: apt-get install -y --no-install-recommends chromium ..."
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >"$log" 2>&1; then
    say "apt-get install failed (stale package lists?): apt-get update, then retrying once"
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update >>"$log" 2>&1 \
           && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >>"$log" 2>&1; }; then
      tail -n 20 "$log" >&2
      die "apt-get install chromium failed (full log: $log)"
    fi
  fi
  chromium="$(find_chromium)" || die "apt-get installed chromium but no chromium binary is on PATH or at /usr/bin/chromium (log: $log)"
  say "chromium installed: $chromium ($("$chromium" --version 2>/dev/null | head -n1))"
}

# ---- prerequisites (checked before anything is touched) ----
missing=()
if [[ $DO_NODE == 1 ]]; then
  command -v node >/dev/null 2>&1 || missing+=("node (Node.js >= 20; Debian: apt-get install nodejs)")
  command -v "$NPM" >/dev/null 2>&1 || missing+=("npm (Debian: apt-get install npm)")
fi
if [[ $DO_PY == 1 ]]; then
  command -v "$PYTHON" >/dev/null 2>&1 || missing+=("$PYTHON (Python >= 3.10 with the venv module; Debian: apt-get install python3 python3-venv)")
fi
command -v sha256sum >/dev/null 2>&1 || missing+=("sha256sum (coreutils)")
if ((${#missing[@]})); then
  for m in "${missing[@]}"; do echo "install.sh: ERROR: missing required tool: $m" >&2; done
  exit 3
fi
if [[ $DO_NODE == 1 ]]; then
  NODE_MAJOR="$(node -p 'process.versions.node.split(".")[0]')"
  (( NODE_MAJOR >= 20 )) || die "node $(node --version) is too old: the harness needs Node.js >= 20" 3
fi
if [[ $DO_PY == 1 ]]; then
  "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
    || die "$PYTHON is $("$PYTHON" --version 2>&1): the MCP Python SDK needs Python >= 3.10" 3
  "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
    || die "$PYTHON has no working venv/ensurepip module (Debian: apt-get install python3-venv)" 3
fi

mkdir -p "$HERE/.work"
exec 9>"$HERE/.work/install.lock"
if command -v flock >/dev/null 2>&1; then flock -w 900 9 || die "timed out waiting for another install.sh (lock $HERE/.work/install.lock)"; fi

[[ $DO_BROWSER == 1 ]] && install_browser

# ---- node ----
if [[ $DO_NODE == 1 ]]; then
  want="$(cat "$HERE/package.json" "$HERE/package-lock.json" | sha256sum | cut -d' ' -f1) node-major=$NODE_MAJOR"
  stamp="$HERE/node_modules/.harness-stamp"
  if [[ $FORCE == 0 && -f "$HERE/node_modules/.package-lock.json" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    say "node_modules up to date (lock sha256 matches)"
  else
    say "npm ci (pinned by package-lock.json) ..."
    rm -f "$stamp"
    log="$HERE/.work/npm-ci.log"
    if ! (cd "$HERE" && "$NPM" ci --no-audit --no-fund --loglevel=error >"$log" 2>&1); then
      tail -n 30 "$log" >&2
      die "npm ci failed in $HERE (full log: $log)"
    fi
    [[ -d "$HERE/node_modules/@modelcontextprotocol/conformance" && -d "$HERE/node_modules/conformance-next" && -d "$HERE/node_modules/@modelcontextprotocol/sdk" \
       && -d "$HERE/node_modules/oidc-provider" && -d "$HERE/node_modules/puppeteer-core" && -d "$HERE/node_modules/jose" && -d "$HERE/node_modules/zod" ]] \
      || die "npm ci finished but the pinned packages are not in $HERE/node_modules"
    echo "$want" > "$stamp"
    say "node_modules installed: $(cd "$HERE" && node -p 'const v=(p)=>require("./node_modules/"+p+"/package.json").version; ["@modelcontextprotocol/conformance","conformance-next","@modelcontextprotocol/sdk","oidc-provider","puppeteer-core","jose","zod"].map(p=>p+"@"+v(p)).join(" ")')"
  fi
fi

# ---- python ----
# install_venv DIR LOCK IMPORT_CHECK LABEL: a venv with every package of LOCK pinned (--no-deps),
# skipped when DIR/.harness-stamp holds the lock's sha256 and the interpreter version.
install_venv() {
  local venv="$1" lock="$2" check="$3" label="$4"
  local want stamp log
  want="$(sha256sum < "$lock" | cut -d' ' -f1) $("$PYTHON" -c 'import sys; print("py%d.%d.%d" % sys.version_info[:3])')"
  stamp="$venv/.harness-stamp"
  if [[ $FORCE == 0 && -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    say "python venv $(basename "$venv") up to date ($(basename "$lock") sha256 matches)"
    return
  fi
  say "python venv $venv from $(basename "$lock") ..."
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv" || die "'$PYTHON -m venv $venv' failed (Debian: apt-get install python3-venv)"
  log="$HERE/.work/pip-install-$(basename "$venv").log"
  if ! "$venv/bin/python" -m pip install --disable-pip-version-check --no-input --no-deps -r "$lock" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "pip install -r $(basename "$lock") failed (full log: $log)"
  fi
  "$venv/bin/python" -m pip check --disable-pip-version-check >>"$log" 2>&1 \
    || { tail -n 10 "$log" >&2; die "pip check failed: $(basename "$lock") is missing a dependency (regenerate it, see README.md)"; }
  "$venv/bin/python" -c "$check" >>"$log" 2>&1 \
    || { tail -n 10 "$log" >&2; die "the venv $(basename "$venv") cannot import $label"; }
  echo "$want" > "$stamp"
  say "python venv installed: $label"
}

# The AWS Lambda Web Adapter (crates.io `lambda_web_adapter`, the program its Lambda layer ships):
# the gateway's upstream function runs FastMCP behind it under the Lambda emulator
# (tests/it/gateway.rs). Built once with the crate's own Cargo.lock (--locked) into .lwa/.
LWA_VERSION=0.9.1
install_web_adapter() {
  local root="$HERE/.lwa" want="lambda_web_adapter $LWA_VERSION" log
  if [[ $FORCE == 0 && -x "$root/bin/lambda-adapter" && "$(cat "$root/.harness-stamp" 2>/dev/null)" == "$want" ]]; then
    [[ $QUIET == 1 ]] || say "lambda-adapter up to date ($want)"
    return 0
  fi
  command -v cargo >/dev/null 2>&1 || die "missing required tool: cargo (the Rust toolchain, https://rustup.rs) to build $want" 3
  mkdir -p "$HERE/.work"
  log="$HERE/.work/lwa-install.log"
  say "building $want (cargo install --locked, about 1.5 min once) ..."
  if ! cargo install lambda_web_adapter --version "$LWA_VERSION" --locked --force \
      --root "$root" --target-dir "$HERE/.work/lwa-target" >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    die "cargo install lambda_web_adapter failed (full log: $log)"
  fi
  echo "$want" > "$root/.harness-stamp"
  say "lambda-adapter installed: $root/bin/lambda-adapter"
}

if [[ $DO_PY == 1 ]]; then
  install_venv "$HERE/.venv" "$HERE/requirements.lock" \
    'import mcp, httpx2, fastmcp; from mcp.client.auth import OAuthClientProvider; from fastmcp.server.auth.providers.jwt import JWTVerifier' \
    "mcp + httpx2 (the Python SDK client) + fastmcp (upstream-fastmcp.py)"
  # moto (AWS APIs on loopback) lives apart: its boto3 pins must not meet other tools' pins.
  install_venv "$HERE/.venv-aws" "$HERE/requirements-aws.lock" \
    'import moto.server, flask' "moto[server] (DynamoDB and other AWS APIs on loopback)"
  # Linters of the rendered CloudFormation (deployer/tests/it/lint.rs): cfn-lint, and checkov
  # in its own venv because it pins an old boto3.
  install_venv "$HERE/.venv-lint" "$HERE/requirements-lint.lock" \
    'import cfnlint' "cfn-lint (CloudFormation linter)"
  install_venv "$HERE/.venv-checkov" "$HERE/requirements-checkov.lock" \
    'import checkov' "checkov (CloudFormation policy checks)"
  # cargo-lambda and Zig (PyPI wheels with the binaries): `cargo lambda watch` runs the real
  # bootstrap under a Lambda emulator (tests/it/lambda_emulator.rs). cargo-lambda finds Zig
  # through `python3 -m ziglang`, so the test puts this venv's bin first on PATH.
  install_venv "$HERE/.venv-lambda" "$HERE/requirements-lambda.lock" \
    'import ziglang, sys, os; sys.exit(0 if os.access(os.path.join(os.path.dirname(sys.executable), "cargo-lambda"), os.X_OK) else 1)' "cargo-lambda + ziglang (Lambda emulator)"
  install_web_adapter
fi
exit 0
