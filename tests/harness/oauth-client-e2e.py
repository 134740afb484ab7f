#!/usr/bin/env python3
"""Second real client: the official MCP *Python* SDK (PyPI `mcp`, tested with 2.3.0 / httpx2 2.16.2)
doing OAuth against a remote MCP server, headlessly.

  python oauth-client-e2e.py --url https://HOST/mcp [--mode auth_code|client_credentials|both]
         [--scope S] [--tool NAME --tool-args JSON] [--redirect-uri URI] [--consent-submit]
         [--client-id ID --client-secret S] [--timeout 30] [--deadline 180]
         [--progress-tool NAME [--progress-args JSON] [--min-progress N]]

auth_code: the SDK's OAuthClientProvider discovers PRM/AS metadata, registers (DCR), builds the PKCE
authorization URL and hands it to redirect_handler; we follow it without a browser (manual 3xx
following, cookies; an HTML consent form is a FAIL unless --consent-submit) and give the captured
code/state/iss back through callback_handler. Then initialize (mode="auto": the SDK first probes
`server/discover`, falls back to `initialize` on any JSON-RPC error), tools/list, tools/call.
--progress-tool NAME: after the tools/call of each mode, call NAME (arguments --progress-args, default {})
with the SDK's progress_callback (the SDK then sends a progressToken in _meta); PASS only if at least
--min-progress (default 1) notifications arrived before the result and the result is no error.
client_credentials: DCR (grant_types=[client_credentials], client_secret_basic) done here with httpx2,
then the SDK's ClientCredentialsOAuthProvider.
Last line: "N passed, N failed"; exit 0 iff no failures (1 otherwise, 2 on bad usage).
Install its deps with tests/harness/install.sh (venv at tests/harness/.venv, from requirements.lock).
"""
from __future__ import annotations

import os
import argparse
import asyncio
import json
import re
import sys
from urllib.parse import parse_qs, urljoin, urlparse, urlencode

import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata

ap = argparse.ArgumentParser()
ap.add_argument("--url", required=True)
ap.add_argument("--mode", default="auth_code", choices=["auth_code", "client_credentials", "both"])
ap.add_argument("--scope")
ap.add_argument("--tool")
ap.add_argument("--tool-args")
ap.add_argument("--redirect-uri", default="http://127.0.0.1:8977/callback")
ap.add_argument("--consent-submit", action="store_true")
ap.add_argument("--client-id")
ap.add_argument("--client-secret")
ap.add_argument("--progress-tool")
ap.add_argument("--progress-args")
ap.add_argument("--min-progress", type=int, default=1)
ap.add_argument("--timeout", type=float, default=30.0, help="per HTTP request / flow step (s)")
ap.add_argument("--deadline", type=float, default=180.0, help="per mode (s); a mode still running then is a FAIL")
args = ap.parse_args()
if args.min_progress < 0:
    ap.error("--min-progress must be >= 0")
if args.progress_args is not None:
    try:
        json.loads(args.progress_args)
    except ValueError as e:
        ap.error(f"--progress-args: not JSON: {e}")

results: list[tuple[str, str, str]] = []
section = ""


def record(status: str, name: str, detail: str = "") -> None:
    results.append((status, section + name, detail))
    print(f"[{status}] {section}{name}" + (f" -- {detail}" if detail else ""), flush=True)


def leaf(e: BaseException) -> BaseException:
    while isinstance(e, BaseExceptionGroup) and e.exceptions:
        e = e.exceptions[0]
    return e


def check(cond, name, ok="", bad=None):
    record("PASS" if cond else "FAIL", name, ok if cond else (bad if bad is not None else ok))
    return bool(cond)


class MemStorage(TokenStorage):
    def __init__(self):
        self.tokens = None
        self.client_info = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info):
        self.client_info = client_info


FORM_RE = re.compile(r"<form\b([^>]*)>([\s\S]*?)</form>", re.I)
APPROVE_RE = re.compile(r"approve|allow|accept|authori[sz]e|consent|yes|continue|grant", re.I)


def _attr(s: str, a: str):
    m = re.search(rf"\b{a}\s*=\s*(\"([^\"]*)\"|'([^']*)'|([^\s>]+))", s, re.I)
    return None if not m else next(x for x in m.groups()[1:] if x is not None)


