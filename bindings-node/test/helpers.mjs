// Shared helpers of the Node test suite: paths, the built package, loopback servers, and the
// real Nexus stack (`nexus dev`) with its admin API.
//
// Everything listens on 127.0.0.1 with port 0 and reports the real port back; every child
// process is killed when its test ends; waits are on conditions with deadlines, never fixed
// sleeps.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = path.resolve(PACKAGE_DIR, '..');

/** True when the suite runs in CI, where a missing stack is a failure, not a skip. */
export const REQUIRE_STACK = process.env.NEXUS_REQUIRE_STACK === '1';

/** A binary of the workspace: `$ENV_NAME`, else `$CARGO_TARGET_DIR/debug`, else target/debug. */
export function workspaceBinary(name, envName) {
  const fromEnv = process.env[envName];
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : undefined;
  const candidates = [path.join(REPO_ROOT, 'target', 'debug', name)];
  if (process.env.CARGO_TARGET_DIR) candidates.unshift(path.join(process.env.CARGO_TARGET_DIR, 'debug', name));
  return candidates.find((p) => existsSync(p));
}

/**
 * Skip the test (or fail it under NEXUS_REQUIRE_STACK=1) when a prerequisite is missing.
 * Returns true when the caller should return.
 */
export function missing(t, what) {
  if (REQUIRE_STACK) throw new Error(`${what} is missing and NEXUS_REQUIRE_STACK=1`);
  t.skip(`${what} is missing (set NEXUS_REQUIRE_STACK=1 to make this a failure)`);
  return true;
}

/** Wait for `predicate()` to be truthy, polling with a deadline. */
export async function waitFor(predicate, { timeoutMs = 30_000, intervalMs = 25, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Start a child process; it is killed when the test ends. Collects stderr for diagnostics. */
export function startProcess(t, command, args, options = {}) {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], ...options });
  const stderr = [];
  child.stderr.on('data', (chunk) => stderr.push(chunk));
  t.after(() => stopProcess(child));
  child.stderrText = () => Buffer.concat(stderr).toString('utf8');
  return child;
}

/**
 * Stop a child: close its stdin (the testkit stops on EOF), SIGTERM, and SIGKILL if it has not
 * exited within 10 s, so a stuck child can never hang the suite.
 */
