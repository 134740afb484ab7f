#!/usr/bin/env node
// An upstream MCP server for mcpctl's gateway mode, written with the official TypeScript SDK
// (@modelcontextprotocol/sdk 1.32.2): McpServer + StreamableHTTPServerTransport, stateful.
//
//   node tests/harness/upstream-ts.mjs --port 0 --issuer URL --audience AUD|self --jwks-url URL [--record FILE] [--verbose]
//
// --audience self: the expected aud is this server's own URL, http://127.0.0.1:PORT/mcp (what mcpctl's gateway
// uses by default for `--upstream http://127.0.0.1:PORT/mcp`), for callers that use --port 0.
// Listens on 127.0.0.1 (--port 0 picks a free port), Streamable HTTP at /mcp, as the SDK's own stateful
// example (simpleStreamableHttp) does: sessionIdGenerator = randomUUID, one transport (and McpServer) per
// session; POST (initialize opens a session, later requests carry Mcp-Session-Id), GET (the session's
// SSE stream), DELETE (ends the session). A request for an unknown session gets 404.
// Stdout gets exactly one line once it accepts connections: {"listening":"127.0.0.1:PORT"}. Logs: stderr.
//
// Auth: the SDK's requireBearerAuth middleware with a verifier built on jose (createRemoteJWKSet + jwtVerify:
// issuer, audience, algorithms ES256, JOSE typ "mcpctl-identity+jwt", exp required). No or a bad assertion:
// 401 with WWW-Authenticate: Bearer error="invalid_token". A session is bound to the (iss, sub, client_id)
// that opened it (like the Python SDK's session manager): another principal gets 404 for it.
//
// Tools: echo(text) -> text; whoami() -> JSON of the verified claims (sub, client_id, scope, kind, aud, iss,
// and name/email/groups when present); count(steps=3) -> "counted N", one notifications/progress per step
// (extra.sendNotification with extra._meta.progressToken, 50 ms apart) when the call has a progressToken.
//
// --record FILE: one JSON line appended per HTTP request, before auth:
//   {"method":"POST","path":"/mcp","authorization":"Bearer …"|null,"mcp_session_id":…|null,
//    "mcp_protocol_version":…|null,"accept":…|null,"content_type":…|null,"last_event_id":…|null,"mcp_method":…|null,"mcp_name":…|null}
// (this SDK speaks protocol 2025-11-25 and earlier: no server/discover, Mcp-Method and Mcp-Name are only recorded)
//
// Exits 0 on SIGTERM/SIGINT and when stdin (a pipe) reaches EOF, so a parent that dies never leaves it
// running. Stdin that is not a pipe or socket (/dev/null, a terminal) is not watched.
import http from 'node:http';
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { z } from 'zod';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';

const t0 = performance.now();
const argv = process.argv.slice(2);
const opt = (n, d) => { const i = argv.indexOf(n); return i >= 0 && i + 1 < argv.length ? argv[i + 1] : d; };
const has = (n) => argv.includes(n);
const usage = 'usage: node upstream-ts.mjs --port 0 --issuer URL --audience AUD|self --jwks-url URL [--record FILE] [--verbose]';
if (has('--help') || has('-h')) { console.log(usage); process.exit(0); }
const PORT = Number(opt('--port', '0'));
const ISSUER = opt('--issuer'), AUDIENCE_ARG = opt('--audience'), JWKS_URL = opt('--jwks-url'), RECORD = opt('--record');
const VERBOSE = has('--verbose');
let AUDIENCE = AUDIENCE_ARG; // 'self': set once the port is known, before the first request is served
if (!ISSUER || !AUDIENCE_ARG || !JWKS_URL || !Number.isInteger(PORT)) { console.error(usage); process.exit(2); }
const log = (m) => process.stderr.write(`upstream-ts: ${m}\n`);
const ASSERTION_TYP = 'mcpctl-identity+jwt';

// ---- the assertion verifier (requireBearerAuth calls verifyAccessToken; it must throw InvalidTokenError,
// any other error becomes a 500) ----
const jwks = createRemoteJWKSet(new URL(JWKS_URL));
const verifier = {
  async verifyAccessToken(token) {
    let payload;
    try {
      ({ payload } = await jwtVerify(token, jwks, {
        issuer: ISSUER, audience: AUDIENCE, algorithms: ['ES256'], typ: ASSERTION_TYP, requiredClaims: ['exp', 'sub', 'client_id'],
      }));
    } catch (e) {
      if (VERBOSE) log(`rejected: ${e.code ?? e.name}: ${e.message}`);
      throw new InvalidTokenError(`assertion rejected (${e.code ?? e.name})`);
    }
    return {
      token, clientId: String(payload.client_id), scopes: String(payload.scope ?? '').split(' ').filter(Boolean),
      expiresAt: payload.exp, extra: { claims: payload },
    };
  },
};

