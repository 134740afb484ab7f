#!/usr/bin/env node
// End-to-end OAuth check of a remote MCP server using the REAL TypeScript MCP SDK client
// (@modelcontextprotocol/sdk: Client + StreamableHTTPClientTransport + auth() helpers).
//
//   node oauth-client-e2e.mjs --url https://HOST/mcp [--mode auth_code|client_credentials|both]
//        [--scope "mcp:tools"] [--tool NAME --tool-args '{"k":"v"}'] [--public | --confidential]
//        [--redirect-uri http://127.0.0.1:8976/callback] [--consent-submit]
//        [--client-id ID --client-secret SECRET]   (client_credentials: skip DCR, use these)
//        [--step-up-tool NAME --step-up-args JSON] (tool that answers 403 insufficient_scope first)
//        [--expect-jwt] [--no-negative] [--timeout-ms 20000] [--deadline-ms N] [--verbose]
//        [--browser chromium [--login L --password P] [--expect-consent] [--screenshot-dir DIR]]
//        [--expect-whoami-sub SUBSTRING] [--expect-whoami-email SUBSTRING]
//        [--progress-tool NAME [--progress-args JSON] [--min-progress N]]
//
// auth_code mode: 401 challenge -> RFC 9728 PRM -> RFC 8414 AS metadata -> RFC 7591 DCR ->
//   /authorize (PKCE S256, state, resource) followed headlessly: a 3xx whose Location starts with
//   the redirect_uri is captured (code, state, iss). An HTML page with a <form> is reported as a
//   consent form (FAIL unless --consent-submit, which submits it choosing an approve-like button,
//   carrying cookies). -> token exchange -> initialize, tools/list, tools/call -> refresh_token grant.
// --browser chromium: every authorization URL (the first one, step-up, and the negatives that need a
//   browser) is driven by browser-signin.mjs in real headless Chromium with JavaScript disabled: upstream
//   login page (--login/--password), upstream consent, OUR consent page (checked: strict CSP, no script,
//   client and scopes shown; approve clicked), until the redirect to --redirect-uri, which never reaches
//   the network. The code then goes through transport.finishAuth() exactly as in the fetch-based path.
// --expect-whoami-sub / --expect-whoami-email S: after connecting, call the `whoami` tool and FAIL unless
//   its text contains S; again with the access token from the refresh_token grant. (Both only check a
//   substring of whoami's JSON text; the flag name says which claim you mean.)
// --progress-tool NAME: after the tools/call of each mode, call NAME (arguments --progress-args, default {}) with
//   the SDK's onprogress option (a progressToken in _meta) and resetTimeoutOnProgress; PASS only if at least
//   --min-progress (default 1) notifications/progress arrived before the result and the result is no error.
// client_credentials mode: DCR with grant_types=[client_credentials], token_endpoint_auth_method=
//   client_secret_basic -> SDK ClientCredentialsProvider (HTTP Basic at the token endpoint) ->
//   initialize, tools/list, tools/call.
// Last line printed: "N passed, N failed". Exit code 0 iff 0 failed (WARN lines do not fail); 2 on bad usage.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  UnauthorizedError, discoverOAuthServerInfo, registerClient, refreshAuthorization,
  exchangeAuthorization, startAuthorization, extractWWWAuthenticateParams
} from '@modelcontextprotocol/sdk/client/auth.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { headlessAuthorize as headlessAuthorizeLib } from './headless-browser.mjs';
import { browserSignIn } from './browser-signin.mjs';

// ---------------- args ----------------
const argv = process.argv.slice(2);
const has = (n) => argv.includes(n);
const opt = (n, d) => { const i = argv.indexOf(n); return i >= 0 && i + 1 < argv.length ? argv[i + 1] : d; };
if (has('--help') || has('-h') || !opt('--url')) {
  console.log(readHelp());
  process.exit(has('--help') || has('-h') ? 0 : 2);
}
const MCP_URL = new URL(opt('--url'));
const MODE = opt('--mode', 'auth_code');
const SCOPE = opt('--scope', undefined);
const TOOL = opt('--tool', undefined);
const TOOL_ARGS = opt('--tool-args', undefined);
const REDIRECT_URI = opt('--redirect-uri', 'http://127.0.0.1:8976/callback');
const CONSENT_SUBMIT = has('--consent-submit');
const PUBLIC_CLIENT = !has('--confidential'); // default: public client (token_endpoint_auth_method=none), like most desktop MCP clients
const EXPECT_JWT = has('--expect-jwt');
const NEGATIVE = !has('--no-negative');
const VERBOSE = has('--verbose');
const TIMEOUT_MS = Number(opt('--timeout-ms', 20000));
const STEP_UP_TOOL = opt('--step-up-tool', undefined);
const BROWSER = opt('--browser', undefined);
const LOGIN = opt('--login', undefined);
const PASSWORD = opt('--password', undefined);
const EXPECT_CONSENT = has('--expect-consent');
const SCREENSHOT_DIR = opt('--screenshot-dir', undefined);
const PROGRESS_TOOL = opt('--progress-tool', undefined);
const PROGRESS_ARGS = opt('--progress-args', undefined);
const MIN_PROGRESS = Number(opt('--min-progress', '1'));
if (!Number.isInteger(MIN_PROGRESS) || MIN_PROGRESS < 0) { console.error(`--min-progress: a whole number >= 0 (got "${opt('--min-progress')}")`); process.exit(2); }
if (PROGRESS_ARGS !== undefined) { try { JSON.parse(PROGRESS_ARGS); } catch (e) { console.error(`--progress-args: not JSON: ${e.message}`); process.exit(2); } }
const WHOAMI_EXPECT = [['sub', opt('--expect-whoami-sub', undefined)], ['email', opt('--expect-whoami-email', undefined)]].filter(([, v]) => v !== undefined);
if (BROWSER !== undefined && BROWSER !== 'chromium') { console.error(`--browser: only "chromium" is supported (got "${BROWSER}")`); process.exit(2); }
if ((LOGIN === undefined) !== (PASSWORD === undefined)) { console.error('--login and --password go together'); process.exit(2); }

