#!/usr/bin/env python3
"""An upstream MCP server for mcpctl's gateway mode, written with the standalone FastMCP (PyPI `fastmcp`,
4.2.3, on the official SDK `mcp` 2.3.0). Run it with the harness venv (tests/harness/install.sh):

  tests/harness/.venv/bin/python tests/harness/upstream-fastmcp.py --port 0 --issuer URL --audience AUD|self \
      --jwks-url URL [--record FILE] [--stateless] [--verbose]

--audience self: the expected aud is this server's own URL, http://127.0.0.1:PORT/mcp (what mcpctl's
gateway uses by default for `--upstream http://127.0.0.1:PORT/mcp`), for callers that use --port 0.

Listens on 127.0.0.1 (--port 0 picks a free port), Streamable HTTP at /mcp (POST; GET and DELETE too
unless --stateless). Stdout gets exactly one line once it accepts connections:
  {"listening":"127.0.0.1:PORT"}
Logs go to stderr.

Auth is FastMCP's own JWTVerifier (jwks_uri, issuer, audience, algorithm ES256): a request without a
valid assertion gets 401 from FastMCP's RequireAuthMiddleware. On top of it (AssertionVerifier below)
we require the JOSE header typ "mcpctl-identity+jwt" and an exp claim: JWTVerifier checks neither
(it accepts a JWT that has no exp at all).

Tools: echo(text) -> text; whoami() -> JSON of the verified claims (sub, client_id, scope, kind, aud,
iss, and name/email/groups when present); count(steps=3) -> "counted N", one progress notification
per step (ctx.report_progress, 50 ms apart) when the call carries _meta.progressToken.

--record FILE: one JSON line appended per HTTP request, before auth:
  {"method":"POST","path":"/mcp","authorization":"Bearer …"|null,"mcp_session_id":…|null,
   "mcp_protocol_version":…|null,"accept":…|null,"content_type":…|null,"last_event_id":…|null,
   "mcp_method":…|null,"mcp_name":…|null}
(Mcp-Method and Mcp-Name are the routing headers of protocol 2026-07-28, which FastMCP also speaks: a
client such as the Python SDK's Client(mode="auto") then uses server/discover and no session at all.)

Exits 0 on SIGTERM/SIGINT, and when its stdin (a pipe) reaches EOF, so a parent that dies never leaves
it running. Stdin that is not a pipe or socket (/dev/null, a terminal) is not watched.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import stat
import sys
import threading
import time

import uvicorn
from fastmcp import Context, FastMCP
from fastmcp.server.auth.providers.jwt import JWTVerifier
from fastmcp.server.dependencies import get_access_token
from fastmcp.utilities.auth import decode_jwt_header

ASSERTION_TYP = "mcpctl-identity+jwt"

ap = argparse.ArgumentParser(description="FastMCP upstream for mcpctl's gateway mode (see the module docstring)")
ap.add_argument("--port", type=int, default=0)
ap.add_argument("--issuer", required=True, help="expected iss (mcpctl's issuer)")
ap.add_argument("--audience", required=True,
                help="expected aud (the gateway's default: the upstream URL as passed to --upstream); "
                     "'self' = http://127.0.0.1:PORT/mcp, this server's own URL once the port is known")
ap.add_argument("--jwks-url", required=True, help="mcpctl's JWKS, <issuer>/.well-known/jwks.json")
ap.add_argument("--record", help="append one JSON line per HTTP request to this file")
ap.add_argument("--stateless", action="store_true", help="FastMCP stateless_http=True (no Mcp-Session-Id, no GET stream)")
ap.add_argument("--verbose", action="store_true")
args = ap.parse_args()


def log(msg: str) -> None:
    print(f"upstream-fastmcp: {msg}", file=sys.stderr, flush=True)


class AssertionVerifier(JWTVerifier):
    """JWTVerifier (signature via JWKS, iss, aud, exp, nbf) + typ and a mandatory exp."""

    async def load_access_token(self, token: str):
        try:
            typ = decode_jwt_header(token).get("typ")
        except Exception:  # noqa: BLE001 - not a JWT at all
            return None
        if typ != ASSERTION_TYP:
            log(f"rejected: JOSE header typ={typ!r}, want {ASSERTION_TYP!r}")
            return None
        at = await super().load_access_token(token)
        if at is None or not isinstance((at.claims or {}).get("exp"), (int, float)):
            return None
        return at


# The listening socket comes first so that --audience self can name the port.
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", args.port))
port = sock.getsockname()[1]
audience = f"http://127.0.0.1:{port}/mcp" if args.audience == "self" else args.audience

verifier = AssertionVerifier(jwks_uri=args.jwks_url, issuer=args.issuer, audience=audience, algorithm="ES256")
mcp = FastMCP("upstream-fastmcp", auth=verifier)


@mcp.tool
def echo(text: str) -> str:
    """Returns its argument."""
    return text


@mcp.tool
def whoami() -> str:
    """The verified gateway assertion's claims, as JSON."""
    tok = get_access_token()
    claims = dict(tok.claims) if tok is not None and tok.claims else {}
    keys = ["sub", "client_id", "scope", "kind", "aud", "iss", "name", "email", "groups"]
    return json.dumps({k: claims[k] for k in keys if k in claims})


