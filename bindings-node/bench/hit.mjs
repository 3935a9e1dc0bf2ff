// The Node SDK's cache hit against its floors, in one process and one run (issue 20: hit
// ≤ 1.2× a `Map` lookup). Used by scripts/bench/hot-paths.sh.
//
//   NAPI_RS_NATIVE_LIBRARY_PATH=/path/to/release/nexus-sdk.linux-x64-gnu.node \
//   NEXUS_BIN=target/release/nexus node bench/hit.mjs
//
// Measured in alternating rounds (median of each), every variant awaited as a user awaits
// `getToken`:
// - sdk:        `await nexus.getToken(ws, provider)` on a warm cache (freshness decided by the
//               native core on every call);
// - map_clock:  `await get(ws, provider)`, an async function doing a `Map` lookup and the same
//               freshness test against `Date.now()`: the floor the goal names, with the
//               clock check a correct cache cannot skip;
// - map:        the same without the clock (what the lookup alone costs here).
// Prints one JSON object on stdout.

import { loadSdk, startStack } from '../test/helpers.mjs';

const OPS = Number(process.env.BENCH_HIT_OPS ?? 300_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);

const cleanups = [];
const t = { after: (fn) => cleanups.push(fn), skip: (why) => { throw new Error(why); } };

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function nsPerOp(fn, ops) {
  for (let i = 0; i < 10_000; i++) await fn(); // warm-up (JIT)
  const start = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) await fn();
  return Number(process.hrtime.bigint() - start) / ops;
}

try {
  const { NexusClient } = await loadSdk();
  process.env.NEXUS_REQUIRE_STACK = '1';
  const stack = await startStack(t);
  if (stack === undefined) throw new Error('set NEXUS_BIN to a built nexus binary');
  await stack.admin('POST', '/admin/v1/providers', { name: 'static-key', auth_type: 'api_key' });
  await stack.admin('POST', `/admin/v1/workspaces/${stack.workspaceId}/connections/import`, {
    provider_name: 'static-key',
    kind: 'api_key',
    secret: 'k-static-1',
  });
  const ws = stack.workspaceId;
  const provider = 'static-key';
  const nexus = new NexusClient({ gatewayUrl: stack.gatewayUrl, apiKey: stack.apiKey });
  const credential = await nexus.getToken(ws, provider);

  // The floor's cache: workspace → provider → entry, as a JavaScript cache would key it
  // without building a key string per call.
  const map = new Map([[ws, new Map([[provider, { credential, freshUntil: Date.now() + 3_600_000 }]])]]);
  const withClock = async (w, p) => {
    const e = map.get(w)?.get(p);
    if (e !== undefined && Date.now() < e.freshUntil) return e.credential;
    throw new Error('floor entry not fresh');
  };
  const lookupOnly = async (w, p) => {
    const e = map.get(w)?.get(p);
    if (e !== undefined) return e.credential;
    throw new Error('floor entry missing');
  };

  const runs = { sdk: [], map_clock: [], map: [] };
  for (let round = 0; round < ROUNDS; round++) {
    runs.sdk.push(await nsPerOp(() => nexus.getToken(ws, provider), OPS));
    runs.map_clock.push(await nsPerOp(() => withClock(ws, provider), OPS));
    runs.map.push(await nsPerOp(() => lookupOnly(ws, provider), OPS));
  }
  const result = {
    native: process.env.NAPI_RS_NATIVE_LIBRARY_PATH ?? 'native/ (as built)',
    ops: OPS,
    rounds: ROUNDS,
    hit_ns: median(runs.sdk),
    floor_map_clock_ns: median(runs.map_clock),
    floor_map_ns: median(runs.map),
    ratio_vs_map_clock: median(runs.sdk) / median(runs.map_clock),
    ratio_vs_map: median(runs.sdk) / median(runs.map),
    rounds_ns: runs,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  for (const fn of cleanups.reverse()) await fn();
}
