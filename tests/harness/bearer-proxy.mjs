#!/usr/bin/env node
// Loopback reverse proxy that adds `Authorization: Bearer <token>` to every request, so tools
// without OAuth support (the MCP conformance `server` suite, inspector-cli without --header) can
// be run against an OAuth-protected MCP endpoint.
//
//   node bearer-proxy.mjs --target https://HOST/stage/mcp [--port 8799 | --port 0 (any free loopback port)]
//        (--token TOKEN | env MCP_BEARER_TOKEN | --client-credentials [--client-id ID --client-secret S] [--scope S])
//
// --client-credentials: discovers PRM + AS metadata from the target with the TS SDK, registers a
// client (RFC 7591, grant_types=[client_credentials], client_secret_basic) unless --client-id/--client-secret
// are given, gets a token with the client_credentials grant and refreshes it 60 s before expiry.
// Prints "PROXY_URL=http://127.0.0.1:<port><target path>" once ready (the real port, also with --port 0)
// and "PROXY_PID=<pid>". Exits 0 on SIGTERM/SIGINT; exits 1 if no token could be minted at start-up. The Host header is rewritten to the
// target's host; Origin and all other headers are forwarded unchanged; bodies (incl. SSE) are streamed.
import http from 'node:http';
import https from 'node:https';
import { discoverOAuthServerInfo, registerClient, extractWWWAuthenticateParams } from '@modelcontextprotocol/sdk/client/auth.js';

const a = process.argv.slice(2);
const opt = (n, d) => { const i = a.indexOf(n); return i >= 0 ? a[i + 1] : d; };
if (!opt('--target')) { console.error('usage: node bearer-proxy.mjs --target <MCP URL> [--port N|0] (--token T | --client-credentials [--client-id ID --client-secret S] [--scope S])'); process.exit(2); }
const target = new URL(opt('--target'));
const PORT = Number(opt('--port', 8799));
const SCOPE = opt('--scope');
let token = opt('--token', process.env.MCP_BEARER_TOKEN);
let tokenExp = Infinity;
let cc;

async function clientCredentialsToken() {
  if (!cc) {
    // resource_metadata from the 401 challenge first (needed when origin-root well-knowns are unreachable,
    // e.g. an API Gateway stage prefix), then the SDK's well-known probing.
    const ch = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'ping' }) });
    const { resourceMetadataUrl } = ch.status === 401 ? extractWWWAuthenticateParams(ch) : {};
    await ch.text().catch(() => {});
    const info = await discoverOAuthServerInfo(target, { resourceMetadataUrl });
    const md = info.authorizationServerMetadata;
    if (!md?.token_endpoint) throw new Error('no token_endpoint in AS metadata');
    let id = opt('--client-id'), secret = opt('--client-secret');
    if (!id) {
      // Machine clients are the operator's: the registration carries the initial access token
      // (RFC 7591 §3) from MCP_INITIAL_ACCESS_TOKEN; anonymous DCR gets no client_credentials.
      const iat = process.env.MCP_INITIAL_ACCESS_TOKEN;
      const fetchFn = iat ? (url, init) => fetch(url, { ...init, headers: { ...(init?.headers ?? {}), authorization: `Bearer ${iat}` } }) : undefined;
      const reg = await registerClient(info.authorizationServerUrl, { metadata: md, fetchFn, clientMetadata: { client_name: 'bearer-proxy', redirect_uris: [], grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', ...(SCOPE ? { scope: SCOPE } : {}) } });
      id = reg.client_id; secret = reg.client_secret;
    }
    cc = { md, id, secret, resource: info.resourceMetadata?.resource };
  }
  const body = new URLSearchParams({ grant_type: 'client_credentials' });
  if (SCOPE) body.set('scope', SCOPE);
  if (cc.resource) body.set('resource', cc.resource);
  const res = await fetch(cc.md.token_endpoint, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', authorization: `Basic ${Buffer.from(`${encodeURIComponent(cc.id)}:${encodeURIComponent(cc.secret)}`).toString('base64')}` } });
  const j = await res.json().catch(() => ({}));
  if (!res.ok || !j.access_token) throw new Error(`token endpoint ${res.status}: ${JSON.stringify(j)}`);
  token = j.access_token;
  tokenExp = Date.now() + 1000 * (Number(j.expires_in) || 3600);
}

async function currentToken() {
  if (a.includes('--client-credentials') && (!token || Date.now() > tokenExp - 60_000)) await clientCredentialsToken();
  return token;
}

const HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'authorization']);
const server = http.createServer(async (req, res) => {
  let tok;
  try { tok = await currentToken(); } catch (e) { res.writeHead(502, { 'content-type': 'text/plain' }); return res.end(`bearer-proxy: cannot get token: ${e.message}`); }
  const headers = {};
  for (const [k, v] of Object.entries(req.headers)) if (!HOP.has(k)) headers[k] = v;
  headers.host = target.host;
  if (tok) headers.authorization = `Bearer ${tok}`;
  const lib = target.protocol === 'https:' ? https : http;
  const up = lib.request({ protocol: target.protocol, hostname: target.hostname, port: target.port || (target.protocol === 'https:' ? 443 : 80), method: req.method, path: req.url, headers }, (ur) => {
    const h = { ...ur.headers }; delete h.connection; delete h['transfer-encoding'];
    res.writeHead(ur.statusCode ?? 502, h);
    ur.pipe(res);
  });
  up.on('error', (e) => { if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }); res.end(`bearer-proxy upstream error: ${e.message}`); });
  req.pipe(up);
  res.on('close', () => up.destroy());
});
await currentToken().catch((e) => { console.error(`bearer-proxy: ${e.message}`); process.exit(1); });
if (!token) console.error('bearer-proxy: WARNING no token (use --token, MCP_BEARER_TOKEN or --client-credentials); forwarding unauthenticated');
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => { server.closeAllConnections?.(); server.close(() => process.exit(0)); setTimeout(() => process.exit(0), 500).unref(); });
server.on('error', (e) => { console.error(`bearer-proxy: listen failed: ${e.message}`); process.exit(1); });
server.listen(PORT, '127.0.0.1', () => console.log(`PROXY_URL=http://127.0.0.1:${server.address().port}${target.pathname}\nPROXY_PID=${process.pid}`));
