// Refresh-token rotation and replay through the official TypeScript MCP client's own OAuth
// (`@modelcontextprotocol/sdk` 1.32.2, `StreamableHTTPClientTransport` with an
// `OAuthClientProvider`) against `nexus dev` (design 17 §2.4, D8, §7 case 4); the Python twin is
// bindings-python/tests/test_mcp_refresh_stack.py.
//
// This SDK keeps no expiry of its own: it refreshes only inside its `auth()` orchestrator, which
// its transport calls when the MCP server answers 401 (an expired token) or 403
// `insufficient_scope`. An access token lives at least 60 s and the kit allows 60 s of clock skew,
// so waiting for a real expiry would take two minutes. The first test therefore makes the call
// the transport makes on that 401 — `auth(provider, { serverUrl, resourceMetadataUrl, scope })`,
// the SDK's exported entry point, with the kit's real challenge, the same provider and fetch —
// and everything after it is the SDK's own code: its refresh request, what it stores, how it
// reacts to `invalid_grant`. The second test lets the transport itself refresh, through the 403
// step-up path.
//
// - The refresh rotates: a new refresh token and access token, no login; the client's next tool
//   call carries the new access token and is the same user.
// - The old refresh token replayed (a raw POST to /as/token) ⇒ `invalid_grant`, and the family
//   is revoked: the SDK's next refresh, with the rotated token, is refused, the SDK forgets its
//   tokens (`invalidateCredentials('tokens')`) and sends the user through authorization again.
// - The kit validates access tokens offline (signature, iss, aud, exp; no revocation lookup), so
//   the family's last access token stays accepted until its exp; asserted, so a change is seen.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { auth, extractWWWAuthenticateParams } from '@modelcontextprotocol/sdk/client/auth.js';
import { InvalidTargetError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Provider, connect, serve, setUp, tracingFetch } from './mcp_oauth.mjs';

const WITH_REFRESH = { grantTypes: ['authorization_code', 'refresh_token'] };

/** An `initialize` POSTed with `accessToken` alone: the kit's answer status. */
async function initializeWith(resource, accessToken) {
  const answer = await fetch(resource, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${accessToken}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '0' } },
    }),
  });
  await answer.body?.cancel();
  return answer.status;
}

/**
 * What the transport does when the MCP server answers 401: `auth()` with the challenge's
 * `resource_metadata` and `scope` (the kit's real 401, asked for without a token).
 */
