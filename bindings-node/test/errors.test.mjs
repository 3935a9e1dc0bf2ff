// Error mapping (native → NexusError subclasses) and the logging contract, without a stack.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import { closedPort, loadSdk, PACKAGE_DIR, REPO_ROOT } from './helpers.mjs';

const sdk = await loadSdk();
const require = createRequire(import.meta.url);
const native = require(path.join(PACKAGE_DIR, 'native', 'index.js'));
const { fromNative, errorForCode, ERROR_TABLE, CLASS_OF_KIND } = require(path.join(PACKAGE_DIR, 'dist', 'errors.js'));

/** The error the SDK raises for a gateway answer (through the core's parser and our mapping). */
function gatewayError(status, body) {
  try {
    native.raiseGatewayError(status, typeof body === 'string' ? body : JSON.stringify(body));
  } catch (error) {
    return fromNative(error);
  }
  assert.fail('raiseGatewayError must throw');
}

const PROTOCOL_CLASSES = {
  invalid_request: [400, 'InvalidRequestError'],
  unauthorized: [401, 'UnauthorizedError'],
  forbidden: [403, 'ForbiddenError'],
  not_found: [404, 'NotFoundError'],
  connection_not_found: [404, 'ConnectionNotFoundError'],
  provider_not_found: [404, 'ProviderNotFoundError'],
  reauth_required: [409, 'ReauthRequiredError'],
  connection_not_active: [409, 'ConnectionNotActiveError'],
  payload_too_large: [413, 'PayloadTooLargeError'],
  rate_limited: [429, 'RateLimitedError'],
  upstream_unavailable: [502, 'UpstreamUnavailableError'],
  scope_not_allowed: [403, 'ScopeNotAllowedError'],
  user_not_authorized_for_scope: [403, 'UserNotAuthorizedForScopeError'],
  invalid_subject_token: [401, 'InvalidSubjectTokenError'],
  internal_error: [500, 'InternalServerError'],
};

test('every protocol error code maps to its class, with code and statusCode', () => {
  for (const [code, [status, className]] of Object.entries(PROTOCOL_CLASSES)) {
    const e = gatewayError(status, { error: code, message: `m-${code}`, request_id: 'req-9' });
    assert.ok(e instanceof sdk[className], `${code} → ${className}, got ${e.name}`);
    assert.ok(e instanceof sdk.NexusError);
    assert.ok(e instanceof Error);
    assert.equal(e.name, className);
    assert.equal(e.code, code);
    assert.equal(e.statusCode, status);
    assert.equal(e.requestId, 'req-9');
    assert.equal(e.message, `m-${code}`);
    assert.equal(e.kind, 'api');
  }
});

// The core's one error table (code → kind → class), read from the addon; the shared vectors
// (tests/vectors/client_behaviour.json) hold the same rows for the SDKs without the core.
const VECTORS = JSON.parse(readFileSync(path.join(REPO_ROOT, 'tests', 'vectors', 'client_behaviour.json'), 'utf8'));

test("the error table is the core's: same codes, kinds, classes and parents", () => {
  const rows = native.errorTable();
  assert.ok(rows.length > 0, 'the core exports its table');
  assert.deepEqual(rows.map((r) => ({ ...r })), VECTORS.error_classes, 'the vectors hold the core table');
  for (const { code, kind, class: className, parent } of rows) {
    const Class = sdk[className];
    assert.equal(typeof Class, 'function', `${className} (for ${code}) is exported`);
    assert.equal(Object.getPrototypeOf(Class), sdk[parent], `${className} extends ${parent}`);
    const e = errorForCode(code, 'm', { kind });
    assert.equal(e.constructor, Class, `${code}/${kind} → ${className}, got ${e.name}`);
    assert.equal(e.name, className);
    assert.equal(e.kind, kind);
  }
  // Every code of the TypeScript table is a row of the core's, with the core's kind for it.
  const coreKinds = new Map();
  for (const { code, kind } of rows) coreKinds.set(code, [...(coreKinds.get(code) ?? []), kind]);
  assert.deepEqual(Object.keys(ERROR_TABLE).sort(), [...coreKinds.keys()].sort());
  for (const [code, [kind]] of Object.entries(ERROR_TABLE)) {
    assert.ok(coreKinds.get(code).includes(kind), `${code}: kind ${kind} is not the core's ${coreKinds.get(code)}`);
  }
  for (const [kind, className] of Object.entries(VECTORS.fallback_class)) {
    assert.equal(CLASS_OF_KIND[kind], sdk[className], `fallback of kind ${kind}`);
    assert.equal(errorForCode('code_from_the_future', 'm', { kind }).name, className);
  }
});

