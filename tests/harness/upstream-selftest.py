#!/usr/bin/env python3
"""Self-test of the gateway upstreams (upstream-fastmcp.py, upstream-ts.mjs) without mcpctl.

  tests/harness/.venv/bin/python tests/harness/upstream-selftest.py [--only fastmcp|fastmcp-stateless|ts] [--keep] [--verbose]

It plays mcpctl's part: generates P-256 keys, serves a JWKS on a loopback port (issuer
http://127.0.0.1:N, JWKS at <issuer>/.well-known/jwks.json), starts each upstream with --record
(--audience self, i.e. http://127.0.0.1:PORT/mcp), mints gateway assertions exactly as mcpctl does
(ES256, kid, typ "mcpctl-identity+jwt"; iss, aud, sub, client_id, scope, kind, iat, nbf, exp = iat + 60,
jti, name, email, groups; a fresh one for every request) and checks over plain HTTP (httpx2):
  - 401 without Authorization, and for a wrong aud, wrong iss, expired, wrong typ, unknown key;
  - initialize, tools/list (3 tools), tools/call whoami (claims echoed), tools/call count with a
    progressToken (progress notifications on the SSE response, streamed, before the result);
  - sessions (stateful servers): Mcp-Session-Id issued, used by every later request, the GET SSE stream,
    another principal gets 404, DELETE ends it (then 404);
  - the record file: one line per request sent, in order, with exactly the Authorization,
    Mcp-Session-Id and MCP-Protocol-Version that were sent;
  - the Accept headers each server wants (INFO lines) and the start-up time (spawn to ready line).
One line per check: [PASS|FAIL|INFO] ...; last line "N passed, N failed"; exit 0 iff no failure.
Files (record, server logs) under tests/harness/.work/upstream-selftest/ (removed unless --keep or a failure).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

HERE = os.path.dirname(os.path.abspath(__file__))
TYP = "mcpctl-identity+jwt"
ACCEPT = "application/json, text/event-stream"

ap = argparse.ArgumentParser()
ap.add_argument("--only", choices=["fastmcp", "fastmcp-stateless", "ts"], action="append")
ap.add_argument("--keep", action="store_true", help="keep .work/upstream-selftest/")
ap.add_argument("--verbose", action="store_true")
ap.add_argument("--timeout", type=float, default=15.0)
args = ap.parse_args()

results: list[str] = []
section = ""


def record(status: str, name: str, detail: str = "") -> bool:
    results.append(status)
    print(f"[{status}] {section}{name}" + (f" -- {detail}" if detail else ""), flush=True)
    return status == "PASS"


def check(cond, name: str, detail: str = "") -> bool:
    return record("PASS" if cond else "FAIL", name, detail)


def info(name: str, detail: str = "") -> None:
    record("INFO", name, detail)


# ---------------- the issuer's keys and JWKS ----------------
class Keys:
    def __init__(self):
        self.signing = ec.generate_private_key(ec.SECP256R1())
        self.other = ec.generate_private_key(ec.SECP256R1())  # also in the JWKS, never signs (kid selection)
        self.rogue = ec.generate_private_key(ec.SECP256R1())  # not in the JWKS
        self.kid, self.other_kid = "k-" + uuid.uuid4().hex[:12], "k-" + uuid.uuid4().hex[:12]

    def jwks(self) -> dict:
        out = []
        for key, kid in ((self.other, self.other_kid), (self.signing, self.kid)):
            j = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
            j.update({"kid": kid, "alg": "ES256", "use": "sig"})
            out.append(j)
        return {"keys": out}


KEYS = Keys()
jwks_hits = [0]


class JwksHandler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        if self.path != "/.well-known/jwks.json":
            self.send_response(404)
            self.end_headers()
            return
        jwks_hits[0] += 1
        body = json.dumps(KEYS.jwks()).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


jwks_server = ThreadingHTTPServer(("127.0.0.1", 0), JwksHandler)
threading.Thread(target=jwks_server.serve_forever, daemon=True).start()
ISSUER = f"http://127.0.0.1:{jwks_server.server_address[1]}"
JWKS_URL = f"{ISSUER}/.well-known/jwks.json"

PERSON = {"sub": "alice-0001", "client_id": "mcp_client_e2e", "scope": "mcp:tools profile", "kind": "person",
          "name": "Alice Liddell", "email": "alice@example.com", "groups": ["mcp-users", "admins"]}


def mint(aud: str, **over) -> str:
    """A gateway assertion as mcpctl mints it; keyword overrides: claims, or _key/_kid/_typ/_alg for the header."""
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": aud, **PERSON, "iat": now, "nbf": now, "exp": now + 60, "jti": uuid.uuid4().hex}
    key, kid, typ = over.pop("_key", KEYS.signing), over.pop("_kid", KEYS.kid), over.pop("_typ", TYP)
    for k, v in over.items():
        if v is None:
            claims.pop(k, None)
        else:
            claims[k] = v
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid, "typ": typ})


# ---------------- the servers ----------------
class Upstream:
    def __init__(self, name: str, argv: list[str], workdir: str):
        self.name, self.workdir = name, workdir
        self.record_path = os.path.join(workdir, f"{name}.record.jsonl")
        self.log_path = os.path.join(workdir, f"{name}.stderr.log")
        self.sent: list[dict] = []  # what we sent, to compare with the record file
        full = argv + ["--port", "0", "--issuer", ISSUER, "--audience", "self", "--jwks-url", JWKS_URL, "--record", self.record_path]
        self.log = open(self.log_path, "w")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(full, cwd=HERE, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = [None]
        th = threading.Thread(target=lambda: line.__setitem__(0, self.proc.stdout.readline()), daemon=True)
        th.start()
        th.join(args.timeout)
        self.startup_ms = 1000 * (time.monotonic() - t0)
        self.ready_line = (line[0] or "").rstrip("\n")
        try:
            self.addr = json.loads(self.ready_line)["listening"]
        except (ValueError, KeyError, TypeError):
            self.addr = None
        self.url = f"http://{self.addr}/mcp" if self.addr else None
        # the rest of stdout must stay empty: drain it, to check later
        self.extra_stdout: list[str] = []
        threading.Thread(target=lambda: self.extra_stdout.extend(self.proc.stdout), daemon=True).start()

    def stop(self) -> tuple[int | None, float]:
        """Close stdin (the parent-death signal) and wait; SIGTERM/SIGKILL by PID as a fallback."""
        t0 = time.monotonic()
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            rc = self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                rc = self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
            rc = None
        self.log.close()
        return rc, 1000 * (time.monotonic() - t0)

    def records(self) -> list[dict]:
        try:
            with open(self.record_path, encoding="utf-8") as f:
                return [json.loads(x) for x in f if x.strip()]
        except FileNotFoundError:
            return []


http = httpx2.Client(timeout=args.timeout)


def send(up: Upstream, method: str, token: str | None = None, body=None, session: str | None = None,
         proto: str | None = None, accept: str | None = ACCEPT, stream: bool = False, extra: dict | None = None):
    headers = dict(extra or {})
    if accept is not None:
        headers["accept"] = accept
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    if session is not None:
        headers["mcp-session-id"] = session
    if proto is not None:
        headers["mcp-protocol-version"] = proto
    content = None
    if body is not None:
        headers["content-type"] = "application/json"
        content = json.dumps(body)
    up.sent.append({"method": method, "authorization": headers.get("authorization"), "mcp_session_id": session, "mcp_protocol_version": proto,
                    "mcp_method": headers.get("mcp-method"), "mcp_name": headers.get("mcp-name")})
    req = http.build_request(method, up.url, headers=headers, content=content)
    return contextlib.closing(http.send(req, stream=stream))  # httpx2's Response is no context manager


def read_events(resp) -> list[tuple[float, dict]]:
    """(arrival time, JSON-RPC message) for an SSE or a JSON response, read as it streams."""
    out: list[tuple[float, dict]] = []
    ctype = resp.headers.get("content-type", "")
    if "text/event-stream" in ctype:
        data: list[str] = []
        for line in resp.iter_lines():
            if line == "":
                if data:
                    try:
                        out.append((time.monotonic(), json.loads("\n".join(data))))
                    except ValueError:
                        pass
                data = []
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
        if data:
            out.append((time.monotonic(), json.loads("\n".join(data))))
    else:
        raw = resp.read()
        if raw.strip():
            msg = json.loads(raw)
            for m in (msg if isinstance(msg, list) else [msg]):
                out.append((time.monotonic(), m))
    return out


def rpc(up: Upstream, token: str, method: str, params=None, rid=None, session=None, proto=None, extra=None):
    """POST one JSON-RPC request; returns (status, headers, [(t, msg)])."""
    body = {"jsonrpc": "2.0", "method": method}
    if rid is not None:
        body["id"] = rid
    if params is not None:
        body["params"] = params
    with send(up, "POST", token, body, session=session, proto=proto, stream=True, extra=extra) as r:
        return r.status_code, r.headers, read_events(r)


def result_of(events, rid):
    return next((m for _, m in events if m.get("id") == rid and ("result" in m or "error" in m)), None)


def init_params():
    return {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "upstream-selftest", "version": "1"}}


# ---------------- one server ----------------
def run_server(name: str, argv: list[str], workdir: str, stateful: bool, is_ts: bool) -> None:
    global section
    section = f"[{name}] "
    up = Upstream(name, argv, workdir)
    try:
        if not check(up.addr is not None, "ready line on stdout", f"{up.ready_line!r} after {up.startup_ms:.0f} ms"):
            return
        check(up.ready_line == json.dumps({"listening": up.addr}, separators=(",", ":")) and up.addr.startswith("127.0.0.1:"),
              'ready line is exactly {"listening":"127.0.0.1:PORT"}', up.ready_line)
        info("start-up time (spawn to ready line)", f"{up.startup_ms:.0f} ms")
        aud = up.url

        # --- 401s ---
        with send(up, "POST", None, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init_params()}) as r:
            r.read()
            check(r.status_code == 401, "no Authorization -> 401", f"HTTP {r.status_code} WWW-Authenticate: {r.headers.get('www-authenticate')}")
            check(r.headers.get("www-authenticate", "").lower().startswith("bearer"), "401 carries WWW-Authenticate: Bearer", r.headers.get("www-authenticate", "(missing)"))
        for label, tok in [("wrong aud", mint(aud + "/other")), ("wrong iss", mint(aud, iss="http://127.0.0.1:1")),
                           ("expired", mint(aud, iat=int(time.time()) - 120, nbf=int(time.time()) - 120, exp=int(time.time()) - 60)),
                           ("wrong typ (at+jwt)", mint(aud, _typ="at+jwt")), ("no exp", mint(aud, exp=None)),
                           ("signed by a key not in the JWKS", mint(aud, _key=KEYS.rogue)),
                           ("kid of the other JWKS key", mint(aud, _kid=KEYS.other_kid)), ("not a JWT", "opaque-client-token")]:
            with send(up, "POST", tok, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init_params()}) as r:
                r.read()
                check(r.status_code == 401, f"{label} -> 401", f"HTTP {r.status_code}")

        # --- initialize ---
        st, hd, ev = rpc(up, mint(aud), "initialize", init_params(), rid=1)
        res = result_of(ev, 1)
        ok = check(st == 200 and res is not None and "result" in res, "valid assertion: initialize -> 200 with a result",
                   f"HTTP {st} {hd.get('content-type')} server={((res or {}).get('result') or {}).get('serverInfo')}")
        if not ok:
            info("initialize response", json.dumps([m for _, m in ev])[:400])
            return
        proto = res["result"].get("protocolVersion")
        info("initialize", f"protocolVersion={proto} content-type={hd.get('content-type')}")
        sid = hd.get("mcp-session-id")
        if stateful:
            check(bool(sid), "initialize response carries Mcp-Session-Id", str(sid))
        else:
            check(sid is None, "stateless: no Mcp-Session-Id", str(sid))
        st, _, _ = rpc(up, mint(aud), "notifications/initialized", session=sid, proto=proto)
        check(st == 202, "notifications/initialized -> 202", f"HTTP {st}")

        # --- tools ---
        st, _, ev = rpc(up, mint(aud), "tools/list", {}, rid=2, session=sid, proto=proto)
        res = result_of(ev, 2)
        names = sorted(t["name"] for t in ((res or {}).get("result") or {}).get("tools", []))
        check(names == ["count", "echo", "whoami"], "tools/list: echo, whoami, count", f"HTTP {st} {names}")

        st, _, ev = rpc(up, mint(aud), "tools/call", {"name": "echo", "arguments": {"text": "héllo gateway"}}, rid=3, session=sid, proto=proto)
        r = (result_of(ev, 3) or {}).get("result") or {}
        text = "".join(c.get("text", "") for c in r.get("content", []))
        check(text == "héllo gateway" and not r.get("isError"), "tools/call echo", repr(text))

        tok = mint(aud)
        st, _, ev = rpc(up, tok, "tools/call", {"name": "whoami", "arguments": {}}, rid=4, session=sid, proto=proto)
        r = (result_of(ev, 4) or {}).get("result") or {}
        text = "".join(c.get("text", "") for c in r.get("content", []))
        try:
            who = json.loads(text)
        except ValueError:
            who = {}
        want = {"sub": PERSON["sub"], "client_id": PERSON["client_id"], "scope": PERSON["scope"], "kind": "person", "aud": aud, "iss": ISSUER}
        check(all(who.get(k) == v for k, v in want.items()), "tools/call whoami echoes sub, client_id, scope, kind, aud, iss", text[:300])
        check(who.get("email") == PERSON["email"] and who.get("groups") == PERSON["groups"] and who.get("name") == PERSON["name"],
              "whoami also has the optional name, email, groups", text[:300])

        # --- progress ---
        t_sent = time.monotonic()
        st, hd, ev = rpc(up, mint(aud), "tools/call", {"name": "count", "arguments": {"steps": 4}, "_meta": {"progressToken": "p-42"}},
                         rid=5, session=sid, proto=proto)
        prog = [(t, m) for t, m in ev if m.get("method") == "notifications/progress"]
        idx_res = next((i for i, (_, m) in enumerate(ev) if m.get("id") == 5), None)
        res = result_of(ev, 5)
        text = "".join(c.get("text", "") for c in ((res or {}).get("result") or {}).get("content", []))
        check("text/event-stream" in hd.get("content-type", ""), "tools/call count with a progressToken answers with SSE", hd.get("content-type", ""))
        check(len(prog) == 4 and all(m["params"].get("progressToken") == "p-42" for _, m in prog)
              and [m["params"].get("progress") for _, m in prog] == [1, 2, 3, 4],
              "4 notifications/progress with our progressToken, progress 1..4",
              json.dumps([m["params"] for _, m in prog])[:300])
        check(idx_res is not None and all(ev.index(p) < idx_res for p in prog) and text == "counted 4",
              "the progress notifications come before the result \"counted 4\"", f"result={text!r}")
        if prog and idx_res is not None:
            lead = 1000 * (ev[idx_res][0] - prog[0][0])
            check(lead >= 100, "progress is streamed (first notification >= 100 ms before the result)",
                  f"first progress at +{1000 * (prog[0][0] - t_sent):.0f} ms, result at +{1000 * (ev[idx_res][0] - t_sent):.0f} ms")
        st, _, ev = rpc(up, mint(aud), "tools/call", {"name": "count", "arguments": {}}, rid=6, session=sid, proto=proto)
        res = result_of(ev, 6)
        text = "".join(c.get("text", "") for c in ((res or {}).get("result") or {}).get("content", []))
        prog = [m for _, m in ev if m.get("method") == "notifications/progress"]
        check(text == "counted 3" and not prog, "count without a progressToken: default 3 steps, no notifications", f"{text!r}, {len(prog)} notifications")

        # --- sessions ---
        if stateful:
            st, _, ev = rpc(up, mint(aud), "tools/list", {}, rid=7, session="no-such-session", proto=proto)
            check(st == 404, "unknown Mcp-Session-Id -> 404", f"HTTP {st}")
            st, _, ev = rpc(up, mint(aud, sub="mallory-0003"), "tools/list", {}, rid=8, session=sid, proto=proto)
            check(st == 404, "the session with another principal's assertion (other sub) -> 404", f"HTTP {st}")
            st, _, ev = rpc(up, mint(aud), "tools/list", {}, rid=9, proto=proto)
            check(st == 400, "a non-initialize request without Mcp-Session-Id -> 400", f"HTTP {st}")
            with send(up, "GET", mint(aud), session=sid, proto=proto, accept="text/event-stream", stream=True) as r:
                check(r.status_code == 200 and "text/event-stream" in r.headers.get("content-type", ""),
                      "GET /mcp with the session opens the SSE stream", f"HTTP {r.status_code} {r.headers.get('content-type')}")
            with send(up, "GET", None, session=sid, proto=proto, accept="text/event-stream") as r:
                check(r.status_code == 401, "GET /mcp without Authorization -> 401", f"HTTP {r.status_code}")
            with send(up, "DELETE", None, session=sid, proto=proto) as r:
                check(r.status_code == 401, "DELETE /mcp without Authorization -> 401", f"HTTP {r.status_code}")
            with send(up, "DELETE", mint(aud), session=sid, proto=proto) as r:
                check(r.status_code in (200, 204), "DELETE /mcp with the session ends it", f"HTTP {r.status_code}")
            st, _, _ = rpc(up, mint(aud), "tools/list", {}, rid=10, session=sid, proto=proto)
            check(st == 404, "the session after DELETE -> 404", f"HTTP {st}")

        # --- protocol 2026-07-28 (FastMCP only): sessionless, routed by Mcp-Method / Mcp-Name ---
        if not is_ts:
            check_modern(up, aud)

        # --- Accept header requirements (informational) ---
        verdict = []
        for acc in ["application/json", "text/event-stream", "*/*", None]:
            st, hd, ev = rpc_accept(up, mint(aud), acc)
            verdict.append(f"{acc!r}: {st}")
        info("POST initialize with other Accept headers", "; ".join(verdict))

        # --- the record file ---
        time.sleep(0.1)
        recs = up.records()
        check(len(recs) == len(up.sent), "record file: one line per request sent", f"{len(recs)} lines, {len(up.sent)} requests")
        keys = ["method", "authorization", "mcp_session_id", "mcp_protocol_version", "mcp_method", "mcp_name"]
        mism = [(i, s, r) for i, (s, r) in enumerate(zip(up.sent, recs)) if any(s[k] != r.get(k) for k in keys) or r.get("path") != "/mcp"]
        check(not mism and len(recs) == len(up.sent), "record file: method, path, Authorization, Mcp-Session-Id, MCP-Protocol-Version, Mcp-Method, Mcp-Name as sent, in order",
              "all match" if not mism else f"first mismatch #{mism[0][0]}: sent {mism[0][1]} recorded {mism[0][2]}")
        need = {"method", "path", "authorization", "mcp_session_id", "mcp_protocol_version"}
        check(all(need <= set(r) for r in recs) and all(r["authorization"] is None or r["authorization"].startswith("Bearer ") for r in recs),
              "record lines have the five keys; authorization is the raw header or null", json.dumps(recs[0])[:200] if recs else "(none)")
        check(not up.extra_stdout, "nothing but the ready line on stdout", repr(up.extra_stdout[:3]))
    finally:
        rc, ms = up.stop()
        check(rc == 0, "exits 0 when its stdin is closed (the parent is gone)", f"rc={rc} after {ms:.0f} ms")
    # SIGTERM, on a second instance (its start-up time is a second sample)
    up2 = Upstream(name + "-sigterm", argv, workdir)
    if up2.addr:
        up2.proc.terminate()
        try:
            rc = up2.proc.wait(5)
        except subprocess.TimeoutExpired:
            rc = None
        check(rc == 0, "exits 0 on SIGTERM", f"rc={rc}; this instance started in {up2.startup_ms:.0f} ms")
    else:
        check(False, "exits 0 on SIGTERM", f"second instance did not start: {up2.ready_line!r}")
    up2.stop()
    if results.count("FAIL"):
        info("logs", f"{up.log_path}, {up2.log_path}")


MODERN = "2026-07-28"


def check_modern(up: Upstream, aud: str) -> None:
    """What the Python SDK's Client(mode="auto") does with FastMCP: server/discover, no session."""
    meta = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
    hdr = lambda method, name=None: {"mcp-method": method, **({"mcp-name": name} if name else {})}  # noqa: E731
    st, hd, ev = rpc(up, mint(aud), "server/discover", {"_meta": meta}, rid=21, proto=MODERN, extra=hdr("server/discover"))
    res = (result_of(ev, 21) or {}).get("result") or {}
    check(st == 200 and MODERN in res.get("supportedVersions", []) and hd.get("mcp-session-id") is None,
          f"{MODERN}: server/discover -> 200, no Mcp-Session-Id", f"HTTP {st} supportedVersions={res.get('supportedVersions')}")
    st, _, ev = rpc(up, mint(aud), "tools/list", {"_meta": meta}, rid=22, proto=MODERN)
    err = (result_of(ev, 22) or {}).get("error") or {}
    check(st == 400 and "mcp-method" in str(err.get("message", "")).lower(), f"{MODERN}: a request without the Mcp-Method header -> 400",
          f"HTTP {st} {err.get('message')}")
    st, hd, ev = rpc(up, mint(aud), "tools/call", {"name": "count", "arguments": {"steps": 2}, "_meta": {**meta, "progressToken": 7}},
                     rid=23, proto=MODERN, extra=hdr("tools/call", "count"))
    prog = [m for _, m in ev if m.get("method") == "notifications/progress"]
    res = (result_of(ev, 23) or {}).get("result") or {}
    text = "".join(c.get("text", "") for c in res.get("content", []))
    check(len(prog) == 2 and text == "counted 2" and [m for _, m in ev][-1].get("id") == 23,
          f"{MODERN}: tools/call count (Mcp-Name: count) -> 2 progress notifications, then the result", f"{len(prog)} notifications, {text!r}")
    st, _, ev = rpc(up, mint(aud), "tools/call", {"name": "whoami", "arguments": {}, "_meta": meta}, rid=24, proto=MODERN,
                    extra=hdr("tools/call", "whoami"))
    text = "".join(c.get("text", "") for c in (((result_of(ev, 24) or {}).get("result") or {}).get("content", [])))
    check(f'"sub": "{PERSON["sub"]}"' in text and f'"aud": "{aud}"' in text, f"{MODERN}: tools/call whoami", text[:160])


