#!/usr/bin/env node
// A real OpenID Provider on loopback, the "upstream" identity provider of `mcpctl dev --identity oidc`.
// Built on the certified `oidc-provider` package (pinned in package.json); only the login page and
// the glue below are ours.
//
//   node upstream-op.mjs --port 0 --client-id ID --client-secret S --redirect-uri URI [--redirect-uri URI]...
//        [--id-token-ttl SECONDS] [--consent-page] [--quiet]
//
// Listens on 127.0.0.1 (--port 0 = a free port); the issuer is http://127.0.0.1:<port> (no path).
// Prints exactly ONE line on stdout once listening:   {"issuer": "http://127.0.0.1:N", "port": N}
// Everything else (one line per request, warnings) goes to stderr. SIGTERM / SIGINT: close and exit 0.
//
// Provider:
//   - --redirect-uri 'http://127.0.0.1:*/oauth/callback' (port `*`, loopback hosts only): any port is
//     accepted (RFC 8252 loopback rule), so the OP can start before the relying party knows its port.
//   - one static confidential client: client_id/client_secret as given, token_endpoint_auth_method
//     client_secret_basic (client_secret_post is accepted as well: oidc-provider treats the two as one
//     family), grant_types [authorization_code, refresh_token], response_types [code],
//     id_token_signed_response_alg RS256, redirect_uris exactly as given (exact match).
//   - PKCE required for every authorization request, S256 only. `nonce` is echoed in the ID token.
//   - a fresh RSA-2048 signing key per run (kid printed on stderr), published at /jwks.
//   - scopes: openid email profile (and offline_access). The claims are IN THE ID TOKEN
//     (conformIdTokenClaims: false), not only at /me (userinfo):
//       openid  -> sub, groups        email -> email, email_verified        profile -> name
//   - --id-token-ttl SECONDS (default 3600): ID token lifetime, e.g. 1 to test an expired ID token.
//
// Accounts (hard-coded):
//   login  password     sub          email              email_verified  name           groups
//   alice  wonderland   alice-0001   alice@example.com  true            Alice Liddell  ["mcp-users","admins"]
//   bob    builder      bob-0002     bob@other.test     true            Bob Builder    []
//
// Interaction pages (plain HTML forms, no JavaScript, work with JS disabled):
//   GET  /interaction/:uid          login prompt: form POST /interaction/:uid/login with fields
//                                   `login`, `password`, button "Sign in"; a second form with a "Cancel"
//                                   button POSTs /interaction/:uid/abort.
//   POST /interaction/:uid/login    wrong login/password: the page again (HTTP 200) with the visible
//                                   error "Invalid login or password." (class="error"); right: login done.
//   consent prompt (after login)    granted automatically (303 back to the provider), unless
//                                   --consent-page: then a page with "Allow" (POST …/confirm) and "Cancel".
//   GET|POST /interaction/:uid/abort  ends the interaction with error=access_denied, which the provider
//                                   returns to the client's redirect_uri ("upstream denied").
import http from 'node:http';
import crypto from 'node:crypto';

const ACCOUNTS = {
  alice: { password: 'wonderland', sub: 'alice-0001', email: 'alice@example.com', email_verified: true, name: 'Alice Liddell', groups: ['mcp-users', 'admins'] },
  bob: { password: 'builder', sub: 'bob-0002', email: 'bob@other.test', email_verified: true, name: 'Bob Builder', groups: [] },
};
const BY_SUB = new Map(Object.entries(ACCOUNTS).map(([login, a]) => [a.sub, { login, ...a }]));

// ---------------- args ----------------
function parseArgs(argv) {
  const o = { port: 0, redirectUris: [], idTokenTtl: 3600, consentPage: false, quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => { if (i + 1 >= argv.length) usage(`${a} needs a value`); return argv[++i]; };
    switch (a) {
      case '--port': o.port = Number(val()); break;
      case '--client-id': o.clientId = val(); break;
      case '--client-secret': o.clientSecret = val(); break;
      case '--redirect-uri': o.redirectUris.push(val()); break;
      case '--id-token-ttl': o.idTokenTtl = Number(val()); break;
      case '--consent-page': o.consentPage = true; break;
      case '--quiet': case '-q': o.quiet = true; break;
      case '-h': case '--help': usage(null, 0); break;
      default: usage(`unknown argument '${a}'`);
    }
  }
  if (!o.clientId || !o.clientSecret || !o.redirectUris.length) usage('--client-id, --client-secret and at least one --redirect-uri are required');
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) usage('--port must be 0..65535');
  if (!Number.isInteger(o.idTokenTtl) || o.idTokenTtl < 1) usage('--id-token-ttl must be a positive integer (seconds)');
  o.anyLoopbackPort = false;
  o.redirectUris = o.redirectUris.map((u) => {
    const wild = u.match(/^http:\/\/(127\.0\.0\.1|localhost|\[::1\]):\*(\/.*)?$/);
    if (wild) { o.anyLoopbackPort = true; return `http://${wild[1]}${wild[2] ?? '/'}`; }
    if (/:\*/.test(u)) usage(`--redirect-uri ${u}: a port wildcard is only allowed for http://127.0.0.1, localhost or [::1]`);
    try { new URL(u); } catch { usage(`--redirect-uri ${u} is not a URL`); }
    return u;
  });
  if (o.anyLoopbackPort && o.redirectUris.some((u) => !/^http:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/]/.test(u))) usage('a port-wildcard --redirect-uri cannot be mixed with non-loopback redirect URIs');
  return o;
}
function usage(msg, code = 2) {
  if (msg) console.error(`upstream-op.mjs: ${msg}`);
  console.error('usage: node upstream-op.mjs --port 0 --client-id ID --client-secret S --redirect-uri URI [--redirect-uri URI]... [--id-token-ttl SECONDS] [--consent-page] [--quiet]');
  process.exit(code);
}
const opts = parseArgs(process.argv.slice(2));
// stdout carries only the ready line: oidc-provider prints its notices with console.info (stdout) and its
// warnings with console.warn; send both to stderr (and drop the warnings with --quiet).
console.log = console.info = (...a) => console.error(...a);
if (opts.quiet) console.warn = () => {};
const log = (...m) => { if (!opts.quiet) console.error('upstream-op:', ...m); };

