// Single flight through the whole stack: 1,000 concurrent fetcher calls on a cold cache make
// exactly one gateway call. The gateway is the real one; a counting pass-through proxy in front
// of it observes the calls.

import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { test } from 'node:test';
import { loadSdk, startHttpServer, startWorld } from './helpers.mjs';

const { NexusClient } = await loadSdk();

/** A reverse proxy to `target` that counts requests by path. */
async function countingProxy(t, target) {
  const counts = new Map();
  const upstream = new URL(target);
  const proxy = await startHttpServer(t, (req, res) => {
    const pathname = new URL(req.url, 'http://proxy').pathname;
    counts.set(pathname, (counts.get(pathname) ?? 0) + 1);
    const forward = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(forward);
  });
  return { url: proxy.url, count: (pathname) => counts.get(pathname) ?? 0 };
}

test('1,000 concurrent fetcher calls on a cold cache make one gateway call', async (t) => {
  const world = await startWorld(t);
  if (!world) return;
  const proxy = await countingProxy(t, world.stack.gatewayUrl);
  const nexus = new NexusClient({ gatewayUrl: proxy.url, apiKey: world.stack.apiKey });
  const fetcher = nexus.createFetcher({ workspaceId: world.stack.workspaceId, provider: 'github' });

  const calls = Array.from({ length: 1000 }, (_, i) => fetcher(`${world.echo.url}/items/${i}`));
  const responses = await Promise.all(calls);
  const bodies = await Promise.all(responses.map((r) => r.json()));

  assert.equal(proxy.count('/v1/resolve'), 1, 'exactly one resolve reached the gateway');
  assert.ok(responses.every((r) => r.status === 200));
  const tokens = new Set(bodies.map((b) => b.headers.authorization));
  assert.equal(tokens.size, 1, 'every request carried the same token');
  assert.match([...tokens][0], /^Bearer \S+$/);
  assert.deepEqual(
    bodies.map((b) => b.path),
    Array.from({ length: 1000 }, (_, i) => `/items/${i}`),
  );

  // Warm cache: more calls, still one gateway call in total.
  await Promise.all(Array.from({ length: 50 }, () => fetcher(`${world.echo.url}/again`).then((r) => r.arrayBuffer())));
  assert.equal(proxy.count('/v1/resolve'), 1);
});
