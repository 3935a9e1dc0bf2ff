// Agent sessions through the Node SDK: against a stand-in gateway on 127.0.0.1 (arguments,
// results, typed errors, the cache never serving the API key's token to a session), the
// `session_cases` of tests/vectors/sessions.json, and the real stack (`nexus dev`).
// Renewal, single flight and the cache namespace are the core's (core/tests/sessions.rs).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import { PACKAGE_DIR, REPO_ROOT, loadSdk, missing, startHttpServer, startStack } from './helpers.mjs';

const require = createRequire(import.meta.url);
const native = require(path.join(PACKAGE_DIR, 'native', 'index.js'));
const { fromNative } = require(path.join(PACKAGE_DIR, 'dist', 'errors.js'));
const KEY = 'nxk_test_SECRET';

async function sessionGateway(t) {
  const seen = [];
  let sessions = 0;
  const { url } = await startHttpServer(t, async (req, res) => {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const body = raw === '' ? {} : JSON.parse(raw);
    const bearer = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    seen.push({ method: req.method, path: req.url.split('?')[0], bearer, body });
    const reply = (status, value) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(value === undefined ? '' : JSON.stringify(value));
    };
    if (req.method === 'POST' && req.url === '/v1/sessions') {
      sessions += 1;
      if ((body.scopes ?? []).includes('admin')) return reply(403, { error: 'scope_not_allowed', message: 'no' });
      const obo = body.on_behalf_of?.subject_token;
      if (obo === 'expired.user.jwt') return reply(401, { error: 'invalid_subject_token', message: 'expired' });
      return reply(201, {
        session_token: `tok_${sessions}`, token_type: 'session', session_id: `sess_${sessions}`,
        expires_in: 900, expires_at: '2026-11-24T12:15:00Z', scopes: body.scopes ?? [],
        agent_id: 'agt_1', sub: obo ? 'user_1' : 'agt_1', ...(obo ? { act: { sub: 'agt_1' } } : {}),
      });
    }
    if (req.method === 'GET' && req.url.startsWith('/v1/resolve')) {
      const token = `at-${bearer}`;
      return reply(200, {
        access_token: token, token_type: 'Bearer', expires_in: 3600,
        strategy: { type: 'oauth2' }, credentials: { access_token: token },
      });
    }
    if (req.method === 'DELETE' && req.url.startsWith('/v1/sessions/')) {
      res.writeHead(204);
      return res.end();
    }
    if (req.method === 'POST' && req.url === '/v1/authorize') {
      if (body.scope === 'provider:github') {
        return reply(200, { allowed: true, scope: body.scope, session_id: 'sess_1' });
      }
      return reply(403, { error: 'user_not_authorized_for_scope', message: 'no' });
    }
    return reply(404, { error: 'not_found', message: 'no route' });
  });
  return { url, seen };
}

test('a session resolves with its token; the API key token is not served to it', async (t) => {
  const { NexusClient } = await loadSdk();
  const gw = await sessionGateway(t);
  const client = new NexusClient({ gatewayUrl: gw.url, apiKey: KEY });
  assert.equal((await client.getToken('ws_1', 'github')).accessToken, `at-${KEY}`);
  assert.equal((await client.getToken('ws_1', 'github')).accessToken, `at-${KEY}`, 'cached');

  const session = await client.startSession({ scopes: ['provider:github'], ttlSeconds: 600 });
  assert.deepEqual(
    { id: session.sessionId, scopes: [...session.scopes], sub: session.sub, act: session.act },
    { id: 'sess_1', scopes: ['provider:github'], sub: 'agt_1', act: undefined },
  );
  assert.ok(!JSON.stringify(session).includes('tok_1'), 'the token never reaches JavaScript');
  const start = gw.seen.find((r) => r.path === '/v1/sessions');
  assert.equal(start.bearer, KEY);
  assert.equal(start.body.ttl_seconds, 600);
  assert.equal((await client.getToken('ws_1', 'github')).accessToken, 'at-tok_1');
  assert.equal((await client.getToken('ws_1', 'github')).accessToken, 'at-tok_1');
  assert.equal(client.session?.sessionId, 'sess_1');
  assert.equal((await client.authorize('provider:github')).allowed, true);

  await client.closeSession();
  const del = gw.seen.filter((r) => r.method === 'DELETE');
  assert.deepEqual(del.map((r) => [r.path, r.bearer]), [['/v1/sessions/sess_1', 'tok_1']]);
  assert.equal(client.session, undefined);
  assert.equal((await client.getToken('ws_1', 'github')).accessToken, `at-${KEY}`);
  // The API key's token stayed cached in its own namespace (tests/vectors/client_behaviour.json).
  assert.equal(gw.seen.filter((r) => r.path === '/v1/resolve').length, 2);
});