// ---------------- HTML ----------------
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const STYLE = 'body{font-family:system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem}label{display:block;margin:.6rem 0}'
  + 'input{display:block;width:100%;padding:.4rem;font-size:1rem}button{margin-top:1rem;font-size:1rem;padding:.4rem 1rem}.error{color:#a00}';
const FORM_ACTION_ORIGINS = [...new Set(opts.redirectUris.map((u) => (opts.anyLoopbackPort ? `${new URL(u).origin}:*` : new URL(u).origin)))].join(' ');
const STYLE_HASH = `'sha256-${crypto.createHash('sha256').update(STYLE).digest('base64')}'`;
function sendPage(res, status, title, body) {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>${STYLE}</style></head>`
    + `<body><h1>${esc(title)}</h1>${body}<p><small>Upstream test OpenID Provider (${esc(provider.issuer)})</small></p></body></html>`;
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    // form-action covers the whole redirect chain of a submission in Chromium: the login POST ends in a
    // redirect to the client's redirect_uri, so its origin must be allowed too.
    'content-security-policy': `default-src 'none'; style-src ${STYLE_HASH}; form-action 'self' ${FORM_ACTION_ORIGINS}; frame-ancestors 'none'; base-uri 'none'`,
    'x-frame-options': 'DENY',
  });
  res.end(html);
}
function loginPage(res, uid, details, error) {
  const client = details.params.client_id;
  sendPage(res, 200, 'Sign in to the upstream provider', `
<p>Application <b>${esc(client)}</b> asks you to sign in (scope <code>${esc(details.params.scope ?? '')}</code>).</p>
${error ? `<p class="error" role="alert" id="error">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login" id="login-form" autocomplete="off">
<label>Login <input type="text" name="login" id="login" autofocus required></label>
<label>Password <input type="password" name="password" id="password" required></label>
<button type="submit" id="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${esc(uid)}/abort" id="cancel-form"><button type="submit" id="cancel" name="cancel" value="1">Cancel</button></form>`);
}
function consentPage(res, uid, details) {
  sendPage(res, 200, 'Allow access at the upstream provider?', `
<p>Application <b>${esc(details.params.client_id)}</b> wants <code>${esc(details.params.scope ?? '')}</code> for account <b>${esc(details.session?.accountId ?? '?')}</b>.</p>
<form method="post" action="/interaction/${esc(uid)}/confirm" id="consent-form"><button type="submit" id="allow" name="allow" value="1">Allow</button></form>
<form method="post" action="/interaction/${esc(uid)}/abort" id="cancel-form"><button type="submit" id="cancel" name="cancel" value="1">Cancel</button></form>`);
}

// ---------------- provider ----------------
// RSA key generation (threadpool) overlaps with loading oidc-provider: together ~0.4 s instead of ~0.55 s.
const keyPair = new Promise((resolve, reject) => crypto.generateKeyPair('rsa', { modulusLength: 2048 }, (e, _pub, priv) => (e ? reject(e) : resolve(priv))));
const { Provider, errors } = await import('oidc-provider');
const privateKey = await keyPair;
const signingJwk = { ...privateKey.export({ format: 'jwk' }), kid: `rs256-${crypto.randomBytes(6).toString('hex')}`, use: 'sig', alg: 'RS256' };