export async function stopProcess(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.stdin?.end();
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Read the first stdout line of a child as JSON (the testkit's `{"url": …}` announcement). */
export async function firstJsonLine(child, timeoutMs = 30_000) {
  const lines = createInterface({ input: child.stdout });
  const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
  try {
    for await (const line of lines) {
      if (line.trim() !== '') return JSON.parse(line);
    }
  } finally {
    clearTimeout(timer);
  }
  throw new Error(`process exited before announcing itself: ${child.stderrText()}`);
}

/** A loopback HTTP server for the duration of the test; `handler(req, res)` as in node:http. */
export async function startHttpServer(t, handler) {
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    // Drop kept-alive and deliberately hanging connections, or close() would wait for them.
    const closed = new Promise((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    return closed;
  });
  const { port } = server.address();
  return { server, url: `http://127.0.0.1:${port}` };
}

/** A port that nothing listens on (bound, then released). */
export async function closedPort() {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  await new Promise((resolve) => server.close(() => resolve()));
  return port;
}

/** The testkit echo upstream (`nexus-testkit echo`), or undefined when the binary is missing. */
export async function startEcho(t) {
  const bin = workspaceBinary('nexus-testkit', 'NEXUS_TESTKIT_BIN');
  if (bin === undefined) return undefined;
  const child = startProcess(t, bin, ['echo']);
  const announced = await firstJsonLine(child);
  const url = announced.url;
  return {
    url,
    async require(requirement) {
      await expectOk(await fetch(`${url}/_control/require`, jsonPost(requirement)));
    },
    async requests() {
      const r = await fetch(`${url}/_control/requests`);
      await expectOk(r);
      return r.json();
    },
    async clear() {
      await expectOk(await fetch(`${url}/_control/requests`, { method: 'DELETE' }));
    },
  };
}

/** The real stack (`nexus dev` on ports 0 in a temp home), or undefined when it is not built. */
/** Start `nexus dev`; `env` adds variables to its environment (e.g. `SSL_CERT_FILE`). */
export async function startStack(t, { env: extraEnv = {} } = {}) {
  const bin = workspaceBinary('nexus', 'NEXUS_BIN');
  if (bin === undefined) return undefined;
  const home = mkdtempSync(path.join(tmpdir(), 'nexus-node-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const child = startProcess(
    t,
    bin,
    ['dev', '--home', home, '--gateway-addr', '127.0.0.1:0', '--broker-addr', '127.0.0.1:0'],
    { env: { ...process.env, NEXUS_LOG: process.env.NEXUS_LOG ?? 'warn', ...extraEnv } },
  );
  const envFile = path.join(home, 'dev.env');
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`nexus dev exited (${child.exitCode}): ${child.stderrText()}`);
      return existsSync(envFile);
    },
    { timeoutMs: 60_000, what: 'nexus dev to write dev.env' },
  );
  const env = parseEnvFile(readFileSync(envFile, 'utf8'));
  return {
    process: child,
    home,
    gatewayUrl: env.NEXUS_GATEWAY_URL,
    brokerUrl: env.NEXUS_BROKER_URL,
    adminToken: env.NEXUS_ADMIN_TOKEN,
    apiKey: env.NEXUS_API_KEY,
    workspaceId: env.NEXUS_WORKSPACE_ID,
    /** The development login's password (the authorization server's `/as/login/dev`). */
    devLoginPassword: env.NEXUS_DEV_LOGIN_PASSWORD,
    /** Call the broker admin API; returns the parsed JSON body, throws on non-2xx. */
    async admin(method, pathname, body) {
      const r = await fetch(`${env.NEXUS_BROKER_URL}${pathname}`, {
        method,
        headers: { authorization: `Bearer ${env.NEXUS_ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await r.text();
      if (!r.ok) throw new Error(`admin ${method} ${pathname} → ${r.status}: ${text}`);
      return text === '' ? undefined : JSON.parse(text);
    },
  };
}

export function parseEnvFile(text) {
  const env = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq > 0) env[line.slice(0, eq).replace(/^export /, '')] = line.slice(eq + 1);
  }
  return env;
}

export function jsonPost(body) {
  return { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

async function expectOk(response) {
  if (!response.ok) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
}

/** The testkit OAuth provider (`nexus-testkit oauth`), or undefined when the binary is missing. */
export async function startOAuth(t) {
  const bin = workspaceBinary('nexus-testkit', 'NEXUS_TESTKIT_BIN');
  if (bin === undefined) return undefined;
  const child = startProcess(t, bin, ['oauth']);
  const info = await firstJsonLine(child);
  const control = async (method, pathname, body) => {
    const r = await fetch(`${info.url}${pathname}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    await expectOk(r);
    const text = await r.text();
    return text === '' ? undefined : JSON.parse(text);
  };
  return {
    ...info,
    /** Tokens minted without the authorize step: `{access_token, refresh_token, …}`. */
    issue: (scopes) => control('POST', '/_control/issue', { scopes }),
    injectFailures: (failures) => control('POST', '/_control/failures', failures),
    stats: () => control('GET', '/_control/stats'),
  };
}

/**
 * The whole world of an end-to-end test: the real stack, the echo upstream, the OAuth provider,
 * and two providers in the dev workspace:
 * - `github`: oauth2 at the testkit provider, API base = the echo server, a connection imported
 *   from a refresh token (the first resolve refreshes at the provider);
 * - `static-key`: an `api_key` provider (`Authorization: Bearer k-static-1`).
 * Returns undefined (after skipping or failing `t`) when a binary is missing.
 */
export async function startWorld(t, { apiBaseUrl } = {}) {
  const stack = await startStack(t);
  if (stack === undefined) return void missing(t, 'the nexus binary (cargo build -p nexus-cli)');
  const echo = await startEcho(t);
  const oauth = await startOAuth(t);
  if (echo === undefined || oauth === undefined) return void missing(t, 'nexus-testkit (cargo build -p nexus-testkit)');

  await stack.admin('POST', '/admin/v1/providers', {
    name: 'github',
    auth_type: 'oauth2',
    client_id: oauth.client_id,
    client_secret: oauth.client_secret,
    auth_url: oauth.authorization_endpoint,
    token_url: oauth.token_endpoint,
    api_base_url: apiBaseUrl ?? echo.url,
    scopes: ['repo'],
  });
  const tokens = await oauth.issue(['repo']);
  await stack.admin('POST', `/admin/v1/workspaces/${stack.workspaceId}/connections/import`, {
    provider_name: 'github',
    kind: 'refresh_token',
    secret: tokens.refresh_token,
  });
  await stack.admin('POST', '/admin/v1/providers', { name: 'static-key', auth_type: 'api_key' });
  await stack.admin('POST', `/admin/v1/workspaces/${stack.workspaceId}/connections/import`, {
    provider_name: 'static-key',
    kind: 'api_key',
    secret: 'k-static-1',
  });
  return { stack, echo, oauth };
}

/** The package as a user loads it (`require('@dromos/nexus-sdk')` resolves to this). */
export async function loadSdk() {
  return import(pathToFileURL(path.join(PACKAGE_DIR, 'dist', 'index.mjs')).href);
}