async def headless_authorize(url: str, stop_at: str, consent_submit: bool) -> dict:
    """Follow the authorization request until a redirect to stop_at; never requests stop_at itself."""
    async with httpx2.AsyncClient(follow_redirects=False, timeout=args.timeout) as http:
        method, data = "GET", None
        for hop in range(10):
            r = await (http.get(url) if method == "GET" else http.post(url, data=data))
            if 300 <= r.status_code < 400:
                loc = urljoin(url, r.headers.get("location", ""))
                if loc.startswith(stop_at):
                    q = parse_qs(urlparse(loc).query)
                    return {"status": r.status_code, "code": (q.get("code") or [None])[0], "state": (q.get("state") or [None])[0],
                            "iss": (q.get("iss") or [None])[0], "error": (q.get("error") or [None])[0], "hops": hop + 1}
                url, method, data = loc, "GET", None
                continue
            forms = FORM_RE.findall(r.text) if "html" in r.headers.get("content-type", "") else []
            if r.status_code == 200 and forms:
                if not consent_submit:
                    return {"consent_form": True, "status": 200, "url": url}
                attrs, inner = forms[0]
                fields = [(_attr(t, "name"), _attr(t, "value") or "") for t in re.findall(r"<input\b([^>]*)>", inner, re.I)
                          if _attr(t, "name") and (_attr(t, "type") or "text").lower() not in ("submit", "checkbox", "radio")]
                buttons = [(_attr(b, "name"), _attr(b, "value") or "", re.sub(r"<[^>]+>", "", txt)) for b, txt in re.findall(r"<button\b([^>]*)>([\s\S]*?)</button>", inner, re.I)]
                btn = next((b for b in buttons if APPROVE_RE.search(f"{b[1]} {b[2]} {b[0] or ''}")), buttons[0] if buttons else None)
                if btn and btn[0]:
                    fields.append((btn[0], btn[1]))
                action = urljoin(url, _attr(attrs, "action") or url)
                if (_attr(attrs, "method") or "GET").upper() == "GET":
                    url, method, data = action + ("&" if "?" in action else "?") + urlencode(fields), "GET", None
                else:
                    url, method, data = action, "POST", dict(fields)
                record("INFO", "consent form auto-submitted", f"button={btn}")
                continue
            return {"unexpected": True, "status": r.status_code, "body": r.text[:200]}
    return {"error": "too_many_hops"}


async def use_mcp(kind: str, auth) -> None:
    async with httpx2.AsyncClient(auth=auth, timeout=args.timeout) as http:
        async with Client(streamable_http_client(args.url, http_client=http), mode="auto") as client:
            init = getattr(client.session, "initialize_result", None)
            disc = getattr(client.session, "discover_result", None)
            info = init.server_info if init else getattr(disc, "server_info", None)
            check(True, f"{kind}: connected (mode=auto)", f"{'initialize handshake' if init else 'server/discover'}; server={getattr(info, 'name', '?')} protocol={getattr(init, 'protocol_version', None) or getattr(disc, 'supported_versions', '?')}")
            tools = await client.list_tools()
            check(len(tools.tools) > 0, f"{kind}: tools/list", ", ".join(t.name for t in tools.tools))
            name = args.tool
            targs = json.loads(args.tool_args) if args.tool_args else {}
            if not name and tools.tools:
                t = next((t for t in tools.tools if not (t.input_schema or {}).get("required")), tools.tools[0])
                name = t.name
            if name:
                res = await client.call_tool(name, targs)
                check(not res.is_error, f"{kind}: tools/call {name}", str(res.content)[:160])
            if args.progress_tool:
                await check_progress(kind, client)


async def check_progress(kind: str, client) -> None:
    """--progress-tool: the count taken when call_tool returns is what arrived before the result."""
    name = f"{kind}: tools/call {args.progress_tool} with progress (>= {args.min_progress} notifications before the result)"
    seen: list[tuple[float, float, float | None]] = []
    loop = asyncio.get_running_loop()
    t0 = loop.time()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((1000 * (loop.time() - t0), progress, total))

    try:
        res = await client.call_tool(args.progress_tool, json.loads(args.progress_args) if args.progress_args else {},
                                     progress_callback=on_progress)
    except Exception as e:  # noqa: BLE001
        record("FAIL", name, f"{type(e).__name__}: {e} ({len(seen)} notifications so far)"[:600])
        return
    before = len(seen)
    text = "\n".join(getattr(c, "text", "") for c in res.content)
    detail = (f"{before} notifications [" + " ".join(f"{p:g}{'' if t is None else f'/{t:g}'}@{ms:.0f}ms" for ms, p, t in seen[:before])
              + f"], result at {1000 * (loop.time() - t0):.0f}ms: {text[:120]!r}")
    check(before >= args.min_progress and not res.is_error, name, detail, ("isError result: " if res.is_error else "") + detail)


