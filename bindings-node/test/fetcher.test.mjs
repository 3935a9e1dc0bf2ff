// The fetcher end to end: the real stack (`nexus dev`), the testkit OAuth provider and echo
// upstream, and loopback upstreams written here where a test needs one misbehaving on purpose.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadSdk, startHttpServer, startWorld, waitFor } from './helpers.mjs';

const { NexusClient, NotFoundError, ProviderNotFoundError, UnauthorizedError, TransportError, NexusError } =
  await loadSdk();

function clientFor(world, options = {}) {
  return new NexusClient({ gatewayUrl: world.stack.gatewayUrl, apiKey: world.stack.apiKey, ...options });
}

test('injects the OAuth token and returns the real upstream Response', async (t) => {
  const world = await startWorld(t);
  if (!world) return;
  const nexus = clientFor(world);
  const fetcher = nexus.createFetcher({ workspaceId: world.stack.workspaceId, provider: 'github' });

  const resp = await fetcher(`${world.echo.url}/user/repos?per_page=10`, { headers: { accept: 'application/json' } });
  assert.ok(resp instanceof Response);
  assert.equal(resp.status, 200);
  const seen = await resp.json();
  const token = await nexus.getToken(world.stack.workspaceId, 'github');
  assert.ok(token.accessToken, 'the resolve carried an access token');
  assert.equal(seen.headers.authorization, `Bearer ${token.accessToken}`);
  assert.equal(seen.headers.accept, 'application/json');
  assert.equal(seen.path, '/user/repos');
  assert.equal(seen.raw_query, 'per_page=10');
  assert.equal(token.strategy.type, 'oauth2');
  assert.equal(token.apiBaseUrl, world.echo.url);
});

test('preserves method, headers and body of a Request, and of string + init', async (t) => {
  const world = await startWorld(t);
  if (!world) return;
  const fetcher = clientFor(world).createFetcher({ workspaceId: world.stack.workspaceId, provider: 'static-key' });

  const viaRequest = await fetcher(
    new Request(`${world.echo.url}/v1/items?a=1`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'x-trace': 't-1', authorization: 'Bearer caller-value' },
      body: JSON.stringify({ x: 1 }),
    }),
  );
  const a = await viaRequest.json();
  assert.equal(a.method, 'PUT');
  assert.equal(a.body, '{"x":1}');
  assert.equal(a.headers['content-type'], 'application/json');
  assert.equal(a.headers['x-trace'], 't-1');
  // The strategy's header replaces the caller's header of the same name.
  assert.equal(a.headers.authorization, 'Bearer k-static-1');

  const bytes = new Uint8Array([0, 1, 2, 253, 254, 255]);
  const viaInit = await fetcher(new URL(`${world.echo.url}/upload`), { method: 'POST', body: bytes });
  const b = await viaInit.json();
  assert.equal(b.method, 'POST');
  assert.equal(b.body_base64, Buffer.from(bytes).toString('base64'));

  const text = await fetcher(`${world.echo.url}/note`, { method: 'PATCH', body: 'hello' });
  const c = await text.json();
  assert.equal(c.method, 'PATCH');
  assert.equal(c.body, 'hello');
  assert.equal(c.headers['content-type'], 'text/plain;charset=UTF-8', "fetch's default for a string body");
});

test('streams the response body as it arrives', async (t) => {
  const world = await startWorld(t);
  if (!world) return;
  const fetcher = clientFor(world).createFetcher({ workspaceId: world.stack.workspaceId, provider: 'static-key' });
  const resp = await fetcher(`${world.echo.url}/stream?chunks=7`);
  assert.equal(resp.status, 200);
  let text = '';
  let reads = 0;
  for await (const chunk of resp.body) {
    reads += 1;
    text += Buffer.from(chunk).toString('utf8');
  }
  assert.equal(text.trim().split('\n').length, 7);
  assert.ok(reads >= 1);
});