async function onUnauthorized(provider, resource, fetchFn) {
  const challenge = await fetch(resource, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  await challenge.body?.cancel();
  assert.equal(challenge.status, 401);
  const { resourceMetadataUrl, scope } = extractWWWAuthenticateParams(challenge);
  return auth(provider, { serverUrl: new URL(resource), resourceMetadataUrl, scope, fetchFn });
}

test('refresh with the official TypeScript client OAuth', async (t) => {
  const stack = await setUp(t);
  if (stack === undefined) return;
  const resource = await serve(t, stack, '/mcp');
  const tokenUrl = `${stack.brokerUrl}/as/token`;

  await t.test('a refresh rotates, and a replayed refresh token revokes the family', async () => {
    const log = [];
    const fetchFn = tracingFetch(log);
    const tokenCalls = () => log.filter((r) => r.url === tokenUrl).map((r) => `${r.grantType} ${r.status}`);
    const provider = new Provider(stack, 'alice', WITH_REFRESH);
    const { client, transport } = await connect(resource, provider, [], fetchFn);
    const whoami = async () => (await client.callTool({ name: 'whoami', arguments: {} })).content[0].text;
    const lastBearer = () => log.filter((r) => r.url === resource).at(-1).bearer;

    const first = await whoami();
    const one = provider.stored;
    assert.deepEqual(tokenCalls(), ['authorization_code 200']);
    assert.match(one.refresh_token, /^nxr_/);

    // What the transport does on a 401 for an expired access token.
    assert.equal(await onUnauthorized(provider, resource, fetchFn), 'AUTHORIZED');
    const two = provider.stored;
    assert.deepEqual(tokenCalls(), ['authorization_code 200', 'refresh_token 200']);
    assert.equal(provider.visits, 1, 'a refresh asks nobody');
    assert.match(two.refresh_token, /^nxr_/);
    assert.notEqual(two.refresh_token, one.refresh_token, 'rotated');
    assert.notEqual(two.access_token, one.access_token);
    assert.equal(await whoami(), first, 'same user, same client');
    assert.equal(lastBearer(), two.access_token, 'the client used the refreshed access token');

    // The used refresh token presented again: refused, and nothing minted.
    const replay = await fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: one.refresh_token,
        client_id: provider.client.client_id,
        resource,
      }),
    });
    const refused = await replay.json();
    assert.equal(replay.status, 400, JSON.stringify(refused));
    assert.equal(refused.error, 'invalid_grant');
    assert.equal(refused.access_token, undefined);
    assert.equal(refused.refresh_token, undefined);
    // Offline validation: the family's access token passes at the kit until its exp.
    assert.equal(await initializeWith(resource, two.access_token), 200);

    // The family is revoked: the SDK's refresh with the rotated (unused) token is refused, and
    // the SDK falls back to a new authorization through the browser.
    assert.equal(await onUnauthorized(provider, resource, fetchFn), 'REDIRECT');
    assert.deepEqual(tokenCalls(), ['authorization_code 200', 'refresh_token 200', 'refresh_token 400']);
    assert.deepEqual(provider.invalidated, ['tokens'], 'the SDK dropped the refused tokens');
    assert.equal(provider.stored, undefined);
    assert.equal(provider.visits, 2, 'the user is asked again');
    await transport.finishAuth(await provider.pending);
    const three = provider.stored;
    assert.deepEqual(tokenCalls().at(-1), 'authorization_code 200');
    assert.ok(![one.refresh_token, two.refresh_token].includes(three.refresh_token));
    assert.equal(await whoami(), first);
    assert.equal(lastBearer(), three.access_token);
    await client.close();
  });

  await t.test('a refresh token never mints a token for another MCP server, and stays good for its own', async () => {
    // SDK 1.32.2 binds stored tokens to the authorization server, not to the MCP server, so one
    // store shared by two servers behind the same Nexus sends the first server's token to the
    // second (401 invalid_token there), then refreshes it for the second: Nexus answers
    // invalid_target (RFC 8707) without spending it, and the SDK surfaces that error (it
    // re-authorises only on invalid_grant / invalid_client). Apps keep one store per MCP server.
    const other = await serve(t, stack, '/other');
    const log = [];
    const fetchFn = tracingFetch(log);
    const provider = new Provider(stack, 'alice', WITH_REFRESH);
    const { client } = await connect(resource, provider, [], fetchFn);
    await client.close();
    const mine = provider.stored;
    await assert.rejects(connect(other, provider, [], fetchFn), InvalidTargetError);
    const sent = log.filter((r) => r.url === other);
    assert.deepEqual(sent.map((r) => `${r.status} ${r.bearer === mine.access_token}`), ['401 true']);
    const calls = log.filter((r) => r.url === tokenUrl).map((r) => `${r.grantType} ${r.status}`);
    assert.deepEqual(calls, ['authorization_code 200', 'refresh_token 400']);
    assert.equal(provider.stored, mine, 'nothing minted for the other server');
    assert.equal(provider.visits, 1);
    // Not spent and not revoked: the refresh for its own server rotates.
    assert.equal(await onUnauthorized(provider, resource, fetchFn), 'AUTHORIZED');
    assert.notEqual(provider.stored.refresh_token, mine.refresh_token);
    const claims = JSON.parse(Buffer.from(provider.stored.access_token.split('.')[1], 'base64url'));
    assert.equal(claims.aud, resource);
  });

  await t.test('the transport refreshes on its own on 403 insufficient_scope (and keeps the scope)', async () => {
    // SDK 1.32.2 answers a step-up by calling auth(), which refreshes whenever a refresh token is
    // held; a refresh keeps the grant's scopes (a wider scope needs consent), so the retried call
    // is refused again and the SDK gives up. This pins both: the transport's refresh rotates at
    // Nexus, and step-up needs a client without a refresh token (mcp_remote.test.mjs).
    const log = [];
    const provider = new Provider(stack, 'alice', WITH_REFRESH);
    const { client } = await connect(resource, provider, [], tracingFetch(log));
    const one = provider.stored;
    await assert.rejects(
      client.callTool({ name: 'write_note', arguments: { text: 'x' } }),
      (error) => error instanceof StreamableHTTPError && error.code === 403 && /upscoping/.test(error.message),
    );
    await client.close();
    const calls = log.filter((r) => r.url === tokenUrl).map((r) => `${r.grantType} ${r.status}`);
    assert.deepEqual(calls, ['authorization_code 200', 'refresh_token 200']);
    const two = provider.stored;
    assert.notEqual(two.refresh_token, one.refresh_token, 'rotated');
    assert.equal(provider.visits, 1);
    // The tool calls (POST): the transport's own SSE stream (GET, answered 405) may open in between.
    const toolCalls = log.filter((r) => r.url === resource && r.method === 'POST');
    assert.deepEqual(toolCalls.map((r) => r.status).slice(-2), [403, 403]);
    assert.equal(toolCalls.at(-1).bearer, two.access_token);
    const claims = JSON.parse(Buffer.from(two.access_token.split('.')[1], 'base64url'));
    assert.equal(claims.scope, 'notes:read', 'a refresh never widens the grant');
  });
});