// ---- one McpServer per session ----
function newServer() {
  const server = new McpServer({ name: 'upstream-ts', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.registerTool('echo', { description: 'Returns its argument.', inputSchema: { text: z.string() } },
    async ({ text }) => ({ content: [{ type: 'text', text }] }));
  server.registerTool('whoami', { description: "The verified gateway assertion's claims, as JSON." }, async (extra) => {
    const c = extra.authInfo?.extra?.claims ?? {};
    const out = Object.fromEntries(['sub', 'client_id', 'scope', 'kind', 'aud', 'iss', 'name', 'email', 'groups'].filter((k) => k in c).map((k) => [k, c[k]]));
    return { content: [{ type: 'text', text: JSON.stringify(out) }] };
  });
  server.registerTool('count', { description: 'Counts to steps, one progress notification per step.', inputSchema: { steps: z.number().int().min(0).max(1000).default(3) } },
    async ({ steps }, extra) => {
      const progressToken = extra._meta?.progressToken;
      for (let i = 1; i <= steps; i++) {
        if (progressToken !== undefined) {
          await extra.sendNotification({ method: 'notifications/progress', params: { progressToken, progress: i, total: steps, message: `step ${i}/${steps}` } });
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      return { content: [{ type: 'text', text: `counted ${steps}` }] };
    });
  return server;
}

const principal = (auth) => { const c = auth?.extra?.claims ?? {}; return JSON.stringify([c.iss, c.sub, c.client_id]); };
const sessions = new Map(); // session id -> { transport, owner }
const notFound = (res) => res.status(404).json({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
const sessionFor = (req, res) => {
  const sid = req.headers['mcp-session-id'];
  if (!sid) { res.status(400).json({ jsonrpc: '2.0', error: { code: -32000, message: 'Bad Request: No valid session ID provided' }, id: null }); return undefined; }
  const s = sessions.get(sid);
  if (!s || s.owner !== principal(req.auth)) { notFound(res); return undefined; }
  return s;
};

const app = createMcpExpressApp({ host: '127.0.0.1' });
const auth = requireBearerAuth({ verifier });

app.post('/mcp', auth, async (req, res) => {
  try {
    if (req.headers['mcp-session-id']) {
      const s = sessionFor(req, res);
      if (s) await s.transport.handleRequest(req, res, req.body);
      return;
    }
    if (!isInitializeRequest(req.body)) {
      res.status(400).json({ jsonrpc: '2.0', error: { code: -32000, message: 'Bad Request: No valid session ID provided' }, id: null });
      return;
    }
    const owner = principal(req.auth);
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (sid) => { sessions.set(sid, { transport, owner }); if (VERBOSE) log(`session ${sid} opened by ${owner}`); },
    });
    transport.onclose = () => { if (transport.sessionId) sessions.delete(transport.sessionId); };
    await newServer().connect(transport);
    await transport.handleRequest(req, res, req.body);
  } catch (e) {
    log(`error handling POST /mcp: ${e?.stack ?? e}`);
    if (!res.headersSent) res.status(500).json({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal server error' }, id: null });
  }
});
app.get('/mcp', auth, async (req, res) => { const s = sessionFor(req, res); if (s) await s.transport.handleRequest(req, res); });
app.delete('/mcp', auth, async (req, res) => { const s = sessionFor(req, res); if (s) await s.transport.handleRequest(req, res); });

// ---- the record file: every request, before Host validation and auth ----
const recordFd = RECORD ? fs.openSync(RECORD, 'a') : undefined;
const h1 = (v) => (v === undefined ? null : Array.isArray(v) ? v.join(', ') : v);
const httpServer = http.createServer((req, res) => {
  if (VERBOSE) log(`${req.method} ${req.url} session=${req.headers['mcp-session-id'] ?? '-'}`);
  if (recordFd !== undefined) {
    const h = req.headers;
    fs.writeSync(recordFd, JSON.stringify({
      method: req.method, path: new URL(req.url, 'http://x').pathname, authorization: h1(h.authorization), mcp_session_id: h1(h['mcp-session-id']),
      mcp_protocol_version: h1(h['mcp-protocol-version']), accept: h1(h.accept), content_type: h1(h['content-type']), last_event_id: h1(h['last-event-id']),
      mcp_method: h1(h['mcp-method']), mcp_name: h1(h['mcp-name']),
    }) + '\n');
  }
  app(req, res);
});

let stopping = false;
function stop(why) {
  if (stopping) return;
  stopping = true;
  log(`${why}: shutting down`);
  for (const { transport } of sessions.values()) transport.close().catch(() => {});
  httpServer.closeAllConnections?.();
  httpServer.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 500).unref();
}
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => stop(sig));
try {
  const st = fs.fstatSync(0);
  if (st.isFIFO() || st.isSocket()) {
    process.stdin.on('data', () => {});
    process.stdin.on('end', () => stop('stdin closed'));
    process.stdin.on('error', () => stop('stdin error'));
  }
} catch { /* no stdin */ }

httpServer.listen(PORT, '127.0.0.1', () => {
  const { port } = httpServer.address();
  if (AUDIENCE_ARG === 'self') AUDIENCE = `http://127.0.0.1:${port}/mcp`;
  process.stdout.write(`${JSON.stringify({ listening: `127.0.0.1:${port}` })}\n`);
  log(`listening on http://127.0.0.1:${port}/mcp (stateful) in ${(performance.now() - t0).toFixed(0)} ms since start of the module; iss=${ISSUER} aud=${AUDIENCE} jwks=${JWKS_URL}`);
});
httpServer.on('error', (e) => { log(`listen failed: ${e.message}`); process.exit(1); });
