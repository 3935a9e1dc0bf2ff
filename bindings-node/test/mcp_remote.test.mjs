// The remote MCP server example (examples/ts-mcp-remote, protected by the SDK's resource-server
// kit) driven by the official TypeScript MCP client's own OAuth (`@modelcontextprotocol/sdk`
// `StreamableHTTPClientTransport` with an `OAuthClientProvider`) against `nexus dev` as the
// authorization server: discovery from the kit's 401, registration, PKCE, login and consent
// (walked over HTTP like a browser would), token, tool call; a token for another resource is
// refused; step-up on 403 `insufficient_scope`.
//
// The client registers without `refresh_token`: SDK 1.32.2 answers a 403 step-up by refreshing
// first when it holds a refresh token (the refreshed token keeps the old scope), so the step-up
// leads to a new authorization only without one.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { extractWWWAuthenticateParams } from '@modelcontextprotocol/sdk/client/auth.js';
import { Provider, connect, serve, setUp, withAuth } from './mcp_oauth.mjs';

test('remote MCP server with the official TypeScript client OAuth', async (t) => {
  const stack = await setUp(t);
  if (stack === undefined) return;
  const resource = await serve(t, stack, '/mcp');

  await t.test('cold connect: 401 → metadata → registration → consent → token → tool', async () => {
    const provider = new Provider(stack);
    const answers = [];
    const { client, transport } = await connect(resource, provider, answers);
    const whoami = await client.callTool({ name: 'whoami', arguments: {} });
    await client.close();
    const [subject, workspace, clientId] = whoami.content[0].text.split(' ');
    assert.match(subject, /^usr_/);
    assert.equal(workspace, stack.workspaceId);
    assert.match(clientId, /^ocl_/);
    assert.equal(provider.visits, 1);
    const first = answers.find((r) => r.status === 401);
    const params = extractWWWAuthenticateParams(first);
    assert.equal(params.scope, 'notes:read');
    assert.equal(params.resourceMetadataUrl.href, resource.replace('/mcp', '/.well-known/oauth-protected-resource/mcp'));
    assert.equal(params.error, undefined, 'no token was presented');
    const claims = JSON.parse(Buffer.from(provider.stored.access_token.split('.')[1], 'base64url'));
    assert.equal(claims.aud, resource);
    // PKCE S256 with the verifier the SDK kept (the token endpoint checked it against this).
    const [asked] = provider.authorizationUrls;
    assert.equal(asked.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(asked.searchParams.get('code_challenge'), createHash('sha256').update(provider.verifier).digest('base64url'));
    assert.equal(asked.searchParams.get('resource'), resource, 'RFC 8707 resource indicator');
    void transport;
  });

  await t.test('step-up: 403 insufficient_scope, new consent with the wider scope, call succeeds', async () => {
    const provider = new Provider(stack);
    const answers = [];
    const { client, transport } = await connect(resource, provider, answers);
    const write = () => client.callTool({ name: 'write_note', arguments: { text: 'first' } });
    const written = await withAuth(provider, transport, write);
    await client.close();
    assert.equal(written.content[0].text, '1 notes');
    const refused = answers.find((r) => r.status === 403);
    assert.ok(refused, `statuses: ${answers.map((r) => r.status)}`);
    const params = extractWWWAuthenticateParams(refused);
    assert.equal(params.error, 'insufficient_scope');
    assert.equal(params.scope, 'notes:read notes:write');
    assert.equal(provider.visits, 2, 'the user was asked again');
    const claims = JSON.parse(Buffer.from(provider.stored.access_token.split('.')[1], 'base64url'));
    assert.deepEqual(claims.scope.split(' ').sort(), ['notes:read', 'notes:write']);
  });

  await t.test('a token minted for another resource is refused with 401 invalid_token', async () => {
    const other = await serve(t, stack, '/other');
    const provider = new Provider(stack);
    const { client } = await connect(other, provider, []);
    await client.close();
    const foreign = provider.stored.access_token;
    const raw = await fetch(resource, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${foreign}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    assert.equal(raw.status, 401);
    const params = extractWWWAuthenticateParams(raw);
    assert.equal(params.error, 'invalid_token');
    assert.match(raw.headers.get('www-authenticate'), /issued for another resource/);
    assert.equal((await raw.json()).error, 'invalid_token');
  });
});
