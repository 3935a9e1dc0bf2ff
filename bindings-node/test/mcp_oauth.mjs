// The official TypeScript MCP client's OAuth, answered like a person would over HTTP (the
// development login and the consent page of `nexus dev`): shared by the remote MCP server tests.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { REPO_ROOT, missing, startStack } from './helpers.mjs';

const EXAMPLE = path.join(REPO_ROOT, 'examples', 'ts-mcp-remote', 'dist', 'server.js');

export const REDIRECT = 'http://127.0.0.1:33334/callback';

export function hidden(page, name) {
  const found = new RegExp(`name="${name}" value="([^"]*)"`).exec(page);
  assert.ok(found, `no ${name} field in ${page}`);
  return found[1].replaceAll('&amp;', '&').replaceAll('&quot;', '"').replaceAll('&#x27;', "'");
}

/** Answers an authorization URL like a person: development login as `username`, then Allow. */
export async function walk(stack, url, username = 'alice') {
  const origin = { origin: stack.brokerUrl };
  const form = (fields) => new URLSearchParams(fields).toString();
  const formHeaders = { 'content-type': 'application/x-www-form-urlencoded', ...origin };
  const start = await fetch(url, { redirect: 'manual' });
  assert.equal(start.status, 303, await start.text());
  const login = await (await fetch(new URL(start.headers.get('location'), stack.brokerUrl))).text();
  const request = hidden(login, 'request');
  const password = stack.devLoginPassword;
  const loggedIn = await fetch(`${stack.brokerUrl}/as/login/dev`, {
    method: 'POST',
    redirect: 'manual',
    headers: formHeaders,
    body: form({ request, csrf: hidden(login, 'csrf'), username, password }),
  });
  assert.equal(loggedIn.status, 303, await loggedIn.text());
  const cookie = loggedIn.headers.get('set-cookie').split(';', 1)[0];
  const consentUrl = new URL(loggedIn.headers.get('location'), stack.brokerUrl);
  const allow = (consent) => {
    assert.match(consent, />Allow</);
    return fetch(`${stack.brokerUrl}/as/consent`, {
      method: 'POST',
      redirect: 'manual',
      headers: { ...formHeaders, cookie },
      body: form({ request, csrf: hidden(consent, 'csrf'), decision: 'allow' }),
    });
  };
  const consentPage = await fetch(consentUrl, { redirect: 'manual', headers: { cookie } });
  // Consent already given for these scopes: the broker sends the browser straight back.
  const back = consentPage.status === 303 ? consentPage : await allow(await consentPage.text());
  assert.equal(back.status, 303, await back.text());
  const location = new URL(back.headers.get('location'));
  assert.equal(`${location.origin}${location.pathname}`, REDIRECT);
  assert.equal(location.searchParams.get('iss'), stack.brokerUrl, 'RFC 9207 iss');
  return location.searchParams.get('code');
}

/**
 * The SDK's `OAuthClientProvider`, storing what it is given unchanged.
 *
 * `grantTypes` is what it registers with (default: no `refresh_token`, see mcp_remote.test.mjs);
 * `clientMetadataUrl` makes its client id a Client ID Metadata Document instead of a registration.
 */