test('keeps the caller’s redirect mode', async (t) => {
  const world = await startWorld(t);
  if (!world) return;
  const upstream = await startHttpServer(t, (req, res) => {
    res.writeHead(302, { location: `${world.echo.url}/landed` });
    res.end();
  });
  const fetcher = clientFor(world).createFetcher({ workspaceId: world.stack.workspaceId, provider: 'static-key' });
  const manual = await fetcher(`${upstream.url}/moved`, { redirect: 'manual' });
  assert.equal(manual.status, 302);
  const followed = await fetcher(`${upstream.url}/moved`);
  assert.equal(followed.status, 200);
  assert.equal((await followed.json()).path, '/landed');
  assert.equal(followed.redirected, true);
});

test('an AbortSignal cancels the request', async (t) => {
  const world = await startWorld(t);
  if (!world) return;
  let arrived = 0;
  const hanging = await startHttpServer(t, (req) => {
    arrived += 1;
    req.on('close', () => undefined); // never answers
  });
  const fetcher = clientFor(world).createFetcher({ workspaceId: world.stack.workspaceId, provider: 'static-key' });

  const already = AbortSignal.abort();
  await assert.rejects(fetcher(`${hanging.url}/x`, { signal: already }), { name: 'AbortError' });
  assert.equal(arrived, 0, 'an aborted signal sends nothing');

  const controller = new AbortController();
  const pending = fetcher(`${hanging.url}/slow`, { signal: controller.signal });
  await waitFor(() => arrived === 1, { what: 'the request to reach the upstream' });
  controller.abort();
  await assert.rejects(pending, { name: 'AbortError' });
});

test('an upstream 401 refreshes the credential and retries once, replaying the body', async (t) => {
  const world = await startWorld(t);
  if (!world) return;
  const rejected = new Set();
  const seen = [];
  const upstream = await startHttpServer(t, (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const auth = req.headers.authorization ?? '';
      seen.push({ auth, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(rejected.has(auth) ? 401 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: !rejected.has(auth) }));
    });
  });
  const logged = [];
  const record = (level) => (message, fields) => logged.push({ level, message, fields });
  const logger = { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') };
  const nexus = clientFor(world, { logger });
  const fetcher = nexus.createFetcher({ workspaceId: world.stack.workspaceId, provider: 'github' });

  const first = await fetcher(`${upstream.url}/user`, { method: 'POST', body: 'payload-1' });
  assert.equal(first.status, 200);
  await first.arrayBuffer();
  // The provider revokes the token before its expiry: the upstream now rejects it.
  rejected.add(seen[0].auth);

  const second = await fetcher(`${upstream.url}/user`, { method: 'POST', body: 'payload-2' });
  assert.equal(second.status, 200, 'the retry with a refreshed token succeeds');
  assert.equal(seen.length, 3);
  assert.equal(seen[1].auth, seen[0].auth, 'the first attempt used the cached token');
  assert.notEqual(seen[2].auth, seen[0].auth, 'the retry used a refreshed token');
  assert.equal(seen[2].body, 'payload-2', 'the body was replayed');
  const now = await nexus.getToken(world.stack.workspaceId, 'github');
  assert.equal(`Bearer ${now.accessToken}`, seen[2].auth, 'getToken serves the refreshed token, not a stale copy');
  assert.deepEqual(
    logged.map((l) => [l.level, l.fields]),
    [['info', { provider: 'github' }]],
    'the custom logger heard about the retry, and nothing else (no secrets in fields)',
  );

  // A 401 that persists is returned as it is after one retry (no loop).
  rejected.add(seen[2].auth);
  const before = seen.length;
  const third = await fetcher(`${upstream.url}/user`);
  assert.ok(third.status === 401 || third.status === 200);
  assert.ok(seen.length - before <= 2, 'at most one retry');
});

