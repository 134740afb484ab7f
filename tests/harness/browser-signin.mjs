#!/usr/bin/env node
// Drives an OAuth authorization in a REAL headless Chromium (puppeteer-core + the system's Chromium,
// JavaScript DISABLED for the whole run: every page involved must work as plain HTML forms).
//
// CLI:  node browser-signin.mjs <authorization URL> --stop-at <redirect_uri prefix>
//            [--login alice --password wonderland] [--decision approve|deny] [--upstream-cancel]
//            [--expect-consent] [--expect-client-name NAME] [--issuer ORIGIN] [--screenshot-dir DIR]
//            [--deadline-ms 60000] [--launch-timeout-ms 20000] [--js] [--verbose]
// Lib:  import { browserSignIn } from './browser-signin.mjs'
//       const r = await browserSignIn(url, { stopAt, login, password, decision, upstreamCancel, expectConsent, ... })
//
// What it does, page after page (at most 20 documents):
//   - upstream login page (a form with a password field): fills `login` + `password` and submits; with
//     --upstream-cancel clicks the Cancel button instead. Landing on a login page again after a
//     submitted login = rejected login: stops with reason "upstream_login_rejected" and the page's error.
//   - another upstream page with a form (upstream consent): clicks its Allow/Approve/Continue button.
//   - OUR consent page (served by the issuer origin = the authorization URL's origin unless --issuer,
//     with a <form> whose action ends with /oauth/authorize): checks it (below), then clicks the
//     button name="decision" value=<--decision> (default approve).
//   - a navigation whose URL starts with --stop-at: the request is answered inside the browser (it never
//     reaches the network) and the run ends; code/state/iss/error/error_description come from its query.
//   - any other page: the run ends there (finalPage = url, status, text), e.g. our own error page.
// Consent checks (reported under "consent"; each failed one is listed in consent.problems):
//   Content-Security-Policy present, frame-ancestors 'none', no 'unsafe-inline'/'unsafe-eval' in script-src
//   (or default-src when script-src is absent); no <script> element at all; X-Frame-Options (reported);
//   the form works with JavaScript disabled (it is submitted that way); the visible text names the client
//   (--expect-client-name, else the client_id or client_name when they appear) and every requested scope
//   (the authorization URL's `scope`).
// Output: one JSON line {ok, redirect, redirectStatus (HTTP status of the 3xx that led there), code, state, iss, error, error_description, reason, consent:{seen,
//   csp, frameAncestorsNone, scriptUnsafeInline, xFrameOptions, inlineScripts, scripts, jsDisabled,
//   clientNameShown, scopesShown, scopesMissing, problems, text}, upstream:{loginSubmitted, loginError,
//   consentClicked, cancelled}, pages:[urls of every main-frame request, redirects included],
//   finalPage:{url,status,text}|null, timings:{launchMs, totalMs}}.
//   ok = the --stop-at redirect was reached AND (if our consent page was met) consent.problems is empty
//   AND (with --expect-consent) our consent page was met. Exit 0 iff ok; 1 otherwise; 2 on bad usage.
// Env: CHROMIUM (default /usr/bin/chromium, else `chromium` on PATH).
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import puppeteer from 'puppeteer-core';

// The browser binary: `explicit`, else $CHROMIUM (only that one when set), else /usr/bin/chromium, else PATH.
export function findChromium(explicit) {
  const chosen = explicit || process.env.CHROMIUM;
  if (chosen) return fs.existsSync(chosen) ? chosen : undefined;
  if (fs.existsSync('/usr/bin/chromium')) return '/usr/bin/chromium';
  try { return execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], { encoding: 'utf8' }).trim() || undefined; } catch { return undefined; }
}

const APPROVE = /\b(allow|approve|accept|authori[sz]e|consent|continue|yes|grant|confirm)\b/i;
const CANCEL = /\b(cancel|deny|reject|abort|no)\b/i;

