// The client behaviour vectors (tests/vectors/client_behaviour.json, `behaviour_cases`, format
// in tests/vectors/README.md) through `createFetcher`: what it does on an upstream 401, on
// `clearToken` and under an agent session, against a scripted gateway and a scripted upstream,
// both real HTTP servers on 127.0.0.1. The Rust core, Python and Go run the same file.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT, loadSdk, startHttpServer } from './helpers.mjs';

const FILE = path.join(REPO_ROOT, 'tests', 'vectors', 'client_behaviour.json');
const { behaviour_cases: cases } = JSON.parse(readFileSync(FILE, 'utf8'));
const API_KEY = 'nxk_vector_key';
const WORKSPACE = 'ws_vec';
const PROVIDER = 'github';

test('the client behaviour vectors have cases', () => {
  assert.ok(Array.isArray(cases) && cases.length > 0, `${FILE}: behaviour_cases`);
});

for (const c of cases ?? []) {
  test(`client_behaviour.json: ${c.name}`, (t) => runCase(t, c));
}

async function runCase(t, c) {
  const sdk = await loadSdk();
  const world = await startScriptedWorld(t, c);
  const client = new sdk.NexusClient({ gatewayUrl: world.gatewayUrl, apiKey: API_KEY, retryPolicy: { maxRetries: 0 } });
  t.after(() => client.closeSession());
  const fetcher = client.createFetcher({ workspaceId: WORKSPACE, provider: PROVIDER });

  const results = [];
  for (const [i, step] of c.steps.entries()) {
    switch (step) {
      case 'fetch':
        results.push(await outcome(sdk, () => fetcher(`${world.upstreamUrl}/resource`)));
        break;
      case 'invalidate':
        client.clearToken(WORKSPACE, PROVIDER);
        break;
      case 'start_session':
        await client.startSession();
        break;
      case 'end_session':
        await client.closeSession();
        break;
      default:
        assert.fail(`step ${i}: unknown step ${JSON.stringify(step)} (the Node runner must learn it)`);
    }
  }
  assert.deepEqual(world.resolveCalls, c.expect.resolve_calls, 'resolve_calls');
  assert.deepEqual(world.upstreamAuth, c.expect.upstream_auth, 'upstream_auth');
  assert.equal(results.length, c.expect.results.length, 'one result per fetch');
  c.expect.results.forEach((want, i) => {
    if (want.error !== undefined) {
      assert.equal(results[i].error, want.error, `result ${i}`);
      return;
    }
    assert.equal(results[i].status, want.status, `result ${i} status`);
    if (want.body !== undefined) assert.equal(results[i].body, want.body, `result ${i} body`);
  });
  assert.deepEqual(world.problems, []);
}

/** The response (status, text) of one fetch, or the stable code of the NexusError it threw. */
async function outcome(sdk, call) {
  try {
    const response = await call();
    return { status: response.status, body: await response.text() };
  } catch (error) {
    if (!(error instanceof sdk.NexusError)) throw error;
    return { error: error.code };
  }
}

/** The scripted gateway and upstream of one case, recording what each received. */
async function startScriptedWorld(t, c) {
  const world = { resolveCalls: [], upstreamAuth: [], problems: [] };
  const sessionToken = c.session?.session_token;
  const reply = (res, status, body, headers = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
  const gateway = await startHttpServer(t, (req, res) => {
    const url = new URL(req.url, 'http://gateway');
    const bearer = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    if (req.method === 'POST' && url.pathname === '/v1/sessions') return reply(res, 201, c.session);
    if (req.method === 'DELETE' && url.pathname.startsWith('/v1/sessions/')) {
      res.writeHead(204);
      return res.end();
    }
    if (req.method === 'GET' && url.pathname === '/v1/resolve') {
      const n = world.resolveCalls.length;
      world.resolveCalls.push({
        force_refresh: url.searchParams.get('force_refresh') === 'true',
        authorization: bearer === API_KEY ? 'api_key' : bearer === sessionToken ? 'session' : 'unknown',
      });
      const scripted = c.resolves[n];
      if (scripted === undefined) {
        world.problems.push('more resolve calls than scripted');
        return reply(res, 500, { error: 'internal_error', message: 'unscripted' });
      }
      const error = scripted.resolve_error;
      if (error === undefined) return reply(res, 200, scripted);
      return reply(res, error.status, error.body, error.headers);
    }
    world.problems.push(`unexpected gateway call ${req.method} ${url.pathname}`);
    return reply(res, 404, { error: 'not_found', message: 'no route' });
  });
  const upstream = await startHttpServer(t, (req, res) => {
    const n = world.upstreamAuth.length;
    world.upstreamAuth.push(req.headers.authorization);
    const scripted = c.upstream[n];
    if (scripted === undefined) {
      world.problems.push('more upstream calls than scripted');
      res.writeHead(500);
      return res.end();
    }
    res.writeHead(scripted.status);
    res.end(scripted.body ?? '');
  });
  return Object.assign(world, { gatewayUrl: gateway.url, upstreamUrl: upstream.url });
}