test('query_param strategy puts the key in the URL', async (t) => {
  const world = await startWorld(t);
  if (!world) return;
  await world.stack.admin('POST', '/admin/v1/providers', {
    name: 'query-key',
    auth_type: 'query_param',
    strategy: { type: 'query_param', config: { param_name: 'key' } },
  });
  await world.stack.admin('POST', `/admin/v1/workspaces/${world.stack.workspaceId}/connections/import`, {
    provider_name: 'query-key',
    kind: 'api_key',
    secret: 'q-secret',
  });
  await world.echo.require({ kind: 'query', name: 'key', value: 'q-secret' });
  const fetcher = clientFor(world).createFetcher({ workspaceId: world.stack.workspaceId, provider: 'query-key' });
  const resp = await fetcher(`${world.echo.url}/search?q=a%20b`);
  assert.equal(resp.status, 200);
  const seen = await resp.json();
  assert.equal(seen.query.q, 'a b');
  assert.equal(seen.query.key, 'q-secret');
});

test('gateway errors become typed NexusErrors', async (t) => {
  const world = await startWorld(t);
  if (!world) return;
  const nexus = clientFor(world);
  const unknown = nexus.createFetcher({ workspaceId: world.stack.workspaceId, provider: 'no-such-provider' });
  await assert.rejects(unknown(`${world.echo.url}/x`), (e) => {
    // No provider of that name: `provider_not_found` (not `connection_not_found`).
    assert.ok(e instanceof NotFoundError, `${e?.name}: ${e?.message}`);
    assert.ok(e instanceof ProviderNotFoundError, `${e?.name}: ${e?.code}`);
    assert.equal(e.statusCode, 404);
    return true;
  });

  const badKey = new NexusClient({ gatewayUrl: world.stack.gatewayUrl, apiKey: 'nxk_not_a_real_key' });
  await assert.rejects(badKey.getToken(world.stack.workspaceId, 'github'), (e) => {
    assert.ok(e instanceof UnauthorizedError, `${e?.name}: ${e?.message}`);
    assert.equal(e.statusCode, 401);
    assert.ok(!e.message.includes('nxk_not_a_real_key'), 'the key is not in the message');
    return true;
  });
  const requests = await world.echo.requests();
  assert.equal(requests.length, 0, 'nothing was sent upstream without a credential');
});

test('getToken is cached, resolveToken and clearToken reach the gateway', async (t) => {
  const world = await startWorld(t);
  if (!world) return;
  const nexus = clientFor(world);
  const ws = world.stack.workspaceId;
  const a = await nexus.getToken(ws, 'github');
  const b = await nexus.getToken(ws, 'github');
  assert.equal(a.accessToken, b.accessToken);
  assert.equal(a, b, 'a hit on the same cached token returns the same object');
  assert.ok(Object.isFrozen(a) && Object.isFrozen(a.credentials) && Object.isFrozen(a.strategy));
  assert.ok(a.expiresIn > 30 && a.expiresIn <= 3600, `expiresIn ${a.expiresIn}`);
  assert.match(a.expiresAt, /^\d{4}-\d\d-\d\dT/);

  const forced = await nexus.resolveToken(ws, 'github', { forceRefresh: true });
  assert.notEqual(forced.accessToken, a.accessToken, 'force_refresh minted a new token');
  // resolveToken does not touch the cache: getToken still answers from it.
  assert.equal((await nexus.getToken(ws, 'github')).accessToken, a.accessToken);
  nexus.clearToken(ws, 'github');
  assert.notEqual((await nexus.getToken(ws, 'github')).accessToken, a.accessToken);
  nexus.clearToken();
  assert.throws(() => nexus.clearToken(ws), NexusError);
});

test('a gateway that is down gives a TransportError, quickly and without stdout', async (t) => {
  const { closedPort } = await import('./helpers.mjs');
  const port = await closedPort();
  const nexus = new NexusClient({
    gatewayUrl: `http://127.0.0.1:${port}`,
    apiKey: 'k',
    retryPolicy: { maxRetries: 0 },
  });
  await assert.rejects(nexus.createFetcher({ workspaceId: 'w', provider: 'p' })('http://127.0.0.1:1/x'), (e) => {
    assert.ok(e instanceof TransportError, `${e?.name}: ${e?.message}`);
    assert.equal(e.code, 'connection_error');
    assert.equal(e.statusCode, undefined);
    return true;
  });
});
