#!/usr/bin/env node
// Prints the OAuth discovery result for an MCP URL as JSON, using the TS SDK's discovery code
// (RFC 9728 PRM -> RFC 8414 / OIDC AS metadata), plus the 401 challenge of an unauthenticated POST.
//   node discover.mjs <MCP URL>
// (used by conformance.sh; status 0 + error when the server is unreachable)
import { discoverOAuthServerInfo, extractWWWAuthenticateParams } from '@modelcontextprotocol/sdk/client/auth.js';
const url = process.argv[2];
if (!url) { console.error('usage: node discover.mjs <MCP URL>'); process.exit(2); }
const res = await fetch(url, {
  method: 'POST',
  headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
  body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'discover', version: '0' } } })
}).catch((e) => ({ status: 0, error: String(e), headers: new Headers() }));
const challenge = res.status === 401 ? extractWWWAuthenticateParams(res) : {};
let info = {};
try { info = await discoverOAuthServerInfo(url, { resourceMetadataUrl: challenge.resourceMetadataUrl }); } catch (e) { info = { error: String(e) }; }
console.log(JSON.stringify({
  status: res.status,
  wwwAuthenticate: res.headers.get('www-authenticate'),
  resourceMetadataUrl: challenge.resourceMetadataUrl?.href,
  challengeScope: challenge.scope,
  resource: info.resourceMetadata?.resource,
  issuer: info.authorizationServerMetadata?.issuer,
  authorizationServerUrl: info.authorizationServerUrl,
  authorization_endpoint: info.authorizationServerMetadata?.authorization_endpoint,
  token_endpoint: info.authorizationServerMetadata?.token_endpoint,
  registration_endpoint: info.authorizationServerMetadata?.registration_endpoint,
  error: res.error ?? info.error
}));
