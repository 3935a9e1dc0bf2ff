// Header names on the wire (issue 15): the fetcher sends the caller's headers named as the
// caller wrote them and the credential header named as the provider declared it. The upstream
// reads `req.rawHeaders`, the names exactly as they arrived (node's `req.headers` lower-cases).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadSdk, startHttpServer } from './helpers.mjs';

const { NexusClient } = await loadSdk();

async function world(t) {
  const gateway = await startHttpServer(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        access_token: 'k-123',
        expires_in: 3600,
        strategy: { type: 'header', config: { header_name: 'X-API-Key', value_prefix: '' } },
        credentials: { api_key: 'k-123' },
      }),
    );
  });
  const seen = [];
  const upstream = await startHttpServer(t, (req, res) => {
    seen.push(req.rawHeaders.filter((_, i) => i % 2 === 0));
    res.writeHead(200);
    res.end();
  });
  const nexus = new NexusClient({ gatewayUrl: gateway.url, apiKey: 'nx_test_key' });
  const fetcher = nexus.createFetcher({ workspaceId: 'ws', provider: 'trial' });
  return { fetcher, upstream, seen };
}

test('the credential header keeps its declared name and the caller keeps theirs', async (t) => {
  const { fetcher, upstream, seen } = await world(t);
  const asObject = await fetcher(`${upstream.url}/a`, { headers: { 'X-Trace-Id': 't-1', 'x-api-key': 'caller' } });
  assert.equal(asObject.status, 200);
  const asPairs = await fetcher(`${upstream.url}/b`, { method: 'POST', body: 'x', headers: [['X-Trace-Id', 't-2']] });
  assert.equal(asPairs.status, 200);
  for (const names of seen) {
    assert.ok(names.includes('X-API-Key'), `${names}`);
    assert.ok(names.includes('X-Trace-Id'), `${names}`);
    assert.ok(!names.includes('x-api-key'), `the caller's x-api-key was sent beside the injected one: ${names}`);
  }
});
