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
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError, extractWWWAuthenticateParams } from '@modelcontextprotocol/sdk/client/auth.js';
import { REPO_ROOT, missing, startStack } from './helpers.mjs';

const EXAMPLE = path.join(REPO_ROOT, 'examples', 'ts-mcp-remote', 'dist', 'server.js');
const REDIRECT = 'http://127.0.0.1:33334/callback';

function hidden(page, name) {
  const found = new RegExp(`name="${name}" value="([^"]*)"`).exec(page);
  assert.ok(found, `no ${name} field in ${page}`);
  return found[1].replaceAll('&amp;', '&').replaceAll('&quot;', '"').replaceAll('&#x27;', "'");
}

/** Answers an authorization URL like a person: development login as alice, then Allow. */
async function walk(stack, url) {
  const origin = { origin: stack.brokerUrl };
  const form = (fields) => new URLSearchParams(fields).toString();
  const formHeaders = { 'content-type': 'application/x-www-form-urlencoded', ...origin };
  const start = await fetch(url, { redirect: 'manual' });
  assert.equal(start.status, 303, await start.text());
  const login = await (await fetch(new URL(start.headers.get('location'), stack.brokerUrl))).text();
  const request = hidden(login, 'request');
  const password = stack.devLoginPassword;
  const loggedIn = await fetch(`${stack.brokerUrl}/as/login/dev`, {
    method: 'POST',
    redirect: 'manual',
    headers: formHeaders,
    body: form({ request, csrf: hidden(login, 'csrf'), username: 'alice', password }),
  });
  assert.equal(loggedIn.status, 303, await loggedIn.text());
  const cookie = loggedIn.headers.get('set-cookie').split(';', 1)[0];
  const consentUrl = new URL(loggedIn.headers.get('location'), stack.brokerUrl);
  const consent = await (await fetch(consentUrl, { headers: { cookie } })).text();
  assert.match(consent, />Allow</);
  const back = await fetch(`${stack.brokerUrl}/as/consent`, {
    method: 'POST',
    redirect: 'manual',
    headers: { ...formHeaders, cookie },
    body: form({ request, csrf: hidden(consent, 'csrf'), decision: 'allow' }),
  });
  assert.equal(back.status, 303, await back.text());
  const location = new URL(back.headers.get('location'));
  assert.equal(`${location.origin}${location.pathname}`, REDIRECT);
  assert.equal(location.searchParams.get('iss'), stack.brokerUrl, 'RFC 9207 iss');
  return location.searchParams.get('code');
}

/** The SDK's `OAuthClientProvider`, storing what it is given unchanged. */
class Provider {
  constructor(stack) {
    this.stack = stack;
    this.visits = 0;
    this.client = undefined;
    this.stored = undefined;
    this.verifier = undefined;
    this.pending = undefined;
  }
  get redirectUrl() {
    return REDIRECT;
  }
  get clientMetadata() {
    return {
      client_name: 'ts remote e2e',
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  clientInformation() {
    return this.client;
  }
  saveClientInformation(info) {
    this.client = info;
  }
  tokens() {
    return this.stored;
  }
  saveTokens(tokens) {
    this.stored = tokens;
  }
  redirectToAuthorization(url) {
    this.visits += 1;
    this.pending = walk(this.stack, url);
  }
  saveCodeVerifier(verifier) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
}

/**
 * fetch that records the status and headers of every answer from the MCP endpoint. Not a
 * `response.clone()`: the SDK cancels the body of a 202, and cancelling one branch of a teed
 * body waits for the other branch, so an unread clone hangs the client.
 */
function recordingFetch(answers, resource) {
  return async (input, init) => {
    const response = await fetch(input, init);
    if (String(input instanceof Request ? input.url : input) === resource) {
      answers.push({ status: response.status, headers: response.headers });
    }
    return response;
  };
}

/** Run `step` on a connected client; on `UnauthorizedError` finish the authorization and retry. */
async function withAuth(provider, transport, step) {
  try {
    return await step();
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) throw error;
    await transport.finishAuth(await provider.pending);
    return step();
  }
}

async function connect(resource, provider, answers) {
  const options = { authProvider: provider, fetch: recordingFetch(answers, resource) };
  let transport = new StreamableHTTPClientTransport(new URL(resource), options);
  let client = new Client({ name: 'ts-remote-e2e', version: '0.0.0' });
  try {
    await client.connect(transport);
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) throw error;
    await transport.finishAuth(await provider.pending);
    transport = new StreamableHTTPClientTransport(new URL(resource), options);
    client = new Client({ name: 'ts-remote-e2e', version: '0.0.0' });
    await client.connect(transport);
  }
  return { client, transport };
}

async function serve(t, stack, resourcePath) {
  const { createNotesServer } = await import(pathToFileURL(EXAMPLE).href);
  const { createServer } = await import('node:http');
  // Bind first to learn the port (the resource URL contains it), then serve the example there.
  const probe = createServer();
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = probe.address().port;
  await new Promise((resolve) => probe.close(resolve));
  const resource = `http://127.0.0.1:${port}${resourcePath}`;
  await stack.admin('POST', `/admin/v1/workspaces/${stack.workspaceId}/mcp-resources`, {
    resource_uri: resource,
    name: 'Notes',
    scopes: ['notes:read', 'notes:write'],
  });
  const server = createNotesServer(resource, stack.brokerUrl);
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return resource;
}

async function setUp(t) {
  if (!existsSync(EXAMPLE)) return void missing(t, 'examples/ts-mcp-remote/dist/server.js (npm run build there)');
  const stack = await startStack(t);
  if (stack === undefined) return void missing(t, 'the nexus binary (cargo build -p nexus-cli)');
  stack.brokerUrl = stack.brokerUrl.replace(/\/+$/, '');
  return stack;
}

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