function readHelp() {
  const src = (new URL(import.meta.url)).pathname;
  return `usage: node ${src.split('/').pop()} --url <MCP endpoint URL> [options]\n` +
    `  --mode auth_code|client_credentials|both   (default auth_code)\n` +
    `  --scope S  --tool NAME  --tool-args JSON  --public|--confidential  --redirect-uri URI\n` +
    `  --consent-submit  --client-id ID --client-secret SECRET  --step-up-tool NAME [--step-up-args JSON]\n` +
    `  --expect-jwt  --no-negative  --timeout-ms N (per step)  --deadline-ms N (whole run)  --verbose\n` +
    `  --browser chromium [--login L --password P] [--expect-consent] [--screenshot-dir DIR]\n` +
    `  --expect-whoami-sub SUBSTRING  --expect-whoami-email SUBSTRING\n` +
    `  --progress-tool NAME [--progress-args JSON] [--min-progress N (default 1)]`;
}

// ---------------- check bookkeeping ----------------
const results = [];
let section = '';
function record(status, name, detail = '') {
  results.push({ status, name: `${section}${name}`, detail });
  const tag = status === 'PASS' ? 'PASS' : status === 'WARN' ? 'WARN' : status === 'INFO' ? 'INFO' : 'FAIL';
  console.log(`[${tag}] ${section}${name}${detail ? ` -- ${detail}` : ''}`);
}
const pass = (n, d) => record('PASS', n, d);
const fail = (n, d) => record('FAIL', n, d);
const warn = (n, d) => record('WARN', n, d);
const info = (n, d) => record('INFO', n, d);
const expect = (cond, n, okDetail, badDetail) => (cond ? pass(n, okDetail) : fail(n, badDetail ?? okDetail), !!cond);
const should = (cond, n, okDetail, badDetail) => (cond ? pass(n, okDetail) : warn(n, badDetail ?? okDetail), !!cond);
async function step(name, fn) {
  try { return await withTimeout(fn(), name); } catch (e) { fail(name, errText(e)); return undefined; }
}
function withTimeout(p, what, ms = TIMEOUT_MS) {
  let t;
  return Promise.race([p, new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`timeout after ${ms}ms: ${what}`)), ms); })]).finally(() => clearTimeout(t));
}
const errText = (e) => (e && (e.stack && VERBOSE ? e.stack : `${e.constructor?.name ?? 'Error'}: ${e.message ?? e}`)) || String(e);

// ---------------- logging fetch (passed to the SDK transport; auth() uses it too) ----------------
const httpLog = [];
function bodyText(b) {
  if (b == null) return undefined;
  if (typeof b === 'string') return b;
  if (b instanceof URLSearchParams) return b.toString();
  return '[binary]';
}
function makeLoggingFetch(label) {
  return async (input, init = {}) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const method = (init.method || (input instanceof Request ? input.method : 'GET')).toUpperCase();
    const reqHeaders = new Headers(init.headers || (input instanceof Request ? input.headers : undefined));
    const entry = { label, method, url, reqHeaders: Object.fromEntries(reqHeaders), reqBody: bodyText(init.body) };
    const res = await fetch(input, init);
    entry.status = res.status;
    entry.resHeaders = Object.fromEntries(res.headers);
    httpLog.push(entry);
    if (VERBOSE) console.log(`   http ${label} ${method} ${url} -> ${res.status}`);
    return res;
  };
}
const lastRequest = (pred) => [...httpLog].reverse().find(pred);

// ---------------- helpers ----------------
function decodeJwt(tok) {
  const parts = String(tok).split('.');
  if (parts.length !== 3) return undefined;
  try { return { header: JSON.parse(Buffer.from(parts[0], 'base64url')), claims: JSON.parse(Buffer.from(parts[1], 'base64url')) }; } catch { return undefined; }
}
const sameUrl = (a, b) => String(a).replace(/\/$/, '') === String(b).replace(/\/$/, '');
function synthArgs(schema) {
  const args = {};
  for (const k of schema?.required ?? []) {
    const t = schema.properties?.[k]?.type;
    args[k] = t === 'number' || t === 'integer' ? 1 : t === 'boolean' ? true : t === 'array' ? [] : t === 'object' ? {} : 'e2e-test';
  }
  return args;
}
async function rawMcpPost(token, body = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'oauth-e2e-raw', version: '0' } } }) {
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  if (token) headers.authorization = `Bearer ${token}`;
  return makeLoggingFetch('raw')(MCP_URL, { method: 'POST', headers, body: JSON.stringify(body) });
}

// Check the 401 challenge an unauthenticated request gets (MCP auth spec + RFC 6750 + RFC 9728 §5.1)
async function checkChallenge() {
  const res = await rawMcpPost(undefined);
  await res.text().catch(() => {});
  expect(res.status === 401, 'unauthenticated POST /mcp -> 401', `got ${res.status}`);
  const wa = res.headers.get('www-authenticate');
  expect(wa && /^Bearer\b/i.test(wa), 'WWW-Authenticate: Bearer present on 401', wa ?? '(missing)');
  const p = extractWWWAuthenticateParams(res);
  should(!!p.resourceMetadataUrl, 'WWW-Authenticate carries resource_metadata (RFC 9728 §5.1)', String(p.resourceMetadataUrl ?? '(absent: clients must fall back to well-known probing)'));
  should(!!p.scope, 'WWW-Authenticate carries scope (MCP 2025-11-25 scope selection)', p.scope ?? '(absent)');
  const bad = await rawMcpPost('not-a-valid-token');
  await bad.text().catch(() => {});
  expect(bad.status === 401, 'invalid bearer token -> 401', `got ${bad.status}`);
  should(/invalid_token/.test(bad.headers.get('www-authenticate') ?? ''), 'invalid token challenge has error="invalid_token" (RFC 6750 §3.1)', bad.headers.get('www-authenticate') ?? '(missing)');
  return p;
}

