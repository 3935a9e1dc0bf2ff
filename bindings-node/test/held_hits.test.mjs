// `getToken` serves the core's last answer without a native call (src/held.rs, src/client.ts),
// and only while the core would serve the same token: these drive every way that ends, through
// the native client directly where the TypeScript layer would not notice on its own (so the
// core's shared counters are what ends it), and the deadline with a stubbed `performance.now`.
// The rule itself is the core's (core/tests/hold.rs).

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import { PACKAGE_DIR, loadSdk, startHttpServer } from './helpers.mjs';

const require = createRequire(import.meta.url);
const native = require(path.join(PACKAGE_DIR, 'native', 'index.js'));
const WS = 'ws-1';

/** Resolves (a new token each: tok-1, tok-2, …, `expiresIn` seconds), sessions, an upstream. */
async function gateway(t, { expiresIn = 3600 } = {}) {
  const state = { resolves: 0, sessions: 0, validUpstream: null };
  const { url } = await startHttpServer(t, async (req, res) => {
    for await (const _ of req);
    const reply = (status, value) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(value === undefined ? '' : JSON.stringify(value));
    };
    if (req.method === 'GET' && req.url.startsWith('/v1/resolve')) {
      state.resolves += 1;
      const token = `tok-${state.resolves}`;
      return reply(200, {
        access_token: token, token_type: 'Bearer', expires_in: expiresIn,
        strategy: { type: 'oauth2' }, credentials: { access_token: token },
      });
    }
    if (req.method === 'POST' && req.url === '/v1/sessions') {
      state.sessions += 1;
      return reply(201, {
        session_token: `sess_tok_${state.sessions}`, token_type: 'session',
        session_id: `sess_${state.sessions}`, expires_in: 900,
        expires_at: '2026-11-24T12:15:00Z', scopes: [], agent_id: 'agt_1', sub: 'agt_1',
      });
    }
    if (req.method === 'DELETE') {
      res.writeHead(204);
      return res.end();
    }
    if (req.url.startsWith('/upstream')) {
      const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      if (state.validUpstream !== null && token !== state.validUpstream) return reply(401, { message: 'no' });
      return reply(200, { token });
    }
    return reply(404, { error: 'not_found', message: 'no route' });
  });
  return { url, state };
}

async function client(t, options) {
  const { NexusClient } = await loadSdk();
  const gw = await gateway(t, options);
  return { nexus: new NexusClient({ gatewayUrl: gw.url, apiKey: 'nxk_test_key' }), gw };
}

/** Count the native look-ups `getToken` makes (the held path makes none). */
function countPeeks(t) {
  const original = native.peekHeld;
  const counter = { calls: 0 };
  native.peekHeld = (...args) => {
    counter.calls += 1;
    return original(...args);
  };
  t.after(() => {
    native.peekHeld = original;
  });
  return counter;
}

test('the runtime shares the counters, so hits are held', async (t) => {
  const { nexus } = await client(t);
  assert.notEqual(native.epochWord(nexus.hot), null);
  assert.notEqual(native.principalWord(nexus.hot), null);
  assert.notEqual(native.coarseClockWord(), null);
});

test('repeated hits return the same object without a native call', async (t) => {
  const { nexus, gw } = await client(t);
  const first = await nexus.getToken(WS, 'github');
  const peeks = countPeeks(t);
  const second = await nexus.getToken(WS, 'github');
  assert.equal(second, first);
  assert.equal((await nexus.getToken(WS, 'github')).accessToken, 'tok-1');
  assert.equal(peeks.calls, 0, 'held: no native call');
  assert.equal(gw.state.resolves, 1);
});

test('a cache write made behind the layer’s back ends the held hit', async (t) => {
  const { nexus, gw } = await client(t);
  await nexus.getToken(WS, 'github');
  // The native client directly: the TypeScript slots are not touched, only the core's epoch.
  nexus.native.clearToken(WS, 'github');
  assert.equal((await nexus.getToken(WS, 'github')).accessToken, 'tok-2');
  nexus.native.clearToken();
  assert.equal((await nexus.getToken(WS, 'github')).accessToken, 'tok-3');
  await nexus.native.resolveToken(WS, 'github', true); // not cached: no write, still held
  assert.equal((await nexus.getToken(WS, 'github')).accessToken, 'tok-3');
  assert.equal(gw.state.resolves, 4);
});

test('a write to another key re-asks the core but keeps the same object', async (t) => {
  const { nexus } = await client(t);
  const first = await nexus.getToken(WS, 'github');
  await nexus.getToken(WS, 'slack');
  const peeks = countPeeks(t);
  assert.equal(await nexus.getToken(WS, 'github'), first);
  assert.equal(peeks.calls, 1);
});

