#!/usr/bin/env node
// Self-test of upstream-op.mjs + browser-signin.mjs, without mcpctl: the test plays the relying party.
//   node upstream-op-selftest.mjs [--screenshot-dir DIR] [--verbose]
// 1. upstream-op.mjs with an exact redirect URI: real headless Chromium signs in at the OP's own /auth
//    (PKCE S256 + nonce + state); the code is exchanged at /token (client_secret_basic for alice,
//    client_secret_post for bob); the RS256 ID token is verified against /jwks and must carry sub, email,
//    email_verified, name, groups, nonce. Negatives: code replay, wrong verifier, wrong password (visible
//    error, no redirect), unknown login, upstream Cancel (error=access_denied), no PKCE.
// 2. upstream-op.mjs with --redirect-uri 'http://127.0.0.1:*/cb' --consent-page --id-token-ttl 5: any
//    loopback port is accepted, the upstream consent page is clicked through, exp - iat = 5; a
//    non-loopback-port path is refused.
// Prints [PASS|FAIL|INFO] lines, timings, and the last line "N passed, M failed"; exit 0 iff 0 failed.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { browserSignIn } from './browser-signin.mjs';

const argv = process.argv.slice(2);
const opt = (n) => { const i = argv.indexOf(n); return i >= 0 ? argv[i + 1] : undefined; };
const VERBOSE = argv.includes('--verbose');
const SHOTS = opt('--screenshot-dir');
const CLIENT_ID = 'mcpctl-selftest', CLIENT_SECRET = crypto.randomBytes(16).toString('hex');

let passed = 0, failed = 0;
const check = (cond, name, detail = '') => { cond ? passed++ : failed++; console.log(`[${cond ? 'PASS' : 'FAIL'}] ${name}${detail ? ` -- ${detail}` : ''}`); return !!cond; };
const info = (name, detail) => console.log(`[INFO] ${name} -- ${detail}`);
const timings = {};
const ops = [];
const finish = (code) => { for (const p of ops) if (p.exitCode === null) p.kill('SIGTERM'); console.log(`timings: ${JSON.stringify(timings)}`); console.log(`${passed} passed, ${failed} failed`); process.exit(code ?? (failed ? 1 : 0)); };
const watchdog = setTimeout(() => { check(false, 'self-test finished within 240 s'); finish(1); }, 240000);

// ---- start an OP and wait for its ready line ----
async function startOp(label, args) {
  const t = performance.now();
  const p = spawn(process.execPath, [new URL('./upstream-op.mjs', import.meta.url).pathname, '--port', '0', '--client-id', CLIENT_ID, '--client-secret', CLIENT_SECRET, ...args, ...(VERBOSE ? [] : ['--quiet'])], { stdio: ['ignore', 'pipe', 'inherit'] });
  ops.push(p);
  const ready = await new Promise((resolve, reject) => {
    let buf = '';
    p.stdout.on('data', (d) => { buf += d; const i = buf.indexOf('\n'); if (i >= 0) { try { resolve(JSON.parse(buf.slice(0, i))); } catch (e) { reject(new Error(`bad ready line ${buf.slice(0, i)}: ${e.message}`)); } } });
    p.on('exit', (c) => reject(new Error(`upstream-op exited with ${c} before its ready line`)));
  }).catch((e) => { check(false, `${label}: upstream-op ready line`, e.message); finish(1); });
  timings[`${label}_op_start_ms`] = Math.round(performance.now() - t);
  check(ready.issuer === `http://127.0.0.1:${ready.port}` && Number.isInteger(ready.port), `${label}: ready line {"issuer","port"}`, `${JSON.stringify(ready)} after ${timings[`${label}_op_start_ms`]} ms`);
  let extra = '';
  p.stdout.on('data', (d) => { extra += d; });
  const disc = await (await fetch(`${ready.issuer}/.well-known/openid-configuration`)).json();
  const jwks = await (await fetch(disc.jwks_uri)).json();
  const stop = async () => {
    check(!extra.trim(), `${label}: upstream-op printed exactly one line on stdout`, extra.trim().slice(0, 200));
    const exited = new Promise((r) => (p.exitCode !== null ? r({ code: p.exitCode }) : p.once('exit', (code, sig) => r({ code, sig }))));
    const t2 = performance.now();
    p.kill('SIGTERM');
    const ex = await exited;
    timings[`${label}_op_stop_ms`] = Math.round(performance.now() - t2);
    check(ex.code === 0, `${label}: upstream-op exits 0 on SIGTERM`, JSON.stringify(ex));
  };
  return { issuer: ready.issuer, disc, jwks, stop };
}

