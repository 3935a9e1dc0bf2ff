// The shared conformance vectors (tests/vectors/*.json) through the native strategy engine:
// the exact code path of the fetcher (the core's strategy engine behind the addon) and the
// error mapping of src/errors.ts.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { createRequire } from 'node:module';
import { REPO_ROOT, PACKAGE_DIR } from './helpers.mjs';

const require = createRequire(import.meta.url);
const native = require(path.join(PACKAGE_DIR, 'native', 'index.js'));
const { fromNative } = require(path.join(PACKAGE_DIR, 'dist', 'errors.js'));

const VECTOR_DIR = path.join(REPO_ROOT, 'tests', 'vectors');
const DEFAULT_NOW = '2026-11-24T12:00:00Z';
const files = readdirSync(VECTOR_DIR).filter((f) => f.endsWith('.json')).sort();

test('the vector folder has vector files', (t) => {
  if (files.length === 0 && process.env.CI === undefined) {
    t.skip('tests/vectors has no *.json yet');
    return;
  }
  assert.ok(files.length > 0, 'tests/vectors/*.json');
});

for (const file of files) {
  const text = readFileSync(path.join(VECTOR_DIR, file), 'utf8');
  const suite = JSON.parse(text);
  // Exact resolve bodies: a JavaScript number would round a 64-bit `expires_in`.
  const resolveBodies = native.vectorResolveBodies(text);
  suite.cases.forEach((c, i) => {
    test(`${file}: ${c.name}`, () => runCase(c, resolveBodies[i]));
  });
}

function runCase(c, resolveJson) {
  const now = c.now ?? DEFAULT_NOW;
  let outcome;
  try {
    if (c.resolve_error !== undefined) {
      native.raiseGatewayError(c.resolve_error.status, JSON.stringify(c.resolve_error.body));
      assert.fail('raiseGatewayError must throw');
    }
    outcome = native.applyStrategy(resolveJson, toNativeRequest(c.request), now);
  } catch (error) {
    const mapped = fromNative(error);
    if (c.expect_error === undefined) throw mapped;
    assert.equal(mapped.code, c.expect_error, `error code (message: ${mapped.message})`);
    return;
  }
  assert.equal(c.expect_error, undefined, `expected error ${c.expect_error}, got a result`);
  const expect = c.expect;
  const got = Object.fromEntries(outcome.headers.map(([n, v]) => [n.toLowerCase(), v]));
  const want = Object.fromEntries(Object.entries(expect.headers ?? {}).map(([n, v]) => [n.toLowerCase(), v]));
  assert.deepEqual(got, want, 'injected headers (names case-insensitive, values exact, none extra)');
  if (expect.url !== undefined) assert.equal(outcome.url, expect.url, 'final URL');
  if (expect.ttl_seconds !== undefined) assert.equal(outcome.ttlSeconds, expect.ttl_seconds, 'ttl_seconds');
}

function toNativeRequest(request) {
  const r = request ?? { method: 'GET', url: 'https://api.example.com/' };
  let body;
  if (r.body_base64 !== undefined) body = new Uint8Array(Buffer.from(r.body_base64, 'base64'));
  else if (r.body !== undefined) body = new TextEncoder().encode(r.body);
  return { method: r.method ?? 'GET', url: r.url, headers: Object.entries(r.headers ?? {}), body };
}
