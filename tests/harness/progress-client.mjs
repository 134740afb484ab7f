#!/usr/bin/env node
// A streamed tool call through the REAL TypeScript MCP SDK client (Client +
// StreamableHTTPClientTransport), with a bearer token the caller already has:
//
//   node progress-client.mjs --url URL --token TOKEN [--tool count] [--args '{"to":4,"interval_ms":300}']
//        [--min-progress N (default 1)] [--min-lead-ms MS (default 0)] [--timeout-ms 60000]
//
// Connects (initialize, 2025-11-25), then calls TOOL with the SDK's onprogress option (a progressToken
// in _meta). PASS only if at least N notifications/progress arrived before the result, the result is no
// error, and the first notification arrived at least MS before the result: a buffered answer delivers
// every notification together with the result, which a count alone cannot tell.
// Prints PASS/FAIL lines, then "N passed, N failed"; exit 0 iff nothing failed, 2 on bad usage.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const argv = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : fallback;
};
const URL_ARG = opt('--url');
const TOKEN = opt('--token', process.env.MCP_BEARER_TOKEN);
const TOOL = opt('--tool', 'count');
const ARGS = opt('--args', '{"to":4,"interval_ms":300}');
const MIN_PROGRESS = Number(opt('--min-progress', '1'));
const MIN_LEAD_MS = Number(opt('--min-lead-ms', '0'));
const TIMEOUT_MS = Number(opt('--timeout-ms', '60000'));
let args;
try { args = JSON.parse(ARGS); } catch (e) { console.error(`--args: not JSON: ${e.message}`); process.exit(2); }
if (!URL_ARG || !TOKEN || !Number.isInteger(MIN_PROGRESS) || !(MIN_LEAD_MS >= 0) || !(TIMEOUT_MS > 0)) {
  console.error('usage: node progress-client.mjs --url URL --token TOKEN [--tool NAME] [--args JSON] [--min-progress N] [--min-lead-ms MS] [--timeout-ms MS]');
  process.exit(2);
}

let passed = 0, failed = 0;
const record = (ok, name, detail) => {
  ok ? passed++ : failed++;
  console.log(`[${ok ? 'PASS' : 'FAIL'}] ${name}: ${detail}`);
};

const transport = new StreamableHTTPClientTransport(new URL(URL_ARG), {
  requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } },
});
const client = new Client({ name: 'mcpctl-progress-client', version: '1.0.0' });
try {
  await client.connect(transport);
  record(true, 'initialize', `protocol ${transport.protocolVersion ?? 'negotiated'}`);
  const seen = [];
  const t0 = Date.now();
  const result = await client.callTool({ name: TOOL, arguments: args }, undefined, {
    onprogress: (p) => seen.push({ ...p, ms: Date.now() - t0 }),
    resetTimeoutOnProgress: true,
    timeout: TIMEOUT_MS,
  });
  const resultMs = Date.now() - t0;
  const before = seen.length;
  const lead = before > 0 ? resultMs - seen[0].ms : 0;
  const text = (result.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
  const detail = `${before} notifications [${seen.map((p) => `${p.progress}/${p.total}@${p.ms}ms`).join(' ')}], result at ${resultMs}ms (first notification ${lead} ms ahead): ${JSON.stringify(text).slice(0, 120)}`;
  record(!result.isError && before >= MIN_PROGRESS, `tools/call ${TOOL}: >= ${MIN_PROGRESS} progress notifications before the result`, detail);
  record(lead >= MIN_LEAD_MS, `tools/call ${TOOL}: the first notification >= ${MIN_LEAD_MS} ms before the result (streamed, not buffered)`, detail);
} catch (e) {
  record(false, 'streamed call', e?.stack ?? String(e));
} finally {
  await client.close().catch(() => {});
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