def rpc_accept(up: Upstream, token: str, accept):
    with send(up, "POST", token, {"jsonrpc": "2.0", "id": 99, "method": "initialize", "params": init_params()}, accept=accept, stream=True) as r:
        return r.status_code, r.headers, read_events(r) if r.status_code == 200 else r.read()


def main() -> int:
    global section
    workdir = os.path.join(HERE, ".work", "upstream-selftest")
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir, exist_ok=True)
    py = sys.executable
    servers = [
        ("fastmcp", [py, os.path.join(HERE, "upstream-fastmcp.py")], True, False),
        ("fastmcp-stateless", [py, os.path.join(HERE, "upstream-fastmcp.py"), "--stateless"], False, False),
        ("ts", ["node", os.path.join(HERE, "upstream-ts.mjs")], True, True),
    ]
    t0 = time.monotonic()
    print(f"upstream-selftest: issuer {ISSUER}, JWKS {JWKS_URL} (kids {KEYS.other_kid}, {KEYS.kid}; signing with {KEYS.kid})", flush=True)
    for name, argv, stateful, is_ts in servers:
        if args.only and name not in args.only:
            continue
        if args.verbose:
            argv = argv + ["--verbose"]
        try:
            run_server(name, argv, workdir, stateful, is_ts)
        except Exception as e:  # noqa: BLE001 - a crash is a FAIL, never a hang
            record("FAIL", "unexpected error", f"{type(e).__name__}: {e}"[:400])
    section = ""
    info("JWKS fetches", str(jwks_hits[0]))
    passed, failed = results.count("PASS"), results.count("FAIL")
    if passed + failed == 0:
        record("FAIL", "checks ran", "no check was executed")
        failed = 1
    print(f"upstream-selftest: {time.monotonic() - t0:.1f} s", flush=True)
    if failed == 0 and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