const server = http.createServer((req, res) => route(req, res).catch((e) => {
  log('handler error:', e?.stack ?? e);
  if (!res.headersSent) sendPage(res, e instanceof errors.SessionNotFound ? 400 : 500, 'Error', `<p class="error">${esc(e?.error_description ?? e?.message ?? e)}</p>`);
  else res.end();
}));
await new Promise((resolve, reject) => { server.once('error', reject); server.listen(opts.port, '127.0.0.1', resolve); });
const port = server.address().port;
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: opts.clientId,
    client_secret: opts.clientSecret,
    client_name: 'mcpctl (federated sign-in)',
    redirect_uris: opts.redirectUris,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    // RFC 8252 §7.3: oidc-provider ignores the port of loopback redirect URIs for native clients only.
    ...(opts.anyLoopbackPort ? { application_type: 'native' } : {}),
    id_token_signed_response_alg: 'RS256',
  }],
  jwks: { keys: [signingJwk] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  claims: { openid: ['sub', 'groups'], email: ['email', 'email_verified'], profile: ['name'] },
  scopes: ['openid', 'offline_access', 'email', 'profile'],
  conformIdTokenClaims: false, // put the scope claims into the ID token, too
  responseTypes: ['code'],
  pkce: { required: () => true },
  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
  features: { devInteractions: { enabled: false }, rpInitiatedLogout: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: { IdToken: opts.idTokenTtl, AccessToken: 3600, AuthorizationCode: 60, Interaction: 600, Session: 3600, Grant: 3600, RefreshToken: 3600 },
  async findAccount(_ctx, sub) {
    const a = BY_SUB.get(sub);
    if (!a) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub: a.sub, email: a.email, email_verified: a.email_verified, name: a.name, groups: a.groups };
      },
    };
  },
  renderError(ctx, out, _error) {
    ctx.type = 'html';
    ctx.body = `<!doctype html><html><head><meta charset="utf-8"><title>Upstream error</title></head><body><h1>Upstream error</h1>`
      + Object.entries(out).map(([k, v]) => `<p><b>${esc(k)}</b>: <span class="${esc(k)}">${esc(v)}</span></p>`).join('') + '</body></html>';
  },
});
const callback = provider.callback();
for (const ev of ['grant.success', 'authorization.success']) provider.on(ev, (ctx) => log(`event ${ev} client=${ctx.oidc?.client?.clientId ?? '-'}`));
for (const ev of ['grant.error', 'authorization.error', 'server_error', 'interaction.ended']) {
  provider.on(ev, (...a) => { const err = a.find((x) => x instanceof Error); log(`event ${ev}${err ? `: ${err.message} ${err.error_description ?? ''}` : ''}`); });
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const c of req) { size += c.length; if (size > 65536) throw new Error('form too large'); chunks.push(c); }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

async function route(req, res) {
  const url = new URL(req.url, issuer);
  const started = Date.now();
  res.on('finish', () => log(`${req.method} ${url.pathname} -> ${res.statusCode}${res.getHeader('location') ? ` Location: ${String(res.getHeader('location')).slice(0, 160)}` : ''} (${Date.now() - started} ms)`));
  const m = url.pathname.match(/^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|abort|confirm))?$/);
  if (!m) return callback(req, res);
  const [, uid, action] = m;
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new errors.SessionNotFound('interaction uid does not match the interaction cookie');
  const { prompt } = details;

  if (action === 'abort') {
    if (req.method === 'POST') await readForm(req);
    return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'End-User aborted interaction' }, { mergeWithLastSubmission: false });
  }
  if (prompt.name === 'login') {
    if (action === 'login' && req.method === 'POST') {
      const form = await readForm(req);
      const a = ACCOUNTS[form.get('login') ?? ''];
      if (!a || !crypto.timingSafeEqual(crypto.createHash('sha256').update(form.get('password') ?? '').digest(), crypto.createHash('sha256').update(a.password).digest())) {
        log(`login failed for '${form.get('login')}'`);
        return loginPage(res, uid, details, 'Invalid login or password.');
      }
      log(`login ok: ${form.get('login')} -> ${a.sub}`);
      return provider.interactionFinished(req, res, { login: { accountId: a.sub, amr: ['pwd'] } }, { mergeWithLastSubmission: false });
    }
    if (req.method !== 'GET' || action) return sendPage(res, 405, 'Method not allowed', '<p class="error">Use the login form.</p>');
    return loginPage(res, uid, details);
  }
  if (prompt.name === 'consent') {
    if (opts.consentPage && !(action === 'confirm' && req.method === 'POST')) return consentPage(res, uid, details);
    if (req.method === 'POST') await readForm(req);
    const { accountId } = details.session;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId, clientId: details.params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    if (d.missingResourceScopes) for (const [indicator, scopes] of Object.entries(d.missingResourceScopes)) grant.addResourceScope(indicator, scopes.join(' '));
    const grantId = await grant.save();
    log(`consent granted: account=${accountId} scope=${details.params.scope}`);
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  return sendPage(res, 400, 'Unknown prompt', `<p class="error">prompt ${esc(prompt.name)}</p>`);
}

// ---------------- ready ----------------
process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);
log(`listening: issuer ${issuer}, client ${opts.clientId}, redirect_uris ${opts.redirectUris.join(' ')}${opts.anyLoopbackPort ? ' (any port)' : ''}, kid ${signingJwk.kid}, id_token ttl ${opts.idTokenTtl}s`);
const stop = (sig) => {
  log(`${sig}: closing`);
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