function authRequest(op, redirect, { pkce = true, scope = 'openid email profile' } = {}) {
  const verifier = crypto.randomBytes(32).toString('base64url');
  const state = crypto.randomBytes(12).toString('base64url');
  const nonce = crypto.randomBytes(12).toString('base64url');
  const u = new URL(op.disc.authorization_endpoint);
  u.search = new URLSearchParams({ client_id: CLIENT_ID, response_type: 'code', redirect_uri: redirect, scope, state, nonce,
    ...(pkce ? { code_challenge: crypto.createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256' } : {}) }).toString();
  return { url: u.href, verifier, state, nonce, redirect };
}
async function token(op, req, code, { method = 'basic', verifier = req.verifier } = {}) {
  const body = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: req.redirect, code_verifier: verifier });
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (method === 'basic') headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`).toString('base64')}`;
  else { body.set('client_id', CLIENT_ID); body.set('client_secret', CLIENT_SECRET); }
  const r = await fetch(op.disc.token_endpoint, { method: 'POST', headers, body });
  return { status: r.status, json: await r.json().catch(() => ({})) };
}
function verifyIdToken(op, jwt) {
  const [h, p, s] = jwt.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  const claims = JSON.parse(Buffer.from(p, 'base64url'));
  const jwk = op.jwks.keys.find((k) => k.kid === header.kid);
  const valid = !!jwk && header.alg === 'RS256' && crypto.verify('RSA-SHA256', Buffer.from(`${h}.${p}`), crypto.createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(s, 'base64url'));
  return { header, claims, valid };
}
// issuer: a made-up origin, so that every page of the OP counts as "upstream" for browser-signin.
const signIn = (req, o) => browserSignIn(req.url, { stopAt: req.redirect, issuer: 'http://mcpctl.invalid', screenshotDir: SHOTS, onInfo: VERBOSE ? (m) => console.error(`  browser: ${m}`) : () => {}, ...o });

async function happyPath(op, label, redirect, login, password, expected, method, extraChecks = () => {}) {
  const req = authRequest(op, redirect);
  const t = performance.now();
  const r = await signIn(req, { login, password });
  const ms = Math.round(performance.now() - t);
  timings[`${label}_signin_ms`] = ms; timings[`${label}_browser_launch_ms`] = r.timings.launchMs;
  if (!check(r.ok && r.code && r.state === req.state && r.iss === op.issuer, `${label}: browser sign-in reached redirect_uri with code, state, iss`, r.ok ? `${ms} ms (browser launch ${r.timings.launchMs} ms), ${r.pages.length} documents` : JSON.stringify(r).slice(0, 800))) return;
  const tok = await token(op, req, r.code, { method });
  if (!check(tok.status === 200 && tok.json.id_token, `${label}: code exchange (client_secret_${method}) -> 200 with id_token`, `HTTP ${tok.status} ${tok.json.error ?? ''} ${tok.json.error_description ?? ''}`)) return;
  const { header, claims, valid } = verifyIdToken(op, tok.json.id_token);
  check(valid, `${label}: ID token RS256 signature verifies against /jwks`, `alg=${header.alg} kid=${header.kid}`);
  check(claims.iss === op.issuer && claims.aud === CLIENT_ID && claims.nonce === req.nonce && claims.exp > Date.now() / 1000, `${label}: ID token iss, aud, nonce, exp`);
  const want = { sub: expected.sub, email: expected.email, email_verified: true, name: expected.name, groups: expected.groups };
  const got = { sub: claims.sub, email: claims.email, email_verified: claims.email_verified, name: claims.name, groups: claims.groups };
  check(JSON.stringify(got) === JSON.stringify(want), `${label}: ID token carries sub, email, email_verified, name, groups`, JSON.stringify(got));
  info(`${label}: ID token claims`, JSON.stringify(claims));
  const replay = await token(op, req, r.code, { method });
  check(replay.status === 400 && replay.json.error === 'invalid_grant', `${label}: code replay -> invalid_grant`, `HTTP ${replay.status} ${replay.json.error}`);
  extraChecks(r, claims);
}

const ALICE = { sub: 'alice-0001', email: 'alice@example.com', name: 'Alice Liddell', groups: ['mcp-users', 'admins'] };
const BOB = { sub: 'bob-0002', email: 'bob@other.test', name: 'Bob Builder', groups: [] };
try {
  // ---------------- 1. exact redirect URI, automatic upstream consent ----------------
  const REDIRECT = 'http://127.0.0.1:9/cb';
  const op = await startOp('op1', ['--redirect-uri', REDIRECT, '--redirect-uri', 'http://127.0.0.1:9/other']);
  const d = op.disc;
  check(d.issuer === op.issuer && d.code_challenge_methods_supported?.join() === 'S256', 'op1: discovery: issuer, PKCE S256 only', JSON.stringify({ issuer: d.issuer, pkce: d.code_challenge_methods_supported }));
  check(d.token_endpoint_auth_methods_supported?.includes('client_secret_basic') && d.token_endpoint_auth_methods_supported?.includes('client_secret_post'), 'op1: discovery: client_secret_basic + client_secret_post', JSON.stringify(d.token_endpoint_auth_methods_supported));
  check(d.id_token_signing_alg_values_supported?.includes('RS256') && ['email', 'name', 'groups'].every((c) => d.claims_supported?.includes(c)), 'op1: discovery: RS256 ID tokens; email, name, groups claims', JSON.stringify(d.claims_supported));
  await happyPath(op, 'op1 alice', REDIRECT, 'alice', 'wonderland', ALICE, 'basic', (r) => check(r.upstream.loginSubmitted === 1 && !r.upstream.consentClicked && !r.consent.seen, 'op1 alice: one login form submitted, upstream consent automatic', JSON.stringify(r.upstream)));
  await happyPath(op, 'op1 bob', REDIRECT, 'bob', 'builder', BOB, 'post');
  {
    const req = authRequest(op, REDIRECT);
    const r = await signIn(req, { login: 'alice', password: 'wonderland' });
    const bad = r.code ? await token(op, req, r.code, { verifier: `${req.verifier.slice(0, -4)}AAAA` }) : { status: 0, json: {} };
    check(bad.status === 400 && bad.json.error === 'invalid_grant', 'op1: wrong PKCE code_verifier -> invalid_grant', `HTTP ${bad.status} ${bad.json.error} ${bad.json.error_description ?? ''}`);
  }
  {
    const r = await signIn(authRequest(op, REDIRECT), { login: 'alice', password: 'not-the-password' });
    check(!r.ok && !r.redirect && r.reason === 'upstream_login_rejected' && /invalid login or password/i.test(r.upstream.loginError ?? '') && r.finalPage?.status === 200,
      'op1: wrong password: the login page shows "Invalid login or password.", no redirect', JSON.stringify({ ok: r.ok, reason: r.reason, loginError: r.upstream.loginError, finalPage: r.finalPage?.url }));
  }
  {
    const r = await signIn(authRequest(op, REDIRECT), { login: 'mallory', password: 'x' });
    check(!r.redirect && r.reason === 'upstream_login_rejected', 'op1: unknown login: rejected, no redirect', r.reason);
  }
  {
    const req = authRequest(op, REDIRECT);
    const r = await signIn(req, { upstreamCancel: true });
    check(r.ok && r.error === 'access_denied' && !r.code && r.state === req.state && r.upstream.cancelled, 'op1: --upstream-cancel: redirect with error=access_denied, state, no code', JSON.stringify({ error: r.error, error_description: r.error_description, state: r.state === req.state }));
  }
  {
    const r = await signIn(authRequest(op, REDIRECT, { pkce: false }), {});
    check(!r.code && r.error === 'invalid_request', 'op1: authorization request without PKCE -> error=invalid_request', JSON.stringify({ error: r.error, error_description: r.error_description, reason: r.reason }));
  }
  {
    const res = await fetch(authRequest(op, 'http://127.0.0.1:9/not-registered').url, { redirect: 'manual' });
    check(res.status === 400, 'op1: unregistered redirect_uri -> 400 page, no redirect', `HTTP ${res.status}`);
  }
  await op.stop();

  // ---------------- 2. loopback port wildcard, upstream consent page, short ID token ----------------
  const op2 = await startOp('op2', ['--redirect-uri', 'http://127.0.0.1:*/cb', '--consent-page', '--id-token-ttl', '5']);
  await happyPath(op2, 'op2 alice', 'http://127.0.0.1:4567/cb', 'alice', 'wonderland', ALICE, 'basic', (r, claims) => {
    check(r.upstream.consentClicked === 1, 'op2: upstream consent page shown and its Allow button clicked', JSON.stringify(r.upstream));
    check(claims.exp - claims.iat === 5, 'op2: --id-token-ttl 5 -> exp - iat = 5', `${claims.exp - claims.iat}`);
  });
  {
    const req = authRequest(op2, 'http://127.0.0.1:7654/cb');
    const r = await signIn(req, { login: 'bob', password: 'builder' });
    check(r.ok && r.code, 'op2: another loopback port accepted (RFC 8252 §7.3)', r.ok ? r.redirect.slice(0, 60) : r.reason);
    const res = await fetch(authRequest(op2, 'http://127.0.0.1:7654/elsewhere').url, { redirect: 'manual' });
    check(res.status === 400, 'op2: other path on a loopback port refused', `HTTP ${res.status}`);
  }
  await op2.stop();
} catch (e) {
  check(false, 'self-test ran without exception', e.stack);
}
clearTimeout(watchdog);
finish();