test('reauth_required carries reauthUrl; rate_limited carries retryAfterMs', () => {
  const reauth = gatewayError(409, { error: 'reauth_required', message: 'again', reauth_url: 'https://n/reauth/1' });
  assert.ok(reauth instanceof sdk.ReauthRequiredError);
  assert.equal(reauth.reauthUrl, 'https://n/reauth/1');
  const limited = gatewayError(429, { error: 'rate_limited', message: 'slow', retry_after: 7 });
  assert.ok(limited instanceof sdk.RateLimitedError);
  assert.equal(limited.retryAfterMs, 7000);
});

test('an unknown code stays a NexusError with the code the gateway sent', () => {
  const e = gatewayError(418, { error: 'brand_new_code', message: 'future' });
  assert.ok(e instanceof sdk.NexusError);
  assert.equal(e.code, 'brand_new_code');
  assert.equal(e.statusCode, 418);
});

test('a body that is not the protocol is an InvalidResponseError', () => {
  const e = gatewayError(502, '<html>bad gateway</html>');
  assert.ok(e instanceof sdk.InvalidResponseError);
  assert.equal(e.code, 'invalid_response');
  assert.equal(e.statusCode, 502);
});

test('strategy failures are StrategyErrors with the stable kinds, and never show the credential', () => {
  const request = { method: 'GET', url: 'https://api.example.com/', headers: [] };
  const cases = [
    [{ strategy: { type: 'magic' } }, 'unknown_strategy'],
    [{ strategy: { type: 'header', config: { header_name: 'Bad Header' } }, credentials: { api_key: 'k' } }, 'invalid_strategy_config'],
    [{ strategy: { type: 'oauth2' } }, 'missing_credential_field'],
    [{ strategy: { type: 'header' }, credentials: { api_key: 'sec\r\nret-value' } }, 'invalid_credential_value'],
  ];
  for (const [resolve, code] of cases) {
    let error;
    try {
      native.applyStrategy(JSON.stringify(resolve), request, '2026-11-24T12:00:00Z');
    } catch (e) {
      error = fromNative(e);
    }
    assert.ok(error instanceof sdk.StrategyError, `${code}: ${error}`);
    assert.equal(error.code, code);
    assert.ok(!error.message.includes('ret-value'), 'no credential in the message');
  }
});

test('bad client options are InvalidRequestErrors', () => {
  assert.throws(() => new sdk.NexusClient({ gatewayUrl: 'not a url', apiKey: 'k' }), sdk.InvalidRequestError);
  assert.throws(() => new sdk.NexusClient({ gatewayUrl: 'http://127.0.0.1:1', apiKey: '' }), sdk.InvalidRequestError);
  assert.throws(() => new sdk.NexusClient({ gatewayUrl: 'http://127.0.0.1:1', apiKey: 'a\nb' }), sdk.InvalidRequestError);
  const nexus = new sdk.NexusClient({ gatewayUrl: 'http://127.0.0.1:1', apiKey: 'k' });
  assert.throws(() => nexus.createFetcher({ workspaceId: '', provider: 'p' }), sdk.InvalidRequestError);
});

test('a throwing custom logger cannot break a call; errors still surface typed', async () => {
  const port = await closedPort();
  const calls = [];
  const logger = {
    debug: (m) => calls.push(m),
    info: () => {
      throw new Error('logger broke');
    },
    warn: () => {
      throw new Error('logger broke');
    },
    error: () => {
      throw new Error('logger broke');
    },
  };
  const nexus = new sdk.NexusClient({ gatewayUrl: `http://127.0.0.1:${port}`, apiKey: 'k', logger, retryPolicy: { maxRetries: 0 } });
  await assert.rejects(nexus.getToken('w', 'p'), sdk.TransportError);
});

test('nothing reaches stdout, even at the most verbose log level and on failures', async () => {
  const port = await closedPort();
  const script = `
    import * as sdk from ${JSON.stringify(path.join(PACKAGE_DIR, 'dist', 'index.mjs'))};
    const nexus = new sdk.NexusClient({ gatewayUrl: 'http://127.0.0.1:${port}', apiKey: 'k', retryPolicy: { maxRetries: 2, initialBackoffMs: 1 } });
    const fetcher = nexus.createFetcher({ workspaceId: 'w', provider: 'p' });
    for (const call of [() => fetcher('http://127.0.0.1:${port}/x'), () => nexus.getToken('w', 'p'), () => nexus.checkConnection('c')]) {
      try { await call(); } catch (e) { if (!(e instanceof sdk.NexusError)) throw e; }
    }
    sdk.consoleErrorLogger('debug').debug('to stderr', { n: 1 });
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, NEXUS_LOG: 'debug', RUST_LOG: 'trace' },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /\[nexus\] debug: to stderr \{"n":1\}/);
});
