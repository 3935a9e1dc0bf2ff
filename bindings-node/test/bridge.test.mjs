// Smoke tests of the WebSocket bridge through the addon, against the testkit's
// credential-checking WebSocket server (`nexus-testkit ws`, which also issues the tokens as a
// stand-in gateway).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { firstJsonLine, loadSdk, missing, startProcess, workspaceBinary } from './helpers.mjs';

async function startWs(t) {
  const bin = workspaceBinary('nexus-testkit', 'NEXUS_TESTKIT_BIN');
  if (bin === undefined) return undefined;
  const child = startProcess(t, bin, ['ws']);
  return firstJsonLine(child);
}

async function control(info, method, path) {
  const response = await fetch(`${info.control_url}${path}`, { method });
  assert.ok(response.ok, `${method} ${path}: ${response.status}`);
  const text = await response.text();
  return text ? JSON.parse(text) : undefined;
}

function clientFor(sdk, info) {
  return new sdk.NexusClient({ gatewayUrl: info.gateway_url, apiKey: 'test-api-key', retryPolicy: { maxRetries: 0 } });
}

test('async iterator: connect, echo, reconnect with the rotated token, close', async (t) => {
  const info = await startWs(t);
  if (info === undefined && missing(t, 'nexus-testkit')) return;
  const sdk = await loadSdk();
  const ws = sdk.openWebSocket(clientFor(sdk, info), {
    workspaceId: 'ws_1', provider: 'chat', url: info.url, minBackoffMs: 20, maxBackoffMs: 200,
  });
  const seen = [];
  let connects = 0;
  for await (const event of ws) {
    seen.push(event);
    if (event.type === 'connect') {
      connects += 1;
      await ws.send(connects === 1 ? 'hello' : new Uint8Array([0, 1, 2]));
    } else if (event.type === 'message' && event.data === 'hello') {
      await control(info, 'POST', '/_control/rotate');
      await control(info, 'POST', '/_control/drop');
    } else if (event.type === 'message') {
      assert.deepEqual([...event.data], [0, 1, 2]);
      await ws.close();
    }
  }
  assert.deepEqual(seen.map((e) => e.type), ['connect', 'message', 'disconnect', 'connect', 'message', 'disconnect']);
  assert.equal(seen[2].info.reason, 'error');
  assert.equal(seen[5].info.reason, 'cancelled');
  const attempts = await control(info, 'GET', '/_control/attempts');
  assert.deepEqual(attempts.map((a) => a.accepted), [true, true]);
  assert.notEqual(attempts[0].token, attempts[1].token);
});

test('EventEmitter: a revoked grant ends with ReauthRequiredError', async (t) => {
  const info = await startWs(t);
  if (info === undefined && missing(t, 'nexus-testkit')) return;
  const sdk = await loadSdk();
  const ws = sdk.openWebSocket(clientFor(sdk, info), {
    workspaceId: 'ws_1', provider: 'chat', url: info.url, minBackoffMs: 20, maxBackoffMs: 200,
  });
  const events = [];
  ws.on('connect', () => {
    events.push('connect');
    void control(info, 'POST', '/_control/revoke').then(() => control(info, 'POST', '/_control/drop'));
  });
  ws.on('disconnect', (d) => events.push(d.reason));
  const failed = new Promise((resolve) => ws.on('error', resolve));
  const error = await failed;
  assert.ok(error instanceof sdk.ReauthRequiredError, String(error));
  await assert.rejects(ws.wait(), sdk.ReauthRequiredError);
  assert.deepEqual(events, ['connect', 'error']);
});