test('clearToken and the fetcher’s 401 rule end the held hit', async (t) => {
  const { nexus, gw } = await client(t);
  await nexus.getToken(WS, 'github');
  nexus.clearToken(WS, 'github');
  assert.equal((await nexus.getToken(WS, 'github')).accessToken, 'tok-2');

  gw.state.validUpstream = 'tok-3';
  const fetcher = nexus.createFetcher({ workspaceId: WS, provider: 'github' });
  const resp = await fetcher(`${gw.url}/upstream`);
  assert.equal(resp.status, 200);
  assert.deepEqual(await resp.json(), { token: 'tok-3' }, 'one forced refresh, one retry');
  assert.equal((await nexus.getToken(WS, 'github')).accessToken, 'tok-3');
});

test('a session change ends the held hit (the principal version)', async (t) => {
  const { nexus, gw } = await client(t);
  const apiKeyHit = await nexus.getToken(WS, 'github');
  // Native calls: the layer's own session bookkeeping is bypassed.
  await nexus.native.startSession({ scopes: [] });
  const underSession = await nexus.getToken(WS, 'github');
  assert.equal(underSession.accessToken, 'tok-2');
  assert.equal(await nexus.getToken(WS, 'github'), underSession);
  await nexus.native.closeSession();
  const back = await nexus.getToken(WS, 'github');
  assert.equal(back.accessToken, apiKeyHit.accessToken, 'the API key’s own cached token again');
  assert.equal(gw.state.resolves, 2);
});

/**
 * Stub `performance.now` (the real clock of the hit path): moved by `clock.offset` ms, every
 * read counted in `clock.reads`.
 */
function stubClock(t) {
  const realNow = performance.now.bind(performance);
  const clock = { offset: 0, reads: 0 };
  performance.now = () => {
    clock.reads += 1;
    return realNow() + clock.offset;
  };
  t.after(() => {
    delete performance.now;
  });
  return clock;
}

// The next tests hold the core's coarse clock (its ticker stops for this process): each sets the
// published value it relies on. The rule itself: core/src/coarse_clock.rs and its tests.

test('far from the deadline the core’s coarse clock decides: no clock read', async (t) => {
  const { nexus } = await client(t);
  const first = await nexus.getToken(WS, 'github');
  native.holdCoarseClockForTests(native.coarseClockNowMs());
  const clock = stubClock(t);
  const peeks = countPeeks(t);
  assert.equal(await nexus.getToken(WS, 'github'), first);
  assert.equal(await nexus.getToken(WS, 'github'), first);
  assert.equal(clock.reads, 0, 'the published tick decided');
  assert.equal(peeks.calls, 0);
});

test('the held hit is not served after its deadline, with the tick as late as it may be', async (t) => {
  const { nexus } = await client(t);
  const clock = stubClock(t);
  const first = await nexus.getToken(WS, 'github');
  // 3600 s token, 30 s safety buffer: the core's deadline is at most 3570 s after this.
  const after = native.coarseClockNowMs();
  const peeks = countPeeks(t);
  native.holdCoarseClockForTests(after + 3_500_000);
  clock.offset = 3_500_000;
  clock.reads = 0;
  assert.equal(await nexus.getToken(WS, 'github'), first);
  assert.equal(clock.reads, 0, 'far from the deadline: the tick decides');
  // At the latest possible deadline, the tick a window (10 s) minus 1 ms behind: a tick that
  // says "before the deadline" must not decide in the last window.
  native.holdCoarseClockForTests(after + 3_570_000 - 10_000 + 1);
  clock.offset = 3_570_001;
  assert.equal(await nexus.getToken(WS, 'github'), first, 'the core (real clock) still serves it');
  assert.equal(peeks.calls, 1, 'past the held deadline the core is asked');
});

test('an untrusted coarse clock falls back to the real clock', async (t) => {
  const { nexus } = await client(t);
  native.holdCoarseClockForTests(null);
  assert.equal(new Float64Array(native.coarseClockWord())[0], Infinity, 'untrusted: Infinity');
  const clock = stubClock(t);
  const first = await nexus.getToken(WS, 'github');
  const peeks = countPeeks(t);
  // 3600 s token, 30 s safety buffer: held for at most 3570 s from before the call.
  clock.offset = 3_569_000;
  clock.reads = 0;
  assert.equal(await nexus.getToken(WS, 'github'), first);
  assert.equal(peeks.calls, 0, 'still before the deadline');
  assert.equal(clock.reads, 1, 'the real clock decided');
  clock.offset = 3_570_001;
  assert.equal(await nexus.getToken(WS, 'github'), first, 'the core (real clock) still serves it');
  assert.equal(peeks.calls, 1, 'past the held deadline the core is asked');
});

test('a token the core would not serve is never held', async (t) => {
  // 20 s tokens inside the 30 s safety buffer: past the core's deadline on arrival.
  const { nexus, gw } = await client(t, { expiresIn: 20 });
  const tokens = [];
  for (let i = 0; i < 3; i++) tokens.push((await nexus.getToken(WS, 'github')).accessToken);
  assert.deepEqual(tokens, ['tok-1', 'tok-2', 'tok-3']);
  assert.equal(gw.state.resolves, 3);
});