async function checkDiscovery(resourceMetadataUrl) {
  const info = await discoverOAuthServerInfo(MCP_URL, { resourceMetadataUrl, fetchFn: makeLoggingFetch('discovery') });
  const prm = info.resourceMetadata;
  if (expect(!!prm, 'protected resource metadata (RFC 9728) fetched')) {
    expect(typeof prm.resource === 'string', 'PRM.resource present', prm.resource);
    should(sameUrl(prm.resource, MCP_URL.href), 'PRM.resource equals the MCP endpoint URL (canonical resource URI)', `${prm.resource} vs ${MCP_URL.href}`);
    expect(Array.isArray(prm.authorization_servers) && prm.authorization_servers.length > 0, 'PRM.authorization_servers non-empty', JSON.stringify(prm.authorization_servers));
  }
  const md = info.authorizationServerMetadata;
  if (expect(!!md, 'authorization server metadata (RFC 8414 / OIDC) fetched', info.authorizationServerUrl)) {
    expect(sameUrl(md.issuer, info.authorizationServerUrl), 'AS metadata issuer equals the AS URL it was fetched for (RFC 8414 §3.3)', `${md.issuer} vs ${info.authorizationServerUrl}`);
    expect(md.response_types_supported?.includes('code'), 'response_types_supported includes "code"');
    expect(md.code_challenge_methods_supported?.includes('S256'), 'code_challenge_methods_supported includes "S256" (MCP: clients MUST refuse otherwise)', JSON.stringify(md.code_challenge_methods_supported));
    should(!!md.registration_endpoint, 'registration_endpoint advertised (DCR)', md.registration_endpoint ?? '(absent)');
    infoLine('grant_types_supported', md.grant_types_supported);
    infoLine('token_endpoint_auth_methods_supported', md.token_endpoint_auth_methods_supported);
    infoLine('client_id_metadata_document_supported', md.client_id_metadata_document_supported);
  }
  return info;
}
const infoLine = (k, v) => info(`AS metadata ${k}`, v === undefined ? '(absent)' : JSON.stringify(v));

function checkTokenResponse(kind) {
  const tr = lastRequest((e) => e.method === 'POST' && e.reqBody && /grant_type=/.test(e.reqBody));
  if (!tr) return fail(`${kind}: token request observed`);
  expect(tr.status === 200, `${kind}: token endpoint -> 200`, `got ${tr.status}`);
  expect(/application\/json/.test(tr.resHeaders['content-type'] ?? ''), `${kind}: token response Content-Type application/json`, tr.resHeaders['content-type']);
  expect(/no-store/.test(tr.resHeaders['cache-control'] ?? ''), `${kind}: token response Cache-Control: no-store (OAuth 2.1 §3.2.3)`, tr.resHeaders['cache-control'] ?? '(missing)');
  const body = new URLSearchParams(tr.reqBody);
  should(body.has('resource'), `${kind}: client sent RFC 8707 resource in token request`, body.get('resource') ?? '(absent)');
  return tr;
}
function checkAccessToken(kind, tokens, asInfo) {
  expect(typeof tokens?.access_token === 'string' && tokens.access_token.length > 0, `${kind}: access_token issued`);
  expect(/^bearer$/i.test(tokens?.token_type ?? ''), `${kind}: token_type is Bearer`, tokens?.token_type);
  should(typeof tokens?.expires_in === 'number', `${kind}: expires_in present`, String(tokens?.expires_in));
  const jwt = decodeJwt(tokens?.access_token);
  if (!jwt) { (EXPECT_JWT ? fail : info)(`${kind}: access token is a JWT`, 'opaque token'); return; }
  const c = jwt.claims;
  pass(`${kind}: access token is a JWT`, `alg=${jwt.header.alg} typ=${jwt.header.typ ?? '-'}`);
  const aud = [c.aud].flat();
  expect(aud.some((a) => sameUrl(a, MCP_URL.href) || sameUrl(a, asInfo?.resourceMetadata?.resource ?? '')), `${kind}: JWT aud bound to this MCP resource (RFC 8707 / MCP token audience binding)`, JSON.stringify(c.aud));
  expect(sameUrl(c.iss, asInfo?.authorizationServerMetadata?.issuer ?? c.iss), `${kind}: JWT iss equals AS issuer`, c.iss);
  expect(typeof c.exp === 'number' && c.exp > Date.now() / 1000, `${kind}: JWT exp in the future`, String(c.exp));
  info(`${kind}: JWT claims`, JSON.stringify({ sub: c.sub, client_id: c.client_id, scope: c.scope ?? c.scp }));
}

