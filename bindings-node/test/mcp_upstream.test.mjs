// The MCP user's upstream credential through the Node glue (src/mcp.ts, src/mcp_upstream.ts)
// without a stack: a loopback gateway answers `POST /v1/mcp/user-credential` (alice connected,
// anyone else 409 `connection_required`), a loopback upstream echoes the credential it got.
// `guard.userCredential` / `guard.userFetcher` for the user of `extra.authInfo`, and
// `toUrlElicitationError` with the official SDK's class. End to end: mcp_remote_upstream.test.mjs.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode, McpError, UrlElicitationRequiredError } from '@modelcontextprotocol/sdk/types.js';
import { loadSdk, startHttpServer } from './helpers.mjs';

const sdk = await loadSdk();
const LINK = 'http://127.0.0.1:9/as/connect/tkt_bob';

function user(subject, token) {
  return {
    subject,
    workspaceId: 'ws_1',
    clientId: 'ocl_1',
    scopes: ['repos:read'],
    expiresAt: 4_000_000_000,
    issuer: 'http://127.0.0.1:9',
    resource: 'http://127.0.0.1:9/mcp',
    actor: null,
    grantId: null,
    tokenId: null,
    token,
  };
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

async function world(t) {
  const upstream = await startHttpServer(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ authorization: req.headers.authorization ?? null }));
  });
  const calls = [];
  const gateway = await startHttpServer(t, async (req, res) => {
    const sent = JSON.parse(await readBody(req));
    calls.push({ url: req.url, authorization: req.headers.authorization, sent });
    res.setHeader('content-type', 'application/json');
    if (sent.subject_token === 'at-alice') {
      res.writeHead(200);
      res.end(JSON.stringify({
        access_token: 'gh-alice', token_type: 'Bearer', expires_in: 3600,
        strategy: { type: 'oauth2' }, credentials: { access_token: 'gh-alice' },
        scopes: ['repo'], api_base_url: upstream.url, connection_id: 'conn_a',
      }));
      return;
    }
    res.writeHead(409);
    res.end(JSON.stringify({
      error: 'connection_required', message: 'Connect GitHub to continue', provider: sent.provider,
      reason: 'missing', connect_url: LINK, elicitation_id: 'eli_bob',
    }));
  });
  const client = new sdk.NexusClient({ gatewayUrl: gateway.url, apiKey: 'nxk_k' });
  const guard = sdk.createResourceServer({ resource: 'http://127.0.0.1:9/mcp', issuer: 'http://127.0.0.1:9', client });
  return { guard, calls, upstream };
}

test("a tool reaches the upstream with the calling user's credential", async (t) => {
  const { guard, calls } = await world(t);
  const authInfo = sdk.toAuthInfo(user('usr_alice', 'at-alice'));
  const credential = await guard.userCredential(authInfo, 'github');
  assert.equal(credential.accessToken, 'gh-alice');
  const answer = await guard.userFetcher(authInfo, 'github')(`${credential.apiBaseUrl}/user/repos`);
  assert.deepEqual(await answer.json(), { authorization: 'Bearer gh-alice' });
  assert.equal(calls.length, 1, "the second use was the core's per-user cache");
  assert.equal(calls[0].url, '/v1/mcp/user-credential', 'the token is in the body, not the URL');
  assert.equal(calls[0].authorization, 'Bearer nxk_k');
  assert.deepEqual(calls[0].sent, { provider: 'github', subject_token: 'at-alice' });
});

test('a user without a connection gets ConnectionRequiredError, then the URL elicitation', async (t) => {
  const { guard } = await world(t);
  const authInfo = sdk.toAuthInfo(user('usr_bob', 'at-bob'));
  const error = await guard.userCredential(authInfo, 'github').then(
    () => assert.fail('bob has no connection'),
    (e) => e,
  );
  assert.ok(error instanceof sdk.ConnectionRequiredError, String(error));
  assert.equal(error.code, 'connection_required');
  assert.equal(error.statusCode, 409);
  assert.deepEqual([error.provider, error.reason, error.connectUrl, error.elicitationId], ['github', 'missing', LINK, 'eli_bob']);
  const fetchError = await guard.userFetcher(authInfo, 'github')('http://127.0.0.1:9/x').then(
    () => assert.fail('bob has no connection'),
    (e) => e,
  );
  assert.ok(fetchError instanceof sdk.ConnectionRequiredError);

  const elicitation = sdk.toUrlElicitationError(error, UrlElicitationRequiredError);
  assert.ok(elicitation instanceof UrlElicitationRequiredError);
  assert.ok(elicitation instanceof McpError);
  assert.equal(elicitation.code, ErrorCode.UrlElicitationRequired);
  assert.deepEqual(elicitation.elicitations, [{ mode: 'url', message: 'Connect GitHub to continue', url: LINK, elicitationId: 'eli_bob' }]);
  const other = new Error('something else');
  assert.equal(sdk.toUrlElicitationError(other, UrlElicitationRequiredError), other, 'other errors pass through');
});

test('without a client or a Nexus user it says so', async (t) => {
  const { guard } = await world(t);
  assert.throws(() => guard.userFetcher(undefined, 'github'), sdk.InvalidRequestError);
  const bare = sdk.createResourceServer({ resource: 'http://127.0.0.1:9/mcp', issuer: 'http://127.0.0.1:9' });
  await assert.rejects(bare.userCredential(sdk.toAuthInfo(user('usr_alice', 'at-alice')), 'github'), /client/);
});
