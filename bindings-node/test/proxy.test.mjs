// Proxy mode through the Node SDK (`createFetcher({ mode: 'proxy' })`): the `proxy_cases` of
// tests/vectors/proxy.json through the core (the same functions the fetcher calls), and the real
// stack (`nexus dev` + the testkit echo upstream): the gateway injects the credential, this
// process never holds it, upstream answers come back as they are, the gateway's are typed errors.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import { PACKAGE_DIR, REPO_ROOT, loadSdk, missing, startEcho, startStack } from './helpers.mjs';

const require = createRequire(import.meta.url);
const native = require(path.join(PACKAGE_DIR, 'native', 'index.js'));
const { fromNative } = require(path.join(PACKAGE_DIR, 'dist', 'errors.js'));

const vectors = JSON.parse(readFileSync(path.join(REPO_ROOT, 'tests', 'vectors', 'proxy.json'), 'utf8'));

test('proxy.json has its proxy cases', () => assert.ok(vectors.proxy_cases.length >= 20));

for (const c of vectors.proxy_cases) {
  test(`proxy.json: ${c.name}`, () => {
    let got;
    let want;
    if (c.url) {
      const { gateway, workspace_id, provider, path: p } = c.url;
      try {
        got = native.proxyUrl(gateway, workspace_id, provider, p);
      } catch (e) {
        got = `error:${fromNative(e).code}`;
      }
      want = c.expect_error ? `error:${c.expect_error}` : c.expect_url;
    } else {
      const { status, headers, body } = c.answer;
      try {
        native.proxyCheckAnswer(status, Object.entries(headers), new TextEncoder().encode(body));
        got = 'upstream';
      } catch (e) {
        got = `gateway:${fromNative(e).code}`;
      }
      want = c.expect_source === 'gateway' ? `gateway:${c.expect_error}` : 'upstream';
    }
    assert.equal(got, want);
  });
}

test('proxy mode against nexus dev: the gateway injects, the caller never holds the credential', async (t) => {
  const stack = await startStack(t);
  if (stack === undefined && missing(t, 'the nexus binary')) return;
  const echo = await startEcho(t);
  if (echo === undefined && missing(t, 'nexus-testkit')) return;
  const { NexusClient, InvalidProxyPathError, InsufficientScopeError, InvalidRequestError } = await loadSdk();
  const ws = stack.workspaceId;
  const secret = 'sk-node-proxy-e2e';
  await stack.admin('POST', '/admin/v1/providers', {
    name: 'echo', auth_type: 'api_key', api_base_url: echo.url,
    strategy: { type: 'header', config: { header_name: 'X-Upstream-Key' } },
    proxy: { rules: [{ scope: 'items:read', allow: ['GET /v1/items/**'] }] },
  });
  await stack.admin('POST', `/admin/v1/workspaces/${ws}/connections/import`, {
    provider_name: 'echo', kind: 'api_key', secret,
  });
  const client = new NexusClient({ gatewayUrl: stack.gatewayUrl, apiKey: stack.apiKey });
  const fetcher = client.createFetcher({ workspaceId: ws, provider: 'echo', mode: 'proxy' });

  const response = await fetcher('/v1/items?per_page=10', {
    method: 'POST',
    headers: { 'X-API-Key': 'caller-own', 'Content-Type': 'application/json' },
    body: JSON.stringify({ n: 1 }),
  });
  assert.equal(response.status, 200);
  const seen = await response.json();
  assert.equal(seen.path, '/v1/items');
  assert.equal(seen.query.per_page, '10');
  assert.equal(seen.headers['x-upstream-key'], secret);
  assert.equal(seen.headers.authorization, undefined, 'the Nexus credential stays at the gateway');
  assert.equal(seen.headers['x-api-key'], undefined, "the caller's key is never forwarded");

  // The gateway's refusal (a double-encoded `..`, which no client resolves).
  await assert.rejects(fetcher('/v1/%252e%252e/admin'), (e) => e instanceof InvalidProxyPathError && e.statusCode === 400);
  // Refused before sending: an absolute URL, dot segments fetch would resolve into another path.
  for (const p of ['https://evil.example/x', '/v1/%2e%2e/admin', '/v1/../../other/x']) {
    await assert.rejects(fetcher(p), (e) => e instanceof InvalidRequestError && e.code === 'invalid_request', p);
  }

  // Under an agent session the provider's rules decide.
  const agent = await stack.admin('POST', `/admin/v1/workspaces/${ws}/agents`, {
    name: 'node-proxy-e2e', scopes: ['items:read'],
  });
  await client.startSession({ scopes: ['items:read'], agentCredential: agent.agent_credential });
  const allowed = await fetcher('/v1/items/7');
  assert.equal(allowed.status, 200);
  assert.equal((await allowed.json()).headers['x-upstream-key'], secret);
  await assert.rejects(
    fetcher('/v1/items', { method: 'POST', body: '{}' }),
    (e) => e instanceof InsufficientScopeError && e.statusCode === 403,
  );
  await client.closeSession();
});
