// The Node SDK's cache hit against its floors, in one process and one run (issue 20: hit
// ≤ 1.2× a `Map` lookup). Used by scripts/bench/hot-paths.sh.
//
//   NAPI_RS_NATIVE_LIBRARY_PATH=/path/to/release/nexus-sdk.linux-x64-gnu.node node bench/hit.mjs
//
// The gateway is a loopback stand-in (resolves and sessions): a hit never reaches it. Measured
// in alternating rounds after a warm-up (median of the rounds), every variant awaited as a user
// awaits `getToken`:
// - sdk:            `await nexus.getToken(ws, provider)` on a warm cache, no session;
// - sdk_session:    the same on a second client under an agent session;
// - sdk_native_call: the same with held hits off (one native call per hit, as before);
// - map_perf:       `await get(ws, provider)`, an async function doing a two-level `Map` lookup and
//                   a freshness test against `performance.now()` (the monotonic clock the SDK's
//                   held hit compares with the core's deadline);
// - map_date:       the same against `Date.now()` (wall clock: cheaper, but a correct cache cannot
//                   use it, a clock step would serve an expired token);
// - map:            the lookup alone, no clock (the goal's literal "Map lookup").
// Each figure is CPU time per call (`process.cpuUsage`, which load barely changes) and wall time
// per call beside it. Prints one JSON object on stdout.

import { createServer } from 'node:http';
import { once } from 'node:events';
import { loadSdk } from '../test/helpers.mjs';

const OPS = Number(process.env.BENCH_HIT_OPS ?? 300_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function measure(fn, ops) {
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) await fn();
  const wall = Number(process.hrtime.bigint() - start) / ops;
  const used = process.cpuUsage(cpu);
  return { cpu: ((used.user + used.system) * 1000) / ops, wall };
}

/** Resolves (one token, an hour) and sessions, on 127.0.0.1. */
async function standIn() {
  const server = createServer(async (req, res) => {
    for await (const _ of req);
    res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' });
    if (req.method === 'POST' && req.url === '/v1/sessions') {
      return res.end(JSON.stringify({
        session_token: 'sess_tok', token_type: 'session', session_id: 'sess_1', expires_in: 3600,
        expires_at: '2026-12-31T00:00:00Z', scopes: [], agent_id: 'agt_1', sub: 'agt_1',
      }));
    }
    return res.end(JSON.stringify({
      access_token: 'tok-bench', token_type: 'Bearer', expires_in: 3600,
      strategy: { type: 'oauth2' }, credentials: { access_token: 'tok-bench' },
    }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${server.address().port}` };
}

const { server, url } = await standIn();
try {
  const { NexusClient } = await loadSdk();
  const ws = 'bench-ws';
  const provider = 'github';
  const nexus = new NexusClient({ gatewayUrl: url, apiKey: 'nxk_bench' });
  const credential = await nexus.getToken(ws, provider);
  const inSession = new NexusClient({ gatewayUrl: url, apiKey: 'nxk_bench' });
  await inSession.startSession();
  await inSession.getToken(ws, provider);
  // The path before held hits (and where a runtime cannot share memory): one native call per
  // hit (`peekGeneration`), the converted object reused. For comparison in the same run.
  const perCall = new NexusClient({ gatewayUrl: url, apiKey: 'nxk_bench' });
  perCall.words = undefined;
  await perCall.getToken(ws, provider);

  // The floor's cache: workspace → provider → entry, as a JavaScript cache would key it
  // without building a key string per call.
  const perfMap = new Map([[ws, new Map([[provider, { credential, freshUntil: performance.now() + 3_600_000 }]])]]);
  const dateMap = new Map([[ws, new Map([[provider, { credential, freshUntil: Date.now() + 3_600_000 }]])]]);
  const withPerf = async (w, p) => {
    const e = perfMap.get(w)?.get(p);
    if (e !== undefined && performance.now() < e.freshUntil) return e.credential;
    throw new Error('floor entry not fresh');
  };
  const withDate = async (w, p) => {
    const e = dateMap.get(w)?.get(p);
    if (e !== undefined && Date.now() < e.freshUntil) return e.credential;
    throw new Error('floor entry not fresh');
  };
  const lookupOnly = async (w, p) => {
    const e = perfMap.get(w)?.get(p);
    if (e !== undefined) return e.credential;
    throw new Error('floor entry missing');
  };
  const variants = {
    sdk: () => nexus.getToken(ws, provider),
    sdk_session: () => inSession.getToken(ws, provider),
    sdk_native_call: () => perCall.getToken(ws, provider),
    map_perf: () => withPerf(ws, provider),
    map_date: () => withDate(ws, provider),
    map: () => lookupOnly(ws, provider),
  };
  for (const fn of Object.values(variants)) await measure(fn, 50_000); // warm-up (JIT)
  const runs = Object.fromEntries(Object.keys(variants).map((k) => [k, { cpu: [], wall: [] }]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, fn] of Object.entries(variants)) {
      const { cpu, wall } = await measure(fn, OPS);
      runs[name].cpu.push(cpu);
      runs[name].wall.push(wall);
    }
  }
  // The clock reads alone (synchronous loops): the part of the floor a bare Map does not pay.
  const clockCpu = (read) => {
    const before = process.cpuUsage();
    let sink = 0;
    for (let i = 0; i < OPS; i++) sink += read();
    const used = process.cpuUsage(before);
    return sink === 0 ? NaN : ((used.user + used.system) * 1000) / OPS;
  };
  const clocks = {
    performance_now: median(Array.from({ length: ROUNDS }, () => clockCpu(() => performance.now()))),
    date_now: median(Array.from({ length: ROUNDS }, () => clockCpu(() => Date.now()))),
  };
  const cpu = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, median(v.cpu)]));
  const wall = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, median(v.wall)]));
  const round2 = (x) => Math.round(x * 100) / 100;
  const result = {
    node: process.version,
    native: process.env.NAPI_RS_NATIVE_LIBRARY_PATH ?? 'native/ (as built)',
    ops: OPS,
    rounds: ROUNDS,
    load: (await import('node:os')).loadavg().map((l) => round2(l)),
    held: heldPath(nexus),
    cpu_ns: cpu,
    clock_alone_cpu_ns: clocks,
    wall_ns: wall,
    hit_ns: cpu.sdk,
    hit_session_ns: cpu.sdk_session,
    floor_map_clock_ns: cpu.map_perf,
    floor_map_date_ns: cpu.map_date,
    floor_map_ns: cpu.map,
    ratio_vs_map_clock: round2(cpu.sdk / cpu.map_perf),
    ratio_session_vs_map_clock: round2(cpu.sdk_session / cpu.map_perf),
    ratio_native_call_vs_map_clock: round2(cpu.sdk_native_call / cpu.map_perf),
    ratio_vs_map_date: round2(cpu.sdk / cpu.map_date),
    ratio_vs_map: round2(cpu.sdk / cpu.map),
    wall_ratio_vs_map_clock: round2(wall.sdk / wall.map_perf),
    wall_ratio_vs_map: round2(wall.sdk / wall.map),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  server.closeAllConnections();
  server.close();
}

/** Whether the client serves hits without a native call (the runtime shares memory). */
function heldPath(client) {
  return client.words !== undefined;
}
