// The connection lifecycle end to end: request a connection, poll it, complete the OAuth
// authorize step against the testkit provider, wait for it to become active, then fetch and
// refresh its token by id.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadSdk, startWorld } from './helpers.mjs';

const { NexusClient, ConnectionNotFoundError } = await loadSdk();

test('requestConnection → authorize → waitForActive → token by id → refresh', async (t) => {
  const world = await startWorld(t);
  if (!world) return;
  const nexus = new NexusClient({ gatewayUrl: world.stack.gatewayUrl, apiKey: world.stack.apiKey });

  const request = await nexus.requestConnection({ userId: 'user-1', provider: 'github', scopes: ['repo'] });
  assert.match(request.authUrl, /^http:\/\/127\.0\.0\.1:\d+\//);
  assert.ok(request.connectionId);
  const pending = await nexus.checkConnection(request.connectionId);
  assert.equal(pending.status, 'pending');

  // Aborting a wait rejects with the signal's reason, promptly, while the connection is pending.
  const controller = new AbortController();
  const waiting = nexus.waitForActive(request.connectionId, 20, controller.signal);
  const reason = new Error('caller gave up');
  controller.abort(reason);
  await assert.rejects(waiting, (e) => e === reason);

  // The person's browser: follow the authorize URL through the provider back to the callback.
  const waitActive = nexus.waitForActive(request.connectionId, 20);
  const browser = await fetch(request.authUrl, { redirect: 'follow' });
  await browser.arrayBuffer();
  const active = await waitActive;
  assert.equal(active.status, 'active');

  const token = await nexus.getTokenByConnectionId(request.connectionId);
  assert.ok(token.accessToken);
  const refreshed = await nexus.refreshConnection(request.connectionId);
  assert.ok(refreshed.accessToken);
  assert.notEqual(refreshed.accessToken, token.accessToken, 'refresh minted a new access token');

  await assert.rejects(nexus.checkConnection('no-such-connection'), ConnectionNotFoundError);
});