async def run_auth_code() -> None:
    global section
    section = "[py auth_code] "
    storage = MemStorage()
    captured: dict = {}

    async def redirect_handler(authorization_url: str) -> None:
        q = parse_qs(urlparse(authorization_url).query)
        check(q.get("code_challenge_method") == ["S256"], "SDK sent PKCE S256")
        record("INFO", "authorization request", f"scope={q.get('scope')} resource={q.get('resource')}")
        captured.update(await headless_authorize(authorization_url, args.redirect_uri, args.consent_submit))
        captured["expected_state"] = (q.get("state") or [None])[0]

    async def callback_handler() -> AuthorizationCodeResult:
        if captured.get("consent_form"):
            raise RuntimeError(f"authorization endpoint returned an HTML consent form at {captured['url']} (use --consent-submit)")
        if not captured.get("code"):
            raise RuntimeError(f"no authorization code: {captured}")
        check(captured.get("state") == captured.get("expected_state"), "state echoed unchanged")
        return AuthorizationCodeResult(code=captured["code"], state=captured.get("state"), iss=captured.get("iss"))

    md = OAuthClientMetadata(client_name="oauth-client-e2e.py", redirect_uris=[args.redirect_uri],
                             grant_types=["authorization_code", "refresh_token"], response_types=["code"],
                             token_endpoint_auth_method="none", scope=args.scope)
    provider = OAuthClientProvider(server_url=args.url, client_metadata=md, storage=storage,
                                   redirect_handler=redirect_handler, callback_handler=callback_handler)
    try:
        await asyncio.wait_for(use_mcp("auth_code", provider), args.timeout * 2)
        check(storage.client_info is not None and storage.client_info.client_id, "dynamic client registration", getattr(storage.client_info, "client_id", ""))
        check(storage.tokens is not None and storage.tokens.access_token, "access token obtained", f"token_type={getattr(storage.tokens, 'token_type', None)} refresh={'yes' if getattr(storage.tokens, 'refresh_token', None) else 'no'}")
    except BaseException as e:  # noqa: BLE001 - report anything (ExceptionGroup from anyio included)
        e = leaf(e)
        record("FAIL", "auth_code flow", f"{type(e).__name__}: {e}"[:600])


async def run_client_credentials() -> None:
    global section
    section = "[py client_credentials] "
    cid, secret = args.client_id, args.client_secret
    issuer = None
    async with httpx2.AsyncClient(timeout=args.timeout) as http:
        r = await http.post(args.url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers={"accept": "application/json, text/event-stream"})
        check(r.status_code == 401, "unauthenticated request -> 401", str(r.status_code))
        m = re.search(r'resource_metadata="([^"]+)"', r.headers.get("www-authenticate", ""))
        prm_url = m.group(1) if m else urljoin(args.url, "/.well-known/oauth-protected-resource" + urlparse(args.url).path)
        prm = (await http.get(prm_url)).json()
        as_url = prm["authorization_servers"][0]
        p = urlparse(as_url)
        as_md = None
        for u in ([f"{p.scheme}://{p.netloc}/.well-known/oauth-authorization-server{p.path.rstrip('/')}",
                   f"{p.scheme}://{p.netloc}/.well-known/openid-configuration{p.path.rstrip('/')}",
                   f"{as_url.rstrip('/')}/.well-known/openid-configuration"]):
            rr = await http.get(u)
            if rr.status_code == 200:
                as_md = rr.json()
                break
        if not check(as_md is not None, "AS metadata discovered", as_url):
            return
        issuer = as_md["issuer"]
        if not cid:
            body = {"client_name": "oauth-client-e2e.py (client_credentials)", "redirect_uris": [], "grant_types": ["client_credentials"],
                    "token_endpoint_auth_method": "client_secret_basic"}
            if args.scope:
                body["scope"] = args.scope
            # Machine clients are the operator's: the initial access token (RFC 7591 §3).
            iat = os.environ.get("MCP_INITIAL_ACCESS_TOKEN")
            headers = {"authorization": f"Bearer {iat}"} if iat else {}
            rr = await http.post(as_md["registration_endpoint"], json=body, headers=headers)
            check(rr.status_code == 201, "DCR -> 201", str(rr.status_code))
            reg = rr.json()
            cid, secret = reg.get("client_id"), reg.get("client_secret")
            if not check(bool(cid and secret), "DCR issued client_id + client_secret"):
                return
    provider = ClientCredentialsOAuthProvider(server_url=args.url, storage=MemStorage(), client_id=cid, client_secret=secret,
                                              token_endpoint_auth_method="client_secret_basic", scope=args.scope, issuer=issuer)
    try:
        await asyncio.wait_for(use_mcp("client_credentials", provider), args.timeout * 2)
    except BaseException as e:  # noqa: BLE001
        e = leaf(e)
        record("FAIL", "client_credentials flow", f"{type(e).__name__}: {e}"[:600])


async def run_mode(fn) -> None:
    """Run one mode; any exception (including ones outside the SDK flows) is a FAIL, never a crash."""
    try:
        await asyncio.wait_for(fn(), args.deadline)
    except BaseException as e:  # noqa: BLE001
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        e = leaf(e)
        record("FAIL", "unexpected error", f"{type(e).__name__}: {e}"[:600])


async def main() -> int:
    if args.mode in ("auth_code", "both"):
        await run_mode(run_auth_code)
    if args.mode in ("client_credentials", "both"):
        await run_mode(run_client_credentials)
    passed = sum(1 for s, _, _ in results if s == "PASS")
    failed = sum(1 for s, _, _ in results if s == "FAIL")
    if passed == 0 and failed == 0:
        record("FAIL", "checks ran", "no check was executed")
        failed = 1
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        rc = asyncio.run(main())
    except BaseException as e:  # noqa: BLE001 - last resort: still print the summary line
        if isinstance(e, SystemExit):
            raise
        print(f"[FAIL] crashed -- {type(leaf(e)).__name__}: {leaf(e)}"[:600])
        print(f"{sum(1 for s, _, _ in results if s == 'PASS')} passed, {sum(1 for s, _, _ in results if s == 'FAIL') + 1} failed", flush=True)
        rc = 1
    sys.exit(rc)