function cspDirectives(csp) {
  const d = new Map();
  for (const part of String(csp ?? '').split(';')) {
    const [name, ...vals] = part.trim().split(/\s+/);
    if (name) d.set(name.toLowerCase(), vals);
  }
  return d;
}

/**
 * @param {string} authorizationUrl
 * @param {object} o
 * @param {string} o.stopAt  redirect_uri prefix at which to stop (required)
 */
export async function browserSignIn(authorizationUrl, o = {}) {
  const t0 = performance.now();
  const opts = {
    login: undefined, password: undefined, decision: 'approve', upstreamCancel: false, expectConsent: false,
    expectClientName: undefined, issuer: undefined, screenshotDir: undefined, chromium: undefined,
    deadlineMs: 60000, launchTimeoutMs: 20000, javaScript: false, maxPages: 20, onInfo: () => {}, ...o,
  };
  const info = (m) => opts.onInfo(m);
  if (!opts.stopAt) throw new Error('browserSignIn: stopAt (the redirect_uri prefix) is required');
  const authUrl = new URL(authorizationUrl);
  const issuerOrigin = new URL(opts.issuer ?? authUrl.origin).origin;
  const requestedScopes = (authUrl.searchParams.get('scope') ?? '').split(' ').filter(Boolean);
  const result = {
    ok: false, redirect: null, redirectStatus: null, code: null, state: null, iss: null, error: null, error_description: null, reason: null,
    consent: { seen: false },
    upstream: { loginSubmitted: 0, loginError: null, consentClicked: 0, cancelled: false },
    pages: [], navigationErrors: [], browserLog: [], finalPage: null, timings: {},
  };
  const executablePath = findChromium(opts.chromium);
  if (!executablePath) {
    result.reason = 'chromium_not_found';
    result.exception = `Chromium not found${opts.chromium || process.env.CHROMIUM ? ` at ${opts.chromium || process.env.CHROMIUM}` : ''}: run tests/harness/install.sh (or apt-get install -y --no-install-recommends chromium) or set CHROMIUM=/path/to/chromium`;
    return result;
  }

  let browser;
  let abandoned = false;
  let deadlineTimer;
  const deadline = new Promise((_, reject) => { deadlineTimer = setTimeout(() => reject(Object.assign(new Error(`browser-signin: no result within ${opts.deadlineMs} ms (deadline)`), { reason: 'deadline' })), opts.deadlineMs); });
  deadline.catch(() => {});
  let stopResolve;
  const stopped = new Promise((r) => { stopResolve = r; });
  let navFailResolve;
  let navFailed = new Promise((r) => { navFailResolve = r; });
  const responses = new Map(); // url -> {status, headers} of main-frame documents
  let shot = 0;
  const screenshot = async (page, label) => {
    if (!opts.screenshotDir) return;
    try {
      fs.mkdirSync(opts.screenshotDir, { recursive: true });
      const file = path.join(opts.screenshotDir, `${String(++shot).padStart(2, '0')}-${label.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}.png`);
      await page.screenshot({ path: file, fullPage: true });
      info(`screenshot ${file}`);
    } catch (e) { info(`screenshot failed: ${e.message}`); }
  };

  const run = async () => {
    const tl = performance.now();
    try {
      browser = await puppeteer.launch({
        executablePath,
        headless: true, // puppeteer passes --headless=new
        timeout: opts.launchTimeoutMs,
        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-proxy-server',
          '--no-first-run', '--no-default-browser-check', '--disable-extensions', '--disable-background-networking',
          '--disable-component-update', '--disable-sync', '--password-store=basic', '--use-mock-keychain'],
      });
    } catch (e) {
      throw Object.assign(new Error(`could not launch Chromium (${executablePath}) within ${opts.launchTimeoutMs} ms: ${e.message}`), { reason: 'launch_failed' });
    }
    if (abandoned) { await browser.close().catch(() => {}); return; } // the deadline passed during the launch
    result.timings.launchMs = Math.round(performance.now() - tl);
    info(`chromium ${await browser.version()} launched in ${result.timings.launchMs} ms`);
    const page = await browser.newPage();
    await page.setJavaScriptEnabled(!!opts.javaScript);
    await page.setRequestInterception(true);
    // Browser-side messages such as CSP violations ("Refused to send form data to … form-action …").
    const cdp = await page.createCDPSession();
    await cdp.send('Log.enable').catch(() => {});
    cdp.on('Log.entryAdded', ({ entry }) => {
      if (['error', 'warning'].includes(entry.level)) result.browserLog.push(`${entry.source}: ${entry.text}`.slice(0, 500));
    });
    page.on('request', (req) => {
      const u = req.url();
      if (req.isNavigationRequest() && req.frame() === page.mainFrame()) {
        result.pages.push(u);
        if (u.startsWith(opts.stopAt)) {
          result.redirectStatus = req.redirectChain().at(-1)?.response()?.status() ?? null;
          stopResolve(u);
          // Answer inside the browser: the MCP client's redirect_uri is never contacted.
          return req.respond({ status: 200, contentType: 'text/html; charset=utf-8', body: '<!doctype html><title>stop-at reached</title><p>browser-signin: redirect captured</p>' }).catch(() => {});
        }
      }
      return req.continue().catch(() => {});
    });
    page.on('requestfailed', (req) => {
      if (!req.isNavigationRequest() || req.frame() !== page.mainFrame()) return;
      const chain = req.redirectChain().map((r) => r.url());
      const f = { url: req.url(), errorText: req.failure()?.errorText ?? 'failed', redirectedFrom: chain };
      result.navigationErrors.push(f);
      navFailResolve(f);
    });
    page.on('response', (res) => {
      const req = res.request();
      if (req.isNavigationRequest() && req.frame() === page.mainFrame()) responses.set(res.url(), { status: res.status(), headers: res.headers() });
    });

    // Navigate (or click) and wait for the next document or the stop-at capture, whichever comes first.
    // A navigation that fails (e.g. net::ERR_BLOCKED_BY_CSP when a form-action CSP forbids a redirect
    // of the form submission's chain) ends the run with reason "navigation_failed".
    const navigate = async (action) => {
      navFailed = new Promise((r) => { navFailResolve = r; });
      const nav = page.waitForNavigation({ waitUntil: 'domcontentloaded', timeout: opts.deadlineMs }).catch((e) => e);
      await action();
      const r = await Promise.race([nav, stopped.then(() => 'stopped'), navFailed.then((f) => ({ failed: f }))]);
      if (r?.failed) {
        const f = r.failed;
        await new Promise((res) => setTimeout(res, 100)); // let the CSP report reach browserLog
        const csp = result.browserLog.filter((l) => /Content Security Policy/i.test(l)).at(-1);
        throw Object.assign(new Error(`navigation to ${f.url} failed: ${f.errorText}${f.redirectedFrom.length ? ` (redirect chain: ${f.redirectedFrom.join(' -> ')})` : ''}${csp ? ` -- browser: ${csp}` : ''}`), { reason: 'navigation_failed' });
      }
      if (r instanceof Error && !/ERR_ABORTED|frame was detached/i.test(r.message)) throw r;
    };
    const pageState = () => page.evaluate(() => {
      const abs = (a) => { try { return new URL(a || location.href, location.href).href; } catch { return a; } };
      return {
        url: location.href,
        title: document.title,
        text: (document.body?.innerText ?? '').trim(),
        scripts: document.querySelectorAll('script').length,
        inlineScripts: [...document.querySelectorAll('script')].filter((s) => !s.src).length,
        forms: [...document.forms].map((f, i) => ({
          index: i, action: abs(f.getAttribute('action')), method: (f.getAttribute('method') || 'get').toLowerCase(),
          hasPassword: !!f.querySelector('input[type=password]'),
          fields: [...f.querySelectorAll('input,select,textarea')].map((e) => ({ name: e.name, type: e.type })),
          buttons: [...f.querySelectorAll('button, input[type=submit]')].map((b, j) => ({ j, name: b.name, value: b.value, type: b.type, label: (b.innerText || b.value || '').trim(), id: b.id })),
        })),
      };
    });
    const clickButton = (formIndex, buttonIndex) => page.evaluate((fi, bj) => {
      document.forms[fi].querySelectorAll('button, input[type=submit]')[bj].setAttribute('data-browser-signin', 'click');
    }, formIndex, buttonIndex).then(() => page.click('[data-browser-signin="click"]'));

    await navigate(() => page.goto(authUrl.href, { waitUntil: 'domcontentloaded', timeout: opts.deadlineMs }).catch((e) => {
      if (!/ERR_ABORTED/.test(e.message)) throw Object.assign(e, { reason: 'navigation_failed' });
    }));

    for (let n = 0; n < opts.maxPages; n++) {
      const stopUrl = await Promise.race([stopped, new Promise((r) => setImmediate(() => r(undefined)))]);
      if (stopUrl) {
        const q = new URL(stopUrl).searchParams;
        Object.assign(result, { redirect: stopUrl, code: q.get('code'), state: q.get('state'), iss: q.get('iss'), error: q.get('error'), error_description: q.get('error_description') });
        return;
      }
      const st = await pageState();
      const resp = responses.get(st.url) ?? responses.get(st.url.replace(/#.*$/, '')) ?? {};
      const origin = new URL(st.url).origin;
      info(`page ${resp.status ?? '?'} ${st.url.slice(0, 140)} forms=${st.forms.length}`);
      await screenshot(page, `${new URL(st.url).host}${new URL(st.url).pathname}`);
      const ourForm = origin === issuerOrigin && st.forms.find((f) => /\/oauth\/authorize$/.test(new URL(f.action).pathname) && f.buttons.some((b) => b.name === 'decision'));
      const loginForm = st.forms.find((f) => f.hasPassword);

      if (ourForm) {
        if (result.consent.seen) { result.reason = 'consent_page_repeated'; result.finalPage = { url: st.url, status: resp.status ?? null, text: st.text.slice(0, 1000) }; return; }
        const c = checkConsent(st, resp, { requestedScopes, expectClientName: opts.expectClientName, clientId: authUrl.searchParams.get('client_id'), javaScript: opts.javaScript });
        result.consent = c;
        const btn = ourForm.buttons.find((b) => b.name === 'decision' && b.value === opts.decision);
        if (!btn) { c.problems.push(`no button name="decision" value="${opts.decision}"`); result.reason = 'consent_button_missing'; result.finalPage = { url: st.url, status: resp.status ?? null, text: st.text.slice(0, 1000) }; return; }
        info(`our consent page: clicking decision=${opts.decision}${c.problems.length ? ` (problems: ${c.problems.join('; ')})` : ''}`);
        await navigate(() => clickButton(ourForm.index, btn.j));
        continue;
      }
      if (loginForm) {
        if (result.upstream.loginSubmitted && !opts.upstreamCancel) {
          result.upstream.loginError = (st.text.match(/[^\n]*(invalid|wrong|incorrect|failed|error)[^\n]*/i)?.[0] ?? st.text.slice(0, 200)).trim();
          result.reason = 'upstream_login_rejected';
          result.finalPage = { url: st.url, status: resp.status ?? null, text: st.text.slice(0, 1000) };
          return;
        }
        if (opts.upstreamCancel) {
          const f = st.forms.find((ff) => ff.buttons.some((b) => CANCEL.test(`${b.label} ${b.name} ${b.id}`)));
          const b = f?.buttons.find((bb) => CANCEL.test(`${bb.label} ${bb.name} ${bb.id}`));
          if (!b) { result.reason = 'upstream_cancel_button_missing'; result.finalPage = { url: st.url, status: resp.status ?? null, text: st.text.slice(0, 1000) }; return; }
          result.upstream.cancelled = true;
          info('upstream login page: clicking Cancel');
          await navigate(() => clickButton(f.index, b.j));
          continue;
        }
        if (opts.login === undefined || opts.password === undefined) { result.reason = 'upstream_login_needs_credentials'; result.finalPage = { url: st.url, status: resp.status ?? null, text: st.text.slice(0, 1000) }; return; }
        const loginField = loginForm.fields.find((f) => /^(login|username|user|email)$/i.test(f.name ?? '')) ?? loginForm.fields.find((f) => ['text', 'email'].includes(f.type));
        const pwField = loginForm.fields.find((f) => f.type === 'password');
        const submit = loginForm.buttons.find((b) => !CANCEL.test(`${b.label} ${b.name} ${b.id}`)) ?? loginForm.buttons[0];
        if (!loginField || !submit) { result.reason = 'upstream_login_form_unusable'; result.finalPage = { url: st.url, status: resp.status ?? null, text: st.text.slice(0, 1000) }; return; }
        await page.evaluate((fi) => { document.forms[fi].setAttribute('data-browser-signin-form', '1'); }, loginForm.index);
        await page.type(`form[data-browser-signin-form] [name="${loginField.name}"]`, opts.login);
        await page.type(`form[data-browser-signin-form] [name="${pwField.name}"]`, opts.password);
        result.upstream.loginSubmitted++;
        info(`upstream login page: submitting login=${opts.login}`);
        await navigate(() => clickButton(loginForm.index, submit.j));
        continue;
      }
      if (origin !== issuerOrigin && st.forms.length) {
        const f = st.forms.find((ff) => ff.buttons.some((b) => APPROVE.test(`${b.label} ${b.value} ${b.name} ${b.id}`) && !CANCEL.test(b.label)));
        const b = f?.buttons.find((bb) => APPROVE.test(`${bb.label} ${bb.value} ${bb.name} ${bb.id}`) && !CANCEL.test(bb.label));
        if (f && b && result.upstream.consentClicked < 3) {
          result.upstream.consentClicked++;
          info(`upstream page with a form: clicking "${b.label}"`);
          await navigate(() => clickButton(f.index, b.j));
          continue;
        }
      }
      // Anything else: the flow ended on a page (an error page, an unknown form).
      result.reason = origin === issuerOrigin && st.forms.length ? 'unrecognised_form_on_issuer' : 'ended_on_page';
      result.finalPage = { url: st.url, status: resp.status ?? null, text: st.text.slice(0, 1000) };
      return;
    }
    result.reason = 'too_many_pages';
  };

  try {
    await Promise.race([run(), deadline]);
  } catch (e) {
    result.reason = e.reason ?? 'exception';
    result.exception = e.message;
  } finally {
    abandoned = true;
    clearTimeout(deadlineTimer);
    if (browser) await Promise.race([browser.close().catch(() => {}), new Promise((r) => setTimeout(r, 3000))]);
    if (browser?.process() && browser.process().exitCode === null) try { browser.process().kill('SIGKILL'); } catch {}
  }
  const c = result.consent;
  result.ok = !!result.redirect && (!c.seen || !c.problems.length) && (!opts.expectConsent || c.seen);
  if (result.redirect && !result.ok) result.reason = opts.expectConsent && !c.seen ? 'consent_page_not_seen' : 'consent_checks_failed';
  result.timings.totalMs = Math.round(performance.now() - t0);
  return result;
}

function checkConsent(st, resp, { requestedScopes, expectClientName, clientId, javaScript }) {
  const h = resp.headers ?? {};
  const csp = h['content-security-policy'] ?? null;
  const d = cspDirectives(csp);
  const scriptSrc = d.get('script-src') ?? d.get('default-src') ?? null;
  const c = {
    seen: true,
    url: st.url,
    status: resp.status ?? null,
    csp,
    frameAncestorsNone: /^'none'$/i.test((d.get('frame-ancestors') ?? []).join(' ')),
    scriptUnsafeInline: !!scriptSrc && scriptSrc.some((v) => /^'unsafe-(inline|eval|hashes)'$/i.test(v)),
    scriptSrc: scriptSrc ? scriptSrc.join(' ') : null,
    xFrameOptions: h['x-frame-options'] ?? null,
    inlineScripts: st.inlineScripts,
    scripts: st.scripts,
    jsDisabled: !javaScript,
    clientNameShown: null,
    scopesShown: [],
    scopesMissing: [],
    problems: [],
    text: st.text.slice(0, 500),
  };
  if (!csp) c.problems.push('no Content-Security-Policy header');
  else {
    if (!c.frameAncestorsNone) c.problems.push(`CSP frame-ancestors is not 'none'`);
    if (!scriptSrc) c.problems.push('CSP has neither script-src nor default-src');
    if (c.scriptUnsafeInline) c.problems.push(`CSP script-src/default-src allows ${scriptSrc.join(' ')}`);
  }
  if (c.xFrameOptions && !/^(deny|sameorigin)$/i.test(c.xFrameOptions)) c.problems.push(`X-Frame-Options is ${c.xFrameOptions}`);
  if (c.scripts) c.problems.push(`${c.scripts} <script> element(s) on the consent page (${c.inlineScripts} inline)`);
  if (resp.status !== undefined && resp.status !== 200) c.problems.push(`consent page answered HTTP ${resp.status}`);
  if (expectClientName) {
    c.clientNameShown = st.text.includes(expectClientName);
    if (!c.clientNameShown) c.problems.push(`client name "${expectClientName}" not in the page text`);
  } else if (clientId) c.clientNameShown = st.text.includes(clientId) ? true : null; // a client_name may be shown instead of the id
  for (const s of requestedScopes) (st.text.includes(s) ? c.scopesShown : c.scopesMissing).push(s);
  if (c.scopesMissing.length) c.problems.push(`requested scope(s) not shown: ${c.scopesMissing.join(' ')}`);
  return c;
}

// ---------------- CLI ----------------
if (import.meta.url === `file://${process.argv[1]}`) {
  const a = process.argv.slice(2);
  const valued = new Set(['--stop-at', '--login', '--password', '--decision', '--screenshot-dir', '--deadline-ms', '--launch-timeout-ms', '--issuer', '--expect-client-name', '--chromium']);
  const flags = new Set(['--upstream-cancel', '--expect-consent', '--js', '--verbose']);
  const o = {};
  let target;
  const usage = (m) => { if (m) console.error(`browser-signin.mjs: ${m}`); console.error('usage: node browser-signin.mjs <authorization URL> --stop-at <redirect_uri prefix> [--login L --password P] [--decision approve|deny] [--upstream-cancel] [--expect-consent] [--expect-client-name NAME] [--issuer ORIGIN] [--screenshot-dir DIR] [--deadline-ms N] [--launch-timeout-ms N] [--js] [--verbose]'); process.exit(2); };
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '-h' || a[i] === '--help') usage();
    if (valued.has(a[i])) { if (i + 1 >= a.length) usage(`${a[i]} needs a value`); o[a[i].slice(2).replace(/-([a-z])/g, (_, x) => x.toUpperCase())] = a[++i]; }
    else if (flags.has(a[i])) o[a[i].slice(2).replace(/-([a-z])/g, (_, x) => x.toUpperCase())] = true;
    else if (!a[i].startsWith('--') && !target) target = a[i];
    else usage(`unknown argument '${a[i]}'`);
  }
  if (!target) usage('the authorization URL is required');
  if (!o.stopAt) usage('--stop-at is required');
  if (o.decision && !['approve', 'deny'].includes(o.decision)) usage('--decision must be approve or deny');
  for (const k of ['deadlineMs', 'launchTimeoutMs']) if (o[k] !== undefined) o[k] = Number(o[k]);
  if (o.js) { o.javaScript = true; delete o.js; }
  const verbose = o.verbose; delete o.verbose;
  const r = await browserSignIn(target, { ...o, onInfo: verbose ? (m) => console.error(`browser-signin: ${m}`) : () => {} });
  console.log(JSON.stringify(r));
  process.exit(r.ok ? 0 : 1);
}