async function useMcp(kind, transport) {
  const client = new Client({ name: 'oauth-client-e2e', version: '1.0.0' }, { capabilities: {} });
  await withTimeout(client.connect(transport), 'connect');
  const sv = client.getServerVersion();
  pass(`${kind}: initialize (authenticated)`, `server=${sv?.name}@${sv?.version} protocol=${transport.protocolVersion ?? '?'}`);
  const initReq = lastRequest((e) => e.label === kind && e.reqBody?.includes('"initialize"'));
  expect(/^Bearer /.test(initReq?.reqHeaders?.authorization ?? ''), `${kind}: MCP request carried Authorization: Bearer header`);
  info(`${kind}: Mcp-Session-Id on initialize response`, initReq?.resHeaders?.['mcp-session-id'] ?? '(none: stateless server)');
  const tools = await step(`${kind}: tools/list`, () => client.listTools());
  if (tools) pass(`${kind}: tools/list`, `${tools.tools.length} tools: ${tools.tools.map((t) => t.name).join(', ')}`);
  let name = TOOL, args = TOOL_ARGS ? JSON.parse(TOOL_ARGS) : undefined;
  if (!name && tools?.tools?.length) {
    const callable = tools.tools.filter((t) => t.execution?.taskSupport !== 'required');
    const t = callable.find((t) => !(t.inputSchema?.required?.length)) ?? callable[0] ?? tools.tools[0];
    name = t.name; args = synthArgs(t.inputSchema);
  }
  if (name) {
    const r = await step(`${kind}: tools/call ${name}`, () => client.callTool({ name, arguments: args ?? {} }));
    if (r) expect(!r.isError, `${kind}: tools/call ${name}`, `content=${JSON.stringify(r.content).slice(0, 160)}`, `isError result: ${JSON.stringify(r.content).slice(0, 200)}`);
  } else fail(`${kind}: tools/call`, 'no tool to call');
  if (PROGRESS_TOOL) await checkProgress(kind, client);
  return client;
}

