// The example MCP server (examples/ts-mcp) driven by the official MCP client over stdio.
//
// The official client skips stdout lines that are not JSON-RPC, which would hide exactly the
// bug this test exists for, so the transport here is our own: it spawns the server, keeps every
// raw stdout line, and hands the parsed messages to the official `Client`. Each scenario then
// checks that every line the server ever wrote to stdout is a JSON-RPC message.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';
import { closedPort, missing, REPO_ROOT, startHttpServer, startWorld } from './helpers.mjs';

const SERVER = path.join(REPO_ROOT, 'examples', 'ts-mcp', 'dist', 'server.js');

/** An MCP client transport over a child's stdio that records every raw stdout line. */
class RecordingStdioTransport {
  constructor(command, args, env) {
    this.command = command;
    this.args = args;
    this.env = env;
    this.rawLines = [];
    this.stderr = '';
  }

  async start() {
    this.child = spawn(this.command, this.args, { env: this.env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (chunk) => {
      this.stderr += chunk.toString('utf8');
    });
    this.child.on('error', (error) => this.onerror?.(error));
    this.child.on('exit', () => this.onclose?.());
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      this.rawLines.push(line);
      let message;
      try {
        message = JSONRPCMessageSchema.parse(JSON.parse(line));
      } catch (error) {
        this.onerror?.(error);
        return;
      }
      this.onmessage?.(message);
    });
  }

  async send(message) {
    this.child.stdin.write(`${JSON.stringify(message)}\n`);
  }

  async close() {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.stdin.end();
      this.child.kill('SIGTERM');
      await once(this.child, 'exit');
    }
  }
}

/** Start the example server with `env`, call `list_repos`, return the result and raw stdout. */
async function callListRepos(t, env) {
  const transport = new RecordingStdioTransport(process.execPath, [SERVER], {
    PATH: process.env.PATH ?? '',
    NEXUS_LOG: 'debug', // the SDK's most verbose level must still keep stdout clean
    ...env,
  });
  const client = new Client({ name: 'nexus-node-tests', version: '0.0.0' });
  t.after(() => transport.close());
  await client.connect(transport);
  const tools = await client.listTools();
  assert.deepEqual(
    tools.tools.map((tool) => tool.name),
    ['list_repos'],
  );
  const result = await client.callTool({ name: 'list_repos', arguments: {} });
  await client.close();
  await transport.close();
  return { result, rawLines: transport.rawLines, stderr: transport.stderr };
}

function assertOnlyJsonRpc(rawLines) {
  assert.ok(rawLines.length >= 3, 'initialize, tools/list and tools/call answers were read');
  for (const line of rawLines) {
    let parsed;
    assert.doesNotThrow(() => {
      parsed = JSON.parse(line);
    }, `stdout line is not JSON: ${JSON.stringify(line.slice(0, 200))}`);
    assert.equal(JSONRPCMessageSchema.safeParse(parsed).success, true, `not JSON-RPC: ${line.slice(0, 200)}`);
  }
}

function textOf(result) {
  return result.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
}

test('the example MCP server over stdio: success and every failure', async (t) => {
  if (!existsSync(SERVER)) return void missing(t, 'examples/ts-mcp/dist/server.js (npm run build there)');
  const world = await startWorld(t);
  if (!world) return;
  await world.stack.admin('POST', '/admin/v1/providers', {
    name: 'github-dead',
    auth_type: 'oauth2',
    client_id: world.oauth.client_id,
    client_secret: world.oauth.client_secret,
    auth_url: world.oauth.authorization_endpoint,
    token_url: world.oauth.token_endpoint,
  });
  const dead = await world.oauth.issue(['repo']);
  await world.stack.admin('POST', `/admin/v1/workspaces/${world.stack.workspaceId}/connections/import`, {
    provider_name: 'github-dead',
    kind: 'refresh_token',
    secret: dead.refresh_token,
  });

  const base = {
    NEXUS_GATEWAY_URL: world.stack.gatewayUrl,
    NEXUS_API_KEY: world.stack.apiKey,
    NEXUS_WORKSPACE_ID: world.stack.workspaceId,
    NEXUS_PROVIDER: 'github',
    GITHUB_API_BASE: world.echo.url,
  };

  await t.test('success: the tool lists repos with the injected token', async (t) => {
    const { result, rawLines } = await callListRepos(t, base);
    assert.equal(result.isError ?? false, false, textOf(result));
    const echoed = JSON.parse(textOf(result));
    assert.equal(echoed.path, '/user/repos');
    assert.equal(echoed.query.per_page, '10');
    assert.match(echoed.headers.authorization, /^Bearer \S+$/);
    assertOnlyJsonRpc(rawLines);
  });

  await t.test('gateway down', async (t) => {
    const port = await closedPort();
    const { result, rawLines } = await callListRepos(t, { ...base, NEXUS_GATEWAY_URL: `http://127.0.0.1:${port}` });
    assert.equal(result.isError, true);
    assert.match(textOf(result), /connection_error/);
    assertOnlyJsonRpc(rawLines);
  });

  await t.test('upstream 401 (after one refresh-and-retry)', async (t) => {
    await world.echo.require({ kind: 'header', name: 'authorization', value: 'Bearer never-issued' });
    t.after(() => world.echo.require({ kind: 'none' }));
    await world.echo.clear();
    const { result, rawLines } = await callListRepos(t, base);
    assert.equal(result.isError, true);
    assert.match(textOf(result), /HTTP 401/);
    const seen = await world.echo.requests();
    assert.deepEqual(
      seen.map((r) => r.status),
      [401, 401],
      'the fetcher retried exactly once',
    );
    assertOnlyJsonRpc(rawLines);
  });

  await t.test('upstream 500', async (t) => {
    const upstream = await startHttpServer(t, (req, res) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end('{"message":"boom"}');
    });
    const { result, rawLines } = await callListRepos(t, { ...base, GITHUB_API_BASE: upstream.url });
    assert.equal(result.isError, true);
    assert.match(textOf(result), /HTTP 500/);
    assertOnlyJsonRpc(rawLines);
  });

  await t.test('upstream garbage JSON', async (t) => {
    const upstream = await startHttpServer(t, (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('\u0000\u00ffnot json{{');
    });
    const { result, rawLines } = await callListRepos(t, { ...base, GITHUB_API_BASE: upstream.url });
    assert.equal(result.isError, true);
    assert.match(textOf(result), /not JSON/);
    assertOnlyJsonRpc(rawLines);
  });

  await t.test('unknown provider', async (t) => {
    const { result, rawLines } = await callListRepos(t, { ...base, NEXUS_PROVIDER: 'no-such-provider' });
    assert.equal(result.isError, true);
    assert.match(textOf(result), /(provider|connection)_not_found/);
    assertOnlyJsonRpc(rawLines);
  });

  await t.test('reauth_required', async (t) => {
    // The provider rejects the refresh token: the broker marks the connection needs_reauth.
    await world.oauth.injectFailures([{ kind: 'invalid_grant' }]);
    const { result, rawLines } = await callListRepos(t, { ...base, NEXUS_PROVIDER: 'github-dead' });
    assert.equal(result.isError, true);
    assert.match(textOf(result), /reauth_required/);
    assertOnlyJsonRpc(rawLines);
  });
});
