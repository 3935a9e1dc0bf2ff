// From MCP user to upstream credential (design 17 §5.4), end to end with the official TypeScript
// MCP client against `nexus dev`: the example's `list_repos` tool calls the testkit's echo
// upstream with the *calling user's* connection (`guard.userFetcher(extra.authInfo, provider)`).
//
// - alice (her own connection, imported for her Nexus user id) calls the tool: the upstream saw
//   her credential (introspected at the testkit provider: the grant made for her), not bob's.
// - bob (no connection) calls it: JSON-RPC error -32042 (URL elicitation) whose URL is a Nexus
//   connect link, which alice cannot use (403); bob opens it like a person would (development login as bob, the provider, the
//   broker's callback), and the retried call in the same MCP session works with his own credential.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { loadSdk, missing, startEcho, startOAuth } from './helpers.mjs';
import { Provider, connect, hidden, serve, setUp, withAuth } from './mcp_oauth.mjs';

const PROVIDER = 'repos-oauth';
const ALICE_SCOPE = 'alice-only';

/** The bearer token the echo upstream saw, from the tool's answer `"<status> <echo json>"`. */
function upstreamCredential(result) {
  const text = result.content[0].text;
  const space = text.indexOf(' ');
  assert.equal(text.slice(0, space), '200', text);
  return JSON.parse(text.slice(space + 1)).headers.authorization.replace(/^Bearer /, '');
}

async function introspect(oauth, token) {
  const answer = await fetch(`${oauth.url}/introspect`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }).toString(),
  });
  return answer.json();
}

/**
 * Open the connect link as `username` would in a browser: log in to Nexus (development login),
 * then through the provider (which approves at once) back to the broker's callback.
 */
async function finishConnect(stack, url, username) {
  const origin = { origin: stack.brokerUrl };
  let cookie = {};
  let location = url;
  for (let hop = 0; hop < 12; hop += 1) {
    const page = await fetch(location, { redirect: 'manual', headers: cookie });
    if ([301, 302, 303, 307].includes(page.status)) {
      location = new URL(page.headers.get('location'), location).href;
      continue;
    }
    const body = await page.text();
    if (page.status === 200 && body.includes('name="password"')) {
      // The ticket's own login form (it posts back to its page).
      const form = { csrf: hidden(body, 'csrf'), username, password: stack.devLoginPassword };
      const loggedIn = await fetch(location, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...origin },
        body: new URLSearchParams(form).toString(),
      });
      if (loggedIn.status !== 303) return { status: loggedIn.status, body: await loggedIn.text() };
      cookie = { cookie: loggedIn.headers.get('set-cookie').split(';', 1)[0] };
      location = new URL(loggedIn.headers.get('location'), location).href;
      continue;
    }
    return { status: page.status, body };
  }
  throw new Error(`the connect flow did not end (last: ${location})`);
}

test('tools call the upstream with the calling user’s own credential', async (t) => {
  const stack = await setUp(t);
  if (stack === undefined) return;
  const echo = await startEcho(t);
  const oauth = await startOAuth(t);
  if (echo === undefined || oauth === undefined) return void missing(t, 'nexus-testkit (cargo build -p nexus-testkit)');
  await stack.admin('POST', '/admin/v1/providers', {
    name: PROVIDER,
    auth_type: 'oauth2',
    client_id: oauth.client_id,
    client_secret: oauth.client_secret,
    auth_url: oauth.authorization_endpoint,
    token_url: oauth.token_endpoint,
    api_base_url: echo.url,
    scopes: ['repo'],
  });
  const { NexusClient } = await loadSdk();
  const client = new NexusClient({ gatewayUrl: stack.gatewayUrl, apiKey: stack.apiKey });
  const resource = await serve(t, stack, '/mcp', { client, reposProvider: PROVIDER });

  // alice: her own connection, then the tool.
  const alice = new Provider(stack, 'alice');
  const a = await connect(resource, alice, []);
  const whoami = await a.client.callTool({ name: 'whoami', arguments: {} });
  const subject = whoami.content[0].text.split(' ')[0];
  const issued = await oauth.issue(['repo', ALICE_SCOPE]);
  await stack.admin('POST', `/admin/v1/workspaces/${stack.workspaceId}/connections/import`, {
    provider_name: PROVIDER,
    kind: 'refresh_token',
    secret: issued.refresh_token,
    user_id: subject,
    // Bound to alice as an MCP user (as her connect link would): only such a connection is hers
    // on the user-credential path, never one the workspace made for her id.
    bound_to_mcp_user: true,
  });
  const listRepos = (c) => c.callTool({ name: 'list_repos', arguments: {} });
  const aliceSaw = upstreamCredential(await withAuth(alice, a.transport, () => listRepos(a.client)));
  await a.client.close();
  const aliceGrant = await introspect(oauth, aliceSaw);
  assert.equal(aliceGrant.active, true);
  assert.ok(aliceGrant.scope.split(' ').includes(ALICE_SCOPE), "alice's own grant");

  // bob: no connection → URL elicitation with a connect link; he connects; the retry works.
  const bob = new Provider(stack, 'bob');
  const b = await connect(resource, bob, []);
  const refusal = await withAuth(bob, b.transport, () => listRepos(b.client)).then(
    () => assert.fail('bob has no connection: the call must ask for one'),
    (error) => error,
  );
  assert.equal(refusal.code, ErrorCode.UrlElicitationRequired, String(refusal));
  const [elicitation] = refusal.data.elicitations;
  assert.equal(elicitation.mode, 'url');
  assert.ok(elicitation.url.startsWith(`${stack.brokerUrl}/as/connect/`), elicitation.url);
  assert.ok(elicitation.elicitationId, 'the 2025-11-25 wire needs the id');
  // The link is bound to bob: opened by alice it is refused (phishing rule).
  const asAlice = await finishConnect(stack, elicitation.url, 'alice');
  assert.equal(asAlice.status, 403, asAlice.body);
  const done = await finishConnect(stack, elicitation.url, 'bob');
  assert.equal(done.status, 200, done.body);
  const bobSaw = upstreamCredential(await listRepos(b.client));
  await b.client.close();
  assert.notEqual(bobSaw, aliceSaw);
  const bobGrant = await introspect(oauth, bobSaw);
  assert.equal(bobGrant.active, true);
  assert.ok(!bobGrant.scope.split(' ').includes(ALICE_SCOPE), "bob's own grant, not alice's");
});