// --progress-tool: the SDK puts a progressToken in _meta when onprogress is given; notifications that come
// after the result are never delivered (the SDK drops the handler with the response), so the count taken
// when callTool resolves is the number that arrived before the result.
async function checkProgress(kind, client) {
  const name = `${kind}: tools/call ${PROGRESS_TOOL} with progress (>= ${MIN_PROGRESS} notifications before the result)`;
  const seen = [];
  const t0 = Date.now();
  let r, before;
  try {
    r = await client.callTool({ name: PROGRESS_TOOL, arguments: PROGRESS_ARGS ? JSON.parse(PROGRESS_ARGS) : {} }, undefined, {
      onprogress: (p) => seen.push({ ...p, ms: Date.now() - t0 }), resetTimeoutOnProgress: true, timeout: TIMEOUT_MS, maxTotalTimeout: 5 * TIMEOUT_MS,
    });
    before = seen.length;
  } catch (e) { fail(name, `${errText(e)} (${seen.length} notifications so far)`); return; }
  const text = (r.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
  const detail = `${before} notifications [${seen.slice(0, before).map((p) => `${p.progress}${p.total !== undefined ? `/${p.total}` : ''}@${p.ms}ms`).join(' ')}], result at ${Date.now() - t0}ms: ${JSON.stringify(text).slice(0, 120)}`;
  expect(before >= MIN_PROGRESS && !r.isError, name, detail, r.isError ? `isError result: ${detail}` : detail);
}

// ---------------- the "browser" for the authorization endpoint ----------------
// Default: headless-browser.mjs (fetch, no rendering). --browser chromium: browser-signin.mjs (real
// headless Chromium), its result mapped onto the same shape.
const headlessAuthorize = (url, redirectUri, label) => BROWSER
  ? chromiumAuthorize(url, redirectUri, label)
  : headlessAuthorizeLib(url, redirectUri, { consentSubmit: CONSENT_SUBMIT, fetchImpl: makeLoggingFetch(label), onInfo: (m) => info(`${label}: ${m.split(':')[0]}`, m.slice(m.indexOf(':') + 2)) });

async function chromiumAuthorize(url, redirectUri, label) {
  const r = await browserSignIn(url, {
    stopAt: redirectUri, login: LOGIN, password: PASSWORD, decision: 'approve', expectConsent: EXPECT_CONSENT && label !== 'negative',
    screenshotDir: SCREENSHOT_DIR && `${SCREENSHOT_DIR}/${label}-${Date.now()}`, deadlineMs: Math.max(TIMEOUT_MS - 1000, 5000),
    onInfo: VERBOSE ? (m) => console.log(`   browser ${label}: ${m}`) : () => {},
  });
  info(`${label}: chromium`, `reason=${r.reason ?? 'redirect'} launch=${r.timings.launchMs ?? '-'}ms total=${r.timings.totalMs}ms pages=${r.pages.length} upstream=${JSON.stringify(r.upstream)}`);
  const c = r.consent;
  if (c.seen) {
    info(`${label}: consent page`, `csp="${c.csp}" x-frame-options=${c.xFrameOptions ?? '(none)'} scripts=${c.scripts} scopesShown=${c.scopesShown.join(' ') || '-'}`);
    expect(!c.problems.length, `${label}: consent page passes the browser checks (CSP frame-ancestors 'none', no unsafe-inline script-src, no <script>, works without JS, client + scopes shown)`, 'ok', c.problems.join('; '));
  } else if (EXPECT_CONSENT && label !== 'negative') fail(`${label}: consent page shown (--expect-consent)`, `not met; pages: ${r.pages.join(' -> ').slice(0, 400)}`);
  if (r.redirect) {
    const q = new URL(r.redirect).searchParams;
    return { redirectedTo: r.redirect, status: r.redirectStatus, code: r.code, state: r.state, iss: r.iss, error: r.error, error_description: r.error_description, codeCount: q.getAll('code').length, hops: r.pages.length, browser: r };
  }
  return { browserFailed: true, reason: r.reason, status: r.finalPage?.status, url: r.finalPage?.url, detail: `${r.reason}${r.exception ? `: ${r.exception}` : ''}${r.upstream.loginError ? ` (upstream: ${r.upstream.loginError})` : ''}${r.finalPage ? ` page ${r.finalPage.status} ${r.finalPage.url}: ${r.finalPage.text.slice(0, 200)}` : ''}`, browser: r };
}

// whoami: with --expect-whoami-*, FAIL unless its text contains each expected substring; otherwise INFO.
async function checkWhoami(kind, client) {
  const tools = await client.listTools().catch(() => undefined);
  const present = tools?.tools?.some((t) => t.name === 'whoami');
  if (!present) { if (WHOAMI_EXPECT.length) fail(`${kind}: whoami tool listed`, `tools: ${tools?.tools?.map((t) => t.name).join(', ') ?? '(tools/list failed)'}`); return; }
  const r = await step(`${kind}: tools/call whoami`, () => client.callTool({ name: 'whoami', arguments: {} }));
  if (!r) return;
  const text = (r.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
  if (!WHOAMI_EXPECT.length) return info(`${kind}: whoami`, text.slice(0, 300));
  expect(!r.isError, `${kind}: tools/call whoami succeeded`, text.slice(0, 200));
  for (const [what, sub] of WHOAMI_EXPECT) expect(text.includes(sub), `${kind}: whoami shows the expected ${what} "${sub}"`, text.slice(0, 300));
}

// In-memory OAuthClientProvider whose "browser" is headlessAuthorize().
class HeadlessProvider {
  constructor(clientMetadata, redirectUrl) {
    this._md = clientMetadata; this._redirectUrl = redirectUrl;
    this.authorizationUrls = []; this.captured = undefined; this._state = undefined;
  }
  get redirectUrl() { return this._redirectUrl; }
  get clientMetadata() { return this._md; }
  state() { this._state = crypto.randomUUID(); return this._state; }
  clientInformation() { return this._client; }
  saveClientInformation(ci) { this._client = ci; }
  tokens() { return this._tokens; }
  saveTokens(t) { this._tokens = t; }
  saveCodeVerifier(v) { this._verifier = v; }
  codeVerifier() { return this._verifier; }
  saveDiscoveryState(s) { this._discovery = s; }
  discoveryState() { return this._discovery; }
  async redirectToAuthorization(url) {
    this.authorizationUrls.push(url.href);
    this.captured = await headlessAuthorize(url.href, this._redirectUrl, 'authorize');
    this.captured.expectedState = this._state;
  }
}

function checkAuthorizationRequest(urlStr, kind) {
  const q = new URL(urlStr).searchParams;
  info(`${kind}: authorization request`, urlStr.replace(/code_challenge=[^&]+/, 'code_challenge=…'));
  expect(q.get('code_challenge_method') === 'S256' && !!q.get('code_challenge'), `${kind}: SDK sent PKCE S256 challenge`);
  should(!!q.get('resource'), `${kind}: SDK sent resource parameter (needs PRM)`, q.get('resource') ?? '(absent)');
  info(`${kind}: requested scope`, q.get('scope') ?? '(none)');
}
function checkAuthorizationResponse(cap, kind, issuer) {
  if (!cap) return fail(`${kind}: authorization endpoint reached`, 'SDK never called redirectToAuthorization');
  if (cap.consentForm) {
    fail(`${kind}: authorization endpoint redirected to redirect_uri`, `got HTTP ${cap.status} HTML consent form at ${cap.url} (forms: ${cap.forms.map((f) => `${f.method} ${f.action} buttons=[${f.buttons.map((b) => b.value || b.label).join('|')}]`).join('; ')}). Re-run with --consent-submit to auto-approve.`);
    return false;
  }
  if (cap.unexpected) { fail(`${kind}: authorization endpoint redirected to redirect_uri`, `HTTP ${cap.status} ${cap.contentType}: ${cap.bodySnippet}`); return false; }
  if (cap.browserFailed) { fail(`${kind}: browser sign-in reached redirect_uri`, cap.detail); return false; }
  if (cap.error) { fail(`${kind}: authorization succeeded`, `error=${cap.error} ${cap.error_description ?? ''}`); return false; }
  expect([302, 303, 307].includes(cap.status), `${kind}: authorization response is a redirect to redirect_uri`, `HTTP ${cap.status} after ${cap.hops} hop(s)`);
  expect(cap.code && cap.codeCount === 1, `${kind}: exactly one non-empty code parameter`);
  expect(cap.state === cap.expectedState, `${kind}: state echoed unchanged`, `${cap.state}`);
  if (cap.iss) expect(sameUrl(cap.iss, issuer), `${kind}: iss parameter equals issuer (RFC 9207)`, cap.iss);
  else info(`${kind}: iss parameter (RFC 9207)`, 'absent');
  return !!cap.code;
}

// ---------------- modes ----------------
async function runAuthCode() {
  section = '[auth_code] ';
  const ch = await step('401 challenge', () => checkChallenge()) ?? {};
  const asInfo = await step('discovery', () => checkDiscovery(ch.resourceMetadataUrl));
  const clientMetadata = {
    client_name: 'oauth-client-e2e (auth_code)',
    redirect_uris: [REDIRECT_URI],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: PUBLIC_CLIENT ? 'none' : 'client_secret_basic',
    ...(SCOPE ? { scope: SCOPE } : {})
  };
  const provider = new HeadlessProvider(clientMetadata, REDIRECT_URI);
  const fetchFn = makeLoggingFetch('auth_code');
  let transport = new StreamableHTTPClientTransport(MCP_URL, { authProvider: provider, fetch: fetchFn });
  let client = new Client({ name: 'oauth-client-e2e', version: '1.0.0' }, { capabilities: {} });
  let firstErr;
  try { await withTimeout(client.connect(transport), 'first connect', BROWSER ? 2 * TIMEOUT_MS : TIMEOUT_MS); } catch (e) { firstErr = e; }
  if (!(firstErr instanceof UnauthorizedError)) {
    fail('SDK auth flow reached the authorization redirect', firstErr ? errText(firstErr) : 'connect succeeded without authorization?');
    return;
  }
  const reg = provider.clientInformation();
  expect(!!reg?.client_id, 'dynamic client registration (RFC 7591) via SDK registerClient()', reg ? `client_id=${reg.client_id} auth_method=${reg.token_endpoint_auth_method ?? '-'}` : '');
  const regEndpoint = asInfo?.authorizationServerMetadata?.registration_endpoint;
  const regReq = regEndpoint && lastRequest((e) => e.method === 'POST' && sameUrl(e.url, regEndpoint));
  if (regReq) expect(regReq.status === 201, 'DCR response status 201 Created (RFC 7591 §3.2.1)', `got ${regReq.status}`);
  const authUrl = provider.authorizationUrls[0];
  if (authUrl) checkAuthorizationRequest(authUrl, 'authorize');
  const ok = checkAuthorizationResponse(provider.captured, 'authorize', asInfo?.authorizationServerMetadata?.issuer);
  if (!ok) return;
  const code = provider.captured.code;
  const fin = await step('token exchange (authorization_code) via transport.finishAuth()', async () => { await transport.finishAuth(code); return true; });
  if (!fin) return;
  pass('token exchange (authorization_code) via transport.finishAuth()');
  checkTokenResponse('authorization_code');
  checkAccessToken('authorization_code', provider.tokens(), asInfo);
  await transport.close().catch(() => {});
  // reconnect with the stored token
  transport = new StreamableHTTPClientTransport(MCP_URL, { authProvider: provider, fetch: fetchFn });
  client = await step('connect with access token', () => useMcp('auth_code', transport));
  if (client) await checkWhoami('auth_code', client);

  // step-up (403 insufficient_scope) -- optional
  if (STEP_UP_TOOL && client) await runStepUp(client, transport, provider, fetchFn);

  // refresh_token grant via SDK refreshAuthorization()
  const t = provider.tokens();
  if (t?.refresh_token) {
    const md = asInfo?.authorizationServerMetadata;
    const nt = await step('refresh_token grant (SDK refreshAuthorization)', () => refreshAuthorization(asInfo.authorizationServerUrl, {
      metadata: md, clientInformation: provider.clientInformation(), refreshToken: t.refresh_token,
      resource: asInfo.resourceMetadata?.resource, fetchFn: makeLoggingFetch('refresh')
    }));
    if (nt) {
      pass('refresh_token grant (SDK refreshAuthorization)', `new access token${nt.refresh_token !== t.refresh_token ? ', refresh token rotated' : ', refresh token NOT rotated'}`);
      checkTokenResponse('refresh_token');
      checkAccessToken('refresh_token', nt, asInfo);
      const r = await rawMcpPost(nt.access_token);
      await r.text().catch(() => {});
      expect(r.ok, 'refreshed access token accepted by MCP endpoint', `HTTP ${r.status}`);
      if (WHOAMI_EXPECT.length) {
        const rt = new StreamableHTTPClientTransport(MCP_URL, { fetch: makeLoggingFetch('refreshed'), requestInit: { headers: { authorization: `Bearer ${nt.access_token}` } } });
        const rc = new Client({ name: 'oauth-client-e2e', version: '1.0.0' }, { capabilities: {} });
        if (await step('connect with the refreshed access token', async () => { await rc.connect(rt); return true; })) await checkWhoami('refresh_token', rc);
        await rt.close().catch(() => {});
      }
      if (NEGATIVE && nt.refresh_token && nt.refresh_token !== t.refresh_token) {
        const refreshWith = (token) => refreshAuthorization(asInfo.authorizationServerUrl, { metadata: md, clientInformation: provider.clientInformation(), refreshToken: token, resource: asInfo.resourceMetadata?.resource, fetchFn: makeLoggingFetch('negative') }).then((tokens) => tokens, (e) => e);
        const isInvalidGrant = (e) => !e?.access_token && /invalid_grant|InvalidGrant/.test(`${e?.constructor?.name} ${e?.errorCode ?? ''} ${e?.message ?? ''}`);
        // A replay of the rotated-out token is either refused, or (inside the server's short grace
        // window for lost responses) answered with the SAME successor: never a new grant.
        const again = await refreshWith(t.refresh_token);
        if (again?.access_token) {
          expect(again.refresh_token === nt.refresh_token, 'negative: rotated-out refresh token replay inside the grace window returns the same successor, never a new one', again.refresh_token === nt.refresh_token ? 'same successor' : 'a different refresh token was issued');
        } else {
          expect(isInvalidGrant(again), 'negative: rotated-out refresh token rejected (invalid_grant)', errText(again));
        }
        // Once the successor has been used, replaying the first token is reuse: it must fail and
        // revoke the whole grant family, including the newest token.
        const nt2 = await refreshWith(nt.refresh_token);
        expect(!!nt2?.access_token, 'refresh_token grant with the rotated successor', nt2?.access_token ? 'ok' : errText(nt2));
        if (nt2?.refresh_token) {
          const reuse = await refreshWith(t.refresh_token);
          expect(isInvalidGrant(reuse), 'negative: refresh token reuse after rotation rejected (invalid_grant)', reuse?.access_token ? 'old refresh token still works' : errText(reuse));
          const family = await refreshWith(nt2.refresh_token);
          expect(isInvalidGrant(family), 'negative: reuse revoked the whole grant family (newest refresh token rejected)', family?.access_token ? 'newest refresh token still works after reuse' : errText(family));
        }
      }
    }
  } else warn('refresh_token issued', 'no refresh_token in token response (clients must re-authorize when the access token expires)');

  if (NEGATIVE && asInfo) await runAuthCodeNegatives(provider, asInfo, code);
  await transport.close().catch(() => {});
}

async function runAuthCodeNegatives(provider, asInfo, usedCode) {
  const md = asInfo.authorizationServerMetadata;
  const resource = asInfo.resourceMetadata?.resource;
  const nf = makeLoggingFetch('negative');
  // 1. authorization code replay
  const replay = await exchangeAuthorization(asInfo.authorizationServerUrl, { metadata: md, clientInformation: provider.clientInformation(), authorizationCode: usedCode, codeVerifier: provider.codeVerifier(), redirectUri: REDIRECT_URI, resource, fetchFn: nf }).then(() => 'accepted', (e) => e);
  expect(replay !== 'accepted', 'negative: authorization code replay rejected (single use)', replay === 'accepted' ? 'code accepted twice' : errText(replay));
  // 2. PKCE: wrong code_verifier
  const st = await startAuthorization(asInfo.authorizationServerUrl, { metadata: md, clientInformation: provider.clientInformation(), redirectUrl: REDIRECT_URI, scope: SCOPE, state: 'neg-pkce', resource });
  const cap = await headlessAuthorize(st.authorizationUrl.href, REDIRECT_URI, 'negative');
  if (cap.code) {
    const wrong = await exchangeAuthorization(asInfo.authorizationServerUrl, { metadata: md, clientInformation: provider.clientInformation(), authorizationCode: cap.code, codeVerifier: st.codeVerifier.slice(0, -4) + 'AAAA', redirectUri: REDIRECT_URI, resource, fetchFn: nf }).then(() => 'accepted', (e) => e);
    expect(wrong !== 'accepted' && /invalid_grant|InvalidGrant/.test(`${wrong?.constructor?.name} ${wrong?.message}`), 'negative: wrong PKCE code_verifier rejected (invalid_grant)', wrong === 'accepted' ? 'accepted' : errText(wrong));
  } else warn('negative: PKCE mismatch test', `could not obtain a second code: ${JSON.stringify(cap).slice(0, 200)}`);
  // 3. authorization request without PKCE
  const noPkce = new URL(st.authorizationUrl.href);
  noPkce.searchParams.delete('code_challenge'); noPkce.searchParams.delete('code_challenge_method'); noPkce.searchParams.set('state', 'neg-nopkce');
  const c2 = await headlessAuthorize(noPkce.href, REDIRECT_URI, 'negative');
  expect(!c2.code, 'negative: authorization request without code_challenge refused (PKCE required)', c2.code ? 'code issued without PKCE' : `error=${c2.error ?? `HTTP ${c2.status}`}`);
  // 4. unregistered redirect_uri must NOT redirect there
  const badRedir = new URL(st.authorizationUrl.href);
  badRedir.searchParams.set('redirect_uri', 'http://127.0.0.1:1/evil'); badRedir.searchParams.set('state', 'neg-redir');
  const c3 = await headlessAuthorize(badRedir.href, 'http://127.0.0.1:1/evil', 'negative');
  expect(!c3.redirectedTo, 'negative: unregistered redirect_uri is not redirected to (exact match)', c3.redirectedTo ? `redirected to ${c3.redirectedTo}` : `HTTP ${c3.status ?? '?'}`);
  // 5. foreign resource indicator (RFC 8707 invalid_target)
  const badRes = new URL(st.authorizationUrl.href);
  badRes.searchParams.set('resource', 'https://not-this-server.example/mcp'); badRes.searchParams.set('state', 'neg-res');
  const c4 = await headlessAuthorize(badRes.href, REDIRECT_URI, 'negative');
  should(!c4.code, 'negative: foreign resource indicator refused (RFC 8707 invalid_target)', c4.code ? 'code issued for a foreign resource' : `error=${c4.error ?? `HTTP ${c4.status}`}`);
}

async function runStepUp(client, transport, provider, fetchFn) {
  const args = JSON.parse(opt('--step-up-args', '{}'));
  let err;
  provider.captured = undefined;
  try { await client.callTool({ name: STEP_UP_TOOL, arguments: args }); } catch (e) { err = e; }
  if (/after trying upscoping/.test(err?.message ?? '') && provider.tokens()?.refresh_token) {
    // SDK 1.32.x: on 403 insufficient_scope, auth() first tries the refresh_token grant (which cannot
    // widen scope, RFC 6749 §6), gets the same scope back and gives up. Retry as a client without a
    // refresh token so the SDK starts a new authorization request with the wider scope.
    warn('step-up: SDK used refresh_token instead of re-authorizing', 'a refresh can never widen scope; retrying without refresh_token');
    provider.saveTokens({ ...provider.tokens(), refresh_token: undefined });
    transport = new StreamableHTTPClientTransport(MCP_URL, { authProvider: provider, fetch: fetchFn });
    client = new Client({ name: 'oauth-client-e2e', version: '1.0.0' }, { capabilities: {} });
    await client.connect(transport);
    err = undefined;
    try { await client.callTool({ name: STEP_UP_TOOL, arguments: args }); } catch (e) { err = e; }
  }
  const r403 = lastRequest((e) => e.label === 'auth_code' && e.status === 403);
  if (!r403) { warn('step-up: tool answered 403 insufficient_scope', err ? errText(err) : 'tool call succeeded without step-up'); return; }
  const wa = r403.resHeaders['www-authenticate'] ?? '';
  expect(/insufficient_scope/.test(wa), 'step-up: 403 WWW-Authenticate error="insufficient_scope"', wa);
  expect(/scope="/.test(wa), 'step-up: 403 challenge names the required scope', wa);
  if (!(err instanceof UnauthorizedError) || !provider.captured?.code) { fail('step-up: SDK re-authorized with the wider scope', err ? errText(err) : 'no error'); return; }
  checkAuthorizationRequest(provider.authorizationUrls.at(-1), 'step-up');
  await transport.finishAuth(provider.captured.code);
  const t2 = new StreamableHTTPClientTransport(MCP_URL, { authProvider: provider, fetch: fetchFn });
  const c2 = new Client({ name: 'oauth-client-e2e', version: '1.0.0' }, { capabilities: {} });
  await c2.connect(t2);
  const r = await step('step-up: tool call after re-authorization', () => c2.callTool({ name: STEP_UP_TOOL, arguments: args }));
  if (r) expect(!r.isError, 'step-up: tool call after re-authorization', JSON.stringify(r.content).slice(0, 120));
  await t2.close().catch(() => {});
}

function withInitialAccessToken(fetchFn) {
  const iat = process.env.MCP_INITIAL_ACCESS_TOKEN;
  if (!iat) return fetchFn;
  return (url, init) => fetchFn(url, { ...init, headers: { ...(init?.headers ?? {}), authorization: `Bearer ${iat}` } });
}

async function runClientCredentials() {
  section = '[client_credentials] ';
  const ch = await step('401 challenge', () => checkChallenge()) ?? {};
  const asInfo = await step('discovery', () => checkDiscovery(ch.resourceMetadataUrl));
  if (!asInfo) return;
  const md = asInfo.authorizationServerMetadata;
  should(md?.grant_types_supported?.includes('client_credentials'), 'AS metadata grant_types_supported includes client_credentials', JSON.stringify(md?.grant_types_supported));
  let clientId = opt('--client-id'), clientSecret = opt('--client-secret');
  if (!clientId) {
    const reg = await step('DCR for client_credentials (grant_types=[client_credentials], client_secret_basic)', () => registerClient(asInfo.authorizationServerUrl, {
      // Machine clients are the operator's: the initial access token (RFC 7591 §3) from
      // MCP_INITIAL_ACCESS_TOKEN authorises the registration.
      metadata: md, fetchFn: withInitialAccessToken(makeLoggingFetch('dcr')),
      clientMetadata: { client_name: 'oauth-client-e2e (client_credentials)', redirect_uris: [], grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', ...(SCOPE ? { scope: SCOPE } : {}) }
    }));
    if (!reg) return;
    const rr = lastRequest((e) => e.label === 'dcr');
    expect(rr?.status === 201, 'DCR response status 201 Created', `got ${rr?.status}`);
    expect(!!reg.client_secret, 'DCR issued a client_secret for a confidential client', `client_id=${reg.client_id}`);
    info('DCR echoed token_endpoint_auth_method / grant_types', `${reg.token_endpoint_auth_method} / ${JSON.stringify(reg.grant_types)}`);
    clientId = reg.client_id; clientSecret = reg.client_secret;
  }
  if (!clientSecret) return fail('client secret available');
  const provider = new ClientCredentialsProvider({ clientId, clientSecret, clientName: 'oauth-client-e2e', expectedIssuer: asInfo.authorizationServerUrl, ...(SCOPE ? { scope: SCOPE } : {}) });
  const fetchFn = makeLoggingFetch('client_credentials');
  const transport = new StreamableHTTPClientTransport(MCP_URL, { authProvider: provider, fetch: fetchFn });
  await step('connect (SDK auth(): client_credentials token + MCP initialize)', () => useMcp('client_credentials', transport));
  const tr = lastRequest((e) => e.label === 'client_credentials' && e.reqBody && /grant_type=client_credentials/.test(e.reqBody));
  if (expect(!!tr, 'token request with grant_type=client_credentials observed')) {
    const methods = md.token_endpoint_auth_methods_supported;
    if (!methods || methods.includes('client_secret_basic')) {
      expect(/^Basic /.test(tr.reqHeaders.authorization ?? ''), 'client authenticated with HTTP Basic (client_secret_basic)', tr.reqHeaders.authorization ? 'Authorization: Basic …' : 'no Authorization header');
    } else warn('client authenticated with HTTP Basic (client_secret_basic)', `AS does not advertise client_secret_basic (${JSON.stringify(methods)}); SDK used ${/^Basic /.test(tr.reqHeaders.authorization ?? '') ? 'Basic' : 'client_secret_post'}`);
    checkTokenResponse('client_credentials');
    checkAccessToken('client_credentials', provider.tokens(), asInfo);
  }
  await transport.close().catch(() => {});
  if (NEGATIVE) {
    const bad = await fetch(md.token_endpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:wrong-secret`).toString('base64')}` }, body: new URLSearchParams({ grant_type: 'client_credentials' }) });
    const bj = await bad.json().catch(() => ({}));
    expect(bad.status === 401 && bj.error === 'invalid_client', 'negative: wrong client_secret -> 401 invalid_client (RFC 6749 §5.2)', `HTTP ${bad.status} ${JSON.stringify(bj)}`);
  }
}

// ---------------- main ----------------
const t0 = Date.now();
const n = (s) => results.filter((r) => r.status === s).length;
function finish() {
  if (!n('PASS') && !n('FAIL')) fail('checks ran', 'no check was executed');
  console.log(`\n${n('WARN')} warnings, ${n('INFO')} info (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
  console.log(`${n('PASS')} passed, ${n('FAIL')} failed`);
  process.exit(n('FAIL') ? 1 : 0);
}
// Hard deadline for the whole run, so a hung step can never hang the caller (e.g. the Rust e2e tests).
const DEADLINE_MS = Number(opt('--deadline-ms', Math.max(180000, TIMEOUT_MS * 15)));
setTimeout(() => { fail('run finished before --deadline-ms', `still running after ${DEADLINE_MS}ms`); finish(); }, DEADLINE_MS);
process.on('unhandledRejection', (e) => fail('unhandled promise rejection', errText(e)));
console.log(`oauth-client-e2e: ${MCP_URL.href} mode=${MODE} sdk=@modelcontextprotocol/sdk node=${process.version}`);
try {
  if (MODE === 'auth_code' || MODE === 'both') await runAuthCode();
  if (MODE === 'client_credentials' || MODE === 'both') await runClientCredentials();
  if (!['auth_code', 'client_credentials', 'both'].includes(MODE)) fail('mode', `unknown --mode ${MODE}`);
} catch (e) {
  fail('unexpected error', errText(e));
}
finish();