test("clearToken under a session forgets the session's token, not only the API key's", async (t) => {
  const { NexusClient } = await loadSdk();
  const gw = await sessionGateway(t);
  const client = new NexusClient({ gatewayUrl: gw.url, apiKey: KEY });
  await client.startSession({ scopes: ['provider:github'] });
  const resolves = () => gw.seen.filter((r) => r.path === '/v1/resolve').length;
  assert.equal((await client.getToken('ws_1', 'github')).accessToken, 'at-tok_1');
  assert.equal(resolves(), 1);
  client.clearToken('ws_1', 'github');
  assert.equal((await client.getToken('ws_1', 'github')).accessToken, 'at-tok_1');
  assert.equal(resolves(), 2, 'the cleared session token was served from the cache');
  const fetcher = client.createFetcher({ workspaceId: 'ws_1', provider: 'github' });
  client.clearToken('ws_1', 'github');
  const upstream = await startHttpServer(t, (req, res) => res.end(req.headers.authorization));
  assert.equal(await (await fetcher(`${upstream.url}/x`)).text(), 'Bearer at-tok_1');
  assert.equal(resolves(), 3, 'the fetcher resolved again after clearToken');
  await client.closeSession();
});

test('session refusals are typed errors', async (t) => {
  const sdk = await loadSdk();
  const gw = await sessionGateway(t);
  const client = new sdk.NexusClient({ gatewayUrl: gw.url, apiKey: KEY });
  await assert.rejects(client.startSession({ scopes: ['admin'] }), (e) => e instanceof sdk.ScopeNotAllowedError);
  await assert.rejects(
    client.startSession({ onBehalfOf: 'expired.user.jwt' }),
    (e) => e instanceof sdk.InvalidSubjectTokenError && !e.message.includes('expired.user.jwt'),
  );
  await assert.rejects(client.authorize('provider:github'), (e) => e.code === 'invalid_request');
  await assert.rejects(client.startSession({ ttlSeconds: 0 }), (e) => e.code === 'invalid_request');
  const obo = await client.startSession({ onBehalfOf: 'good.user.jwt', agentCredential: 'nxa_agent' });
  assert.deepEqual([obo.sub, obo.act], ['user_1', 'agt_1']);
  assert.equal(gw.seen.filter((r) => r.path === '/v1/sessions').at(-1).bearer, 'nxa_agent');
  await assert.rejects(client.authorize('billing:write'), (e) => e instanceof sdk.UserNotAuthorizedForScopeError);
  await client.closeSession();
});

const vectors = JSON.parse(readFileSync(path.join(REPO_ROOT, 'tests', 'vectors', 'sessions.json'), 'utf8'));
for (const c of vectors.session_cases) {
  test(`sessions.json session_cases/${c.name}`, () => {
    const body = typeof c.session === 'string' ? c.session : JSON.stringify(c.session);
    if (c.expect_error !== undefined) {
      assert.throws(() => native.parseSessionBody(body), (e) => fromNative(e).code === c.expect_error);
      return;
    }
    const s = native.parseSessionBody(body);
    const got = {
      session_id: s.sessionId, expires_in: s.expiresIn, scopes: s.scopes, agent_id: s.agentId,
      sub: s.sub, act: s.act ?? null, renew_after_ms: s.renewAfterMs,
    };
    assert.deepEqual(got, c.expect_session);
  });
}

test('a session against the real stack', async (t) => {
  const stack = await startStack(t);
  if (stack === undefined && missing(t, 'the nexus binary')) return;
  const { NexusClient, ScopeNotAllowedError } = await loadSdk();
  const ws = stack.workspaceId;
  const secret = 'sk-node-session-e2e';
  await stack.admin('POST', '/admin/v1/providers', {
    name: 'echo', auth_type: 'api_key', api_base_url: 'http://127.0.0.1:9',
    strategy: { type: 'header', config: { header_name: 'X-API-Key' } },
  });
  await stack.admin('POST', `/admin/v1/workspaces/${ws}/connections/import`, {
    provider_name: 'echo', kind: 'api_key', secret,
  });
  const agent = await stack.admin('POST', `/admin/v1/workspaces/${ws}/agents`, {
    name: 'node-sdk-e2e', scopes: ['provider:echo', 'tickets:read'],
  });
  const client = new NexusClient({ gatewayUrl: stack.gatewayUrl, apiKey: stack.apiKey });
  await assert.rejects(
    client.startSession({ scopes: ['provider:nope'], agentCredential: agent.agent_credential }),
    (e) => e instanceof ScopeNotAllowedError,
  );
  const session = await client.startSession({
    scopes: ['provider:echo'], ttlSeconds: 300, agentCredential: agent.agent_credential,
  });
  assert.equal(session.agentId, agent.agent_id);
  assert.ok(session.expiresIn > 0 && session.expiresIn <= 300);
  const token = await client.getToken(ws, 'echo');
  assert.equal(token.credentials.api_key, secret);
  assert.equal((await client.authorize('provider:echo')).sessionId, session.sessionId);
  await assert.rejects(client.authorize('tickets:read'), (e) => e instanceof ScopeNotAllowedError);
  await client.closeSession();
  assert.equal((await client.getToken(ws, 'echo')).credentials.api_key, secret);
});
