// Benchmark of the Node SDK against a pure-JavaScript client of the same algorithm
// (bench/pure-client.mjs), on the real stack (`nexus dev`) and the testkit echo upstream.
//
//   NAPI_RS_NATIVE_LIBRARY_PATH=/path/to/release/nexus-sdk.linux-x64-gnu.node \
//   NEXUS_BIN=target/debug/nexus NEXUS_TESTKIT_BIN=target/debug/nexus-testkit node bench/run.mjs
//
// 1. getToken cache hit: ns/op of `await nexus.getToken()` vs `await pure.getToken()` (warm).
// 2. fetcher overhead at 64 concurrent requests: wall time of N requests through
//    (a) plain `fetch` with a static Authorization header, (b) the SDK's fetcher, (c) the pure
//    client's fetcher; overhead = (b − a) / a and (c − a) / a. Rounds alternate to spread noise.
// 3. the fetchers' own cost per call with `fetch` stubbed out (no network, no servers).
// Results go to stderr as text and to stdout as one JSON object.

import { loadSdk, startWorld } from '../test/helpers.mjs';

const HIT_OPS = Number(process.env.BENCH_HIT_OPS ?? 300_000);
const FETCH_REQUESTS = Number(process.env.BENCH_FETCH_REQUESTS ?? 6_000);
const CONCURRENCY = 64;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

const { PureNexusClient } = await import('./pure-client.mjs');
const { NexusClient } = await loadSdk();

// The helpers expect a node:test context; this one only collects cleanups.
const cleanups = [];
const t = { after: (fn) => cleanups.push(fn), skip: (why) => { throw new Error(why); } };

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function nsPerOp(fn, ops) {
  for (let i = 0; i < 10_000; i++) await fn(); // warm-up (JIT, caches)
  const start = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) await fn();
  return Number(process.hrtime.bigint() - start) / ops;
}

/** Wall time and this process's CPU time (user + system) for `total` requests. */
async function measure(fetchOne, total) {
  const cpu = process.cpuUsage();
  const wall = await wallMs(fetchOne, total);
  const used = process.cpuUsage(cpu);
  return { wall, cpuUs: used.user + used.system };
}

async function wallMs(fetchOne, total) {
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      const r = await fetchOne(i);
      if (r.status !== 200) throw new Error(`status ${r.status}`);
      await r.arrayBuffer();
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return performance.now() - start;
}

try {
  process.env.NEXUS_REQUIRE_STACK = '1';
  const world = await startWorld(t);
  const { gatewayUrl, apiKey, workspaceId } = world.stack;
  const nexus = new NexusClient({ gatewayUrl, apiKey });
  const pure = new PureNexusClient({ gatewayUrl, apiKey });
  const token = await nexus.getToken(workspaceId, 'static-key');
  await pure.getToken(workspaceId, 'static-key');

  // 1. Cache hit.
  const hitSdk = [];
  const hitPure = [];
  for (let round = 0; round < ROUNDS; round++) {
    hitSdk.push(await nsPerOp(() => nexus.getToken(workspaceId, 'static-key'), HIT_OPS));
    hitPure.push(await nsPerOp(() => pure.getToken(workspaceId, 'static-key'), HIT_OPS));
  }

  // 2. Fetcher overhead at 64 concurrent requests.
  const url = (i) => `${world.echo.url}/bench/${i}`;
  const staticHeader = { authorization: `Bearer ${token.credentials.api_key}` };
  const sdkFetch = nexus.createFetcher({ workspaceId, provider: 'static-key' });
  const pureFetch = pure.createFetcher({ workspaceId, provider: 'static-key' });
  const variants = {
    plain: (i) => fetch(url(i), { headers: staticHeader }),
    sdk: (i) => sdkFetch(url(i)),
    pure: (i) => pureFetch(url(i)),
  };
  for (const fetchOne of Object.values(variants)) await wallMs(fetchOne, 1_000); // warm-up
  const wall = { plain: [], sdk: [], pure: [] };
  const cpu = { plain: [], sdk: [], pure: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, fetchOne] of Object.entries(variants)) {
      const m = await measure(fetchOne, FETCH_REQUESTS);
      wall[name].push(m.wall);
      cpu[name].push(m.cpuUs / FETCH_REQUESTS);
    }
  }

  // 3. The fetchers' own cost per call, with `fetch` replaced by a stub that answers at once:
  //    what each client adds in front of the network, free of server and scheduler noise.
  const realFetch = globalThis.fetch;
  const stubbed = { status: 200 };
  globalThis.fetch = async () => stubbed;
  const stubNs = { plain: [], sdk: [], pure: [] };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      stubNs.plain.push(await nsPerOp(() => fetch(url(1), { headers: staticHeader }), HIT_OPS / 4));
      stubNs.sdk.push(await nsPerOp(() => sdkFetch(url(1)), HIT_OPS / 4));
      stubNs.pure.push(await nsPerOp(() => pureFetch(url(1)), HIT_OPS / 4));
    }
  } finally {
    globalThis.fetch = realFetch;
  }

  const result = {
    native: process.env.NAPI_RS_NATIVE_LIBRARY_PATH ? 'override (release)' : 'native/ (as built)',
    get_token_hit_ns: { sdk: median(hitSdk), pure_js: median(hitPure), ratio: median(hitSdk) / median(hitPure) },
    fetch_64_concurrent: {
      requests: FETCH_REQUESTS,
      wall_ms: { plain: median(wall.plain), sdk: median(wall.sdk), pure_js: median(wall.pure) },
      us_per_request: {
        plain: (median(wall.plain) * 1000) / FETCH_REQUESTS,
        sdk: (median(wall.sdk) * 1000) / FETCH_REQUESTS,
        pure_js: (median(wall.pure) * 1000) / FETCH_REQUESTS,
      },
      overhead_pct: {
        sdk: ((median(wall.sdk) - median(wall.plain)) / median(wall.plain)) * 100,
        pure_js: ((median(wall.pure) - median(wall.plain)) / median(wall.plain)) * 100,
      },
      // CPU of this process per request: what the client itself spends, independent of how
      // the (shared) machine schedules the servers.
      client_cpu_us_per_request: { plain: median(cpu.plain), sdk: median(cpu.sdk), pure_js: median(cpu.pure) },
      client_cpu_overhead_pct: {
        sdk: ((median(cpu.sdk) - median(cpu.plain)) / median(cpu.plain)) * 100,
        pure_js: ((median(cpu.pure) - median(cpu.plain)) / median(cpu.plain)) * 100,
      },
    },
    fetcher_cost_stubbed_fetch_ns: { plain: median(stubNs.plain), sdk: median(stubNs.sdk), pure_js: median(stubNs.pure) },
    rounds: ROUNDS,
    raw: { hitSdk, hitPure, wall, cpu, stubNs },
  };
  console.error(JSON.stringify(result, null, 2));
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  for (const fn of cleanups.reverse()) await fn();
}
