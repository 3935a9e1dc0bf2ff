// The resource-server kit's Node glue (src/mcp.ts) without a stack: the middleware serves the
// RFC 9728 metadata and answers refusals with the core's challenge, and `verifier()` plugs into the
// official SDK's own `requireBearerAuth` (a refused token must be its 401, not a 500). Tokens that
// need keys are covered end to end by mcp_remote.test.mjs; here the authorization server is a
// closed port, so only refusals decided before any key fetch are exercised.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import express from 'express';
import * as authErrors from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { closedPort, loadSdk, startHttpServer } from './helpers.mjs';

const sdk = await loadSdk();

async function guardFor() {
  const issuer = `http://127.0.0.1:${await closedPort()}`;
  return sdk.createResourceServer({
    resource: 'http://127.0.0.1:9/mcp',
    issuer,
    requiredScopes: ['notes:read'],
    toolScopes: { write_note: ['notes:write'] },
  });
}

/** An HTTP server running `middleware` and answering 200 `{ok, auth}` when it lets a request through. */
async function serve(t, middleware) {
  const app = express();
  app.use(express.json());
  app.use(middleware);
  app.use((req, res) => res.json({ ok: true, client: req.auth?.clientId ?? null }));
  const handler = (req, res) => app(req, res);
  return (await startHttpServer(t, handler)).url;
}

const rpc = (body, headers = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

test('middleware serves the metadata and challenges requests without a valid token', async (t) => {
  const guard = await guardFor();
  assert.equal(guard.metadataPath, '/.well-known/oauth-protected-resource/mcp');
  const url = await serve(t, guard.middleware());

  const metadata = await fetch(`${url}${guard.metadataPath}`);
  assert.equal(metadata.status, 200);
  const document = await metadata.json();
  assert.equal(document.resource, 'http://127.0.0.1:9/mcp');
  assert.deepEqual(document.authorization_servers, [guard.metadataDocument().authorization_servers[0]]);

  const anonymous = await fetch(`${url}/mcp`, rpc({ jsonrpc: '2.0', id: 1, method: 'tools/list' }));
  assert.equal(anonymous.status, 401);
  const challenge = anonymous.headers.get('www-authenticate');
  assert.match(challenge, /^Bearer /);
  assert.match(challenge, /resource_metadata="http:\/\/127\.0\.0\.1:9\/\.well-known\/oauth-protected-resource\/mcp"/);
  assert.match(challenge, /scope="notes:read"/);
  assert.doesNotMatch(challenge, /error=/, 'no token was presented');

  const garbage = await fetch(
    `${url}/mcp`,
    rpc({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'write_note', arguments: {} } }, {
      authorization: 'Bearer not-a-jwt',
    }),
  );
  assert.equal(garbage.status, 401);
  assert.match(garbage.headers.get('www-authenticate'), /error="invalid_token"/);
  const body = await garbage.json();
  assert.equal(body.error, 'invalid_token');
  assert.doesNotMatch(JSON.stringify(body), /not-a-jwt/, 'the token is never echoed');
});

test("verifier() makes the SDK's requireBearerAuth answer a refused token with 401", async (t) => {
  const guard = await guardFor();
  const url = await serve(t, requireBearerAuth({ verifier: guard.verifier(authErrors) }));
  const refused = await fetch(`${url}/mcp`, rpc({ jsonrpc: '2.0', id: 1, method: 'tools/list' }, {
    authorization: 'Bearer not-a-jwt',
  }));
  assert.equal(refused.status, 401, await refused.clone().text());
  assert.match(refused.headers.get('www-authenticate'), /error="invalid_token"/);
  assert.equal((await refused.json()).error, 'invalid_token');
});