@mcp.tool
async def count(ctx: Context, steps: int = 3) -> str:
    """Counts to steps, one progress notification per step."""
    for i in range(1, steps + 1):
        await ctx.report_progress(i, steps, f"step {i}/{steps}")
        await asyncio.sleep(0.05)
    return f"counted {steps}"


class Recorder:
    """ASGI middleware in front of everything (auth included): one JSON line per HTTP request."""

    def __init__(self, app, path: str | None):
        self.app = app
        self.path = path

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            h: dict[str, str] = {}
            for k, v in scope.get("headers", []):
                h.setdefault(k.decode("latin-1").lower(), v.decode("latin-1"))
            if args.verbose:
                log(f"{scope['method']} {scope['path']} session={h.get('mcp-session-id')}")
            if self.path:
                line = {"method": scope["method"], "path": scope["path"], "authorization": h.get("authorization"),
                        "mcp_session_id": h.get("mcp-session-id"), "mcp_protocol_version": h.get("mcp-protocol-version"),
                        "accept": h.get("accept"), "content_type": h.get("content-type"), "last_event_id": h.get("last-event-id"),
                        "mcp_method": h.get("mcp-method"), "mcp_name": h.get("mcp-name")}
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(line) + "\n")
        await self.app(scope, receive, send)


def stdin_is_pipe() -> bool:
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


async def main() -> int:
    t0 = time.monotonic()
    app = Recorder(mcp.http_app(path="/mcp", stateless_http=args.stateless), args.record)
    config = uvicorn.Config(app, log_level="info" if args.verbose else "warning", lifespan="on", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # ours below
    loop = asyncio.get_running_loop()

    def stop(why: str) -> None:
        log(f"{why}: shutting down")
        server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, sig.name)
    if stdin_is_pipe():
        def watch_stdin() -> None:
            try:
                while os.read(sys.stdin.fileno(), 4096):
                    pass
            except OSError:
                pass
            loop.call_soon_threadsafe(stop, "stdin closed")
        threading.Thread(target=watch_stdin, daemon=True).start()

    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            log("server failed to start")
            return 1
        await asyncio.sleep(0.005)
    print(json.dumps({"listening": f"127.0.0.1:{port}"}, separators=(",", ":")), flush=True)
    log(f"listening on http://127.0.0.1:{port}/mcp ({'stateless' if args.stateless else 'stateful'}) in {1000 * (time.monotonic() - t0):.0f} ms "
        f"since main(); iss={args.issuer} aud={audience} jwks={args.jwks_url}")
    await task
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