export class Provider {
  constructor(stack, username = 'alice', { grantTypes = ['authorization_code'], clientMetadataUrl } = {}) {
    this.stack = stack;
    this.username = username;
    this.grantTypes = grantTypes;
    if (clientMetadataUrl !== undefined) this.clientMetadataUrl = clientMetadataUrl;
    this.visits = 0;
    this.client = undefined;
    this.stored = undefined;
    this.verifier = undefined;
    this.pending = undefined;
    this.invalidated = [];
    this.authorizationUrls = [];
  }
  get redirectUrl() {
    return REDIRECT;
  }
  get clientMetadata() {
    return {
      client_name: 'ts remote e2e',
      redirect_uris: [REDIRECT],
      grant_types: this.grantTypes,
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  clientInformation() {
    return this.client;
  }
  saveClientInformation(info) {
    this.client = info;
  }
  tokens() {
    return this.stored;
  }
  saveTokens(tokens) {
    this.stored = tokens;
  }
  redirectToAuthorization(url) {
    this.visits += 1;
    this.authorizationUrls.push(new URL(url));
    this.pending = walk(this.stack, url, this.username);
    // Awaited by whoever finishes the authorization; marked handled so that a refused walk
    // fails that await instead of the whole process (unhandled rejection).
    this.pending.catch(() => {});
  }
  saveCodeVerifier(verifier) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
  /** What the SDK asks to forget after `invalid_grant` / `invalid_client` (as a real store would). */
  invalidateCredentials(scope) {
    this.invalidated.push(scope);
    if (scope === 'all' || scope === 'client') this.client = undefined;
    if (scope === 'all' || scope === 'tokens') this.stored = undefined;
    if (scope === 'all' || scope === 'verifier') this.verifier = undefined;
  }
}

/**
 * fetch that records the status and headers of every answer from the MCP endpoint. Not a
 * `response.clone()`: the SDK cancels the body of a 202, and cancelling one branch of a teed
 * body waits for the other branch, so an unread clone hangs the client.
 */
export function recordingFetch(answers, resource) {
  return async (input, init) => {
    const response = await fetch(input, init);
    if (String(input instanceof Request ? input.url : input) === resource) {
      answers.push({ status: response.status, headers: response.headers });
    }
    return response;
  };
}

/**
 * fetch that logs every request the SDK makes (MCP and OAuth alike): its URL, the bearer token
 * it carried, the `grant_type` of a token request, and the answer's status. Bodies untouched.
 */
export function tracingFetch(log) {
  return async (input, init = {}) => {
    const url = String(input instanceof Request ? input.url : input);
    const headers = new Headers(init.headers);
    const form = init.body instanceof URLSearchParams ? init.body : undefined;
    const response = await fetch(input, init);
    log.push({
      url,
      method: init.method ?? (input instanceof Request ? input.method : 'GET'),
      status: response.status,
      bearer: headers.get('authorization')?.replace(/^Bearer /, ''),
      grantType: form?.get('grant_type') ?? undefined,
    });
    return response;
  };
}

/** Run `step` on a connected client; on `UnauthorizedError` finish the authorization and retry. */
export async function withAuth(provider, transport, step) {
  try {
    return await step();
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) throw error;
    await transport.finishAuth(await provider.pending);
    return step();
  }
}

export async function connect(resource, provider, answers, fetchFn = recordingFetch(answers, resource)) {
  const options = { authProvider: provider, fetch: fetchFn };
  let transport = new StreamableHTTPClientTransport(new URL(resource), options);
  let client = new Client({ name: 'ts-remote-e2e', version: '0.0.0' });
  try {
    await client.connect(transport);
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) throw error;
    await transport.finishAuth(await provider.pending);
    transport = new StreamableHTTPClientTransport(new URL(resource), options);
    client = new Client({ name: 'ts-remote-e2e', version: '0.0.0' });
    await client.connect(transport);
  }
  return { client, transport };
}

export async function serve(t, stack, resourcePath, upstream = {}) {
  const { createNotesServer } = await import(pathToFileURL(EXAMPLE).href);
  const { createServer } = await import('node:http');
  // Bind first to learn the port (the resource URL contains it), then serve the example there.
  const probe = createServer();
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = probe.address().port;
  await new Promise((resolve) => probe.close(resolve));
  const resource = `http://127.0.0.1:${port}${resourcePath}`;
  await stack.admin('POST', `/admin/v1/workspaces/${stack.workspaceId}/mcp-resources`, {
    resource_uri: resource,
    name: 'Notes',
    scopes: ['notes:read', 'notes:write', 'repos:read'],
  });
  const server = createNotesServer(resource, stack.brokerUrl, upstream);
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return resource;
}

export async function setUp(t, options = {}) {
  if (!existsSync(EXAMPLE)) return void missing(t, 'examples/ts-mcp-remote/dist/server.js (npm run build there)');
  const stack = await startStack(t, options);
  if (stack === undefined) return void missing(t, 'the nexus binary (cargo build -p nexus-cli)');
  stack.brokerUrl = stack.brokerUrl.replace(/\/+$/, '');
  return stack;
}
