// Provider-side early revocation through `createFetcher`, against the real stack (`nexus dev`),
// the testkit OAuth provider and the testkit echo upstream, which accepts exactly the access
// tokens the provider says are active (introspection).
//
// The provider revokes every access token before its expiry (what a password change does). Two
// requests carry the cached, now dead token; both are answered 401. The second 401 is held back
// by a gate in front of the echo until the first request's retry has succeeded, so the second
// request asks for a replacement only after the first got one. The core's 401 rule gives it
// that replacement: the provider sees exactly one refresh and both requests end in 200. (A
// fetcher that forces a refresh on every 401 makes two.)

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadSdk, startHttpServer, startWorld } from './helpers.mjs';

test('an access token revoked early at the provider: one forced refresh, and 200', { timeout: 180_000 }, async (t) => {
  const world = await startWorld(t);
  if (world === undefined) return;
  const { stack, echo, oauth } = world;
  await echo.require({ kind: 'oauth_token', introspection_url: `${oauth.url}/introspect`, scope: 'repo' });
  const gate = await startGate(t, echo.url);

  const { NexusClient } = await loadSdk();
  const nexus = new NexusClient({ gatewayUrl: stack.gatewayUrl, apiKey: stack.apiKey });
  const fetcher = nexus.createFetcher({ workspaceId: stack.workspaceId, provider: 'github' });

  const warm = await fetcher(`${gate.url}/user`);
  assert.equal(warm.status, 200, await warm.text());
  const before = (await oauth.stats()).refresh_token_requests;

  const revoked = await oauthControl(oauth, '/_control/revoke-access-tokens');
  assert.ok(revoked.revoked >= 1, 'the cached access token was live, then revoked');
  gate.holdSecondRejection();

  const [a, b] = await Promise.all([fetcher(`${gate.url}/user?n=a`), fetcher(`${gate.url}/user?n=b`)]);
  assert.deepEqual([a.status, b.status], [200, 200], `${await a.text()} ${await b.text()}`);
  assert.equal(gate.rejections(), 2, 'both requests first carried the revoked token');
  assert.equal((await oauth.stats()).refresh_token_requests - before, 1, 'exactly one refresh at the provider');

  // The replacement is cached: the next request needs no refresh.
  assert.equal((await fetcher(`${gate.url}/user`)).status, 200);
  assert.equal((await oauth.stats()).refresh_token_requests - before, 1);
});

async function oauthControl(oauth, pathname) {
  const r = await fetch(`${oauth.url}${pathname}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  const text = await r.text();
  assert.equal(r.status, 200, `${pathname}: ${text}`);
  return JSON.parse(text);
}

/**
 * A loopback proxy in front of the echo. Once armed, the first 401 the echo answers is released
 * only when a second request has been rejected too, and that second 401 only once a request
 * has succeeded: the order the test needs, enforced by events, not by timing.
 */
async function startGate(t, upstreamUrl) {
  let armed = false;
  let rejected = 0;
  let releaseFirst;
  let releaseSecond;
  const bothRejected = new Promise((resolve) => (releaseFirst = resolve));
  const oneSucceeded = new Promise((resolve) => (releaseSecond = resolve));
  const { url } = await startHttpServer(t, async (req, res) => {
    const answer = await fetch(`${upstreamUrl}${req.url}`, { headers: { authorization: req.headers.authorization ?? '' } });
    const body = await answer.text();
    if (armed && answer.status === 401) {
      rejected += 1;
      if (rejected === 1) await bothRejected;
      else if (rejected === 2) {
        releaseFirst();
        await oneSucceeded;
      }
    } else if (armed && answer.ok) {
      releaseSecond();
    }
    res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'text/plain' });
    res.end(body);
  });
  return {
    url,
    holdSecondRejection: () => (armed = true),
    rejections: () => rejected,
  };
}
