// A Client ID Metadata Document (CIMD) client id through the official TypeScript MCP client's
// own OAuth (`@modelcontextprotocol/sdk` 1.32.2, `OAuthClientProvider.clientMetadataUrl`)
// against `nexus dev` (design 17 §2.6, §7 case 1); the Python twin is
// bindings-python/tests/test_mcp_cimd_stack.py.
//
// The SDK uses the URL as its client id only when it is https (and the authorization server's
// metadata says `client_id_metadata_document_supported`), so the documents are served over TLS
// on loopback with a certificate of a throwaway CA made here with `openssl`. The broker trusts
// that CA through `SSL_CERT_FILE`, set for this file's `nexus dev` only; `nexus dev` allows
// loopback documents because its issuer is loopback.
//
// - A good document: no registration, the broker fetched the document, the authorization and
//   token carry the URL as the client, and the tool sees it as the caller's client.
// - Malformed, oversized and slow documents, and redirect URI tricks: the authorization URL the
//   SDK hands to the browser answers an error page naming the reason, and redirects nowhere.
// - An http URL: the SDK itself refuses it before anything reaches Nexus.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { REDIRECT, Provider, connect, serve, setUp, tracingFetch } from './mcp_oauth.mjs';

/** A CA and a leaf for 127.0.0.1 signed by it (EC P-256, one day), in `dir`. */
function certificates(dir) {
  const file = (name) => path.join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const run = (args) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  run(['req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '1',
    '-subj', '/CN=nexus test CA', '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  run(['req', ...ec, '-keyout', file('leaf.key'), '-out', file('leaf.csr'), '-subj', '/CN=127.0.0.1']);
  writeFileSync(file('leaf.ext'), [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1',
  ].join('\n'));
  run(['x509', '-req', '-in', file('leaf.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'),
    '-CAcreateserial', '-out', file('leaf.pem'), '-days', '1', '-extfile', file('leaf.ext')]);
  return { caFile: file('ca.pem'), key: readFileSync(file('leaf.key')), cert: readFileSync(file('leaf.pem')) };
}

/** An https server on 127.0.0.1 publishing client metadata documents by path; counts the GETs. */
async function startDocuments(t, dir) {
  const { caFile, key, cert } = certificates(dir);
  const documents = new Map();
  const fetches = new Map();
  const hanging = new Set();
  const server = createServer({ key, cert }, (req, res) => {
    const document = documents.get(req.url);
    fetches.set(req.url, (fetches.get(req.url) ?? 0) + 1);
    const body = JSON.stringify(document ?? {});
    res.writeHead(document === undefined ? 404 : 200, { 'content-type': 'application/json' });
    // A slow server: the headers and the first byte, then nothing (until the test ends).
    if (hanging.has(req.url)) res.write(body.slice(0, 1));
    else res.end(body);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  const origin = `https://127.0.0.1:${server.address().port}`;
  return {
    caFile,
    /** Publish `document(url)` at `pathname`; returns the URL (the client id). */
    publish(pathname, document, { hang = false } = {}) {
      const url = `${origin}${pathname}`;
      documents.set(pathname, document(url));
      if (hang) hanging.add(pathname);
      return url;
    },
    fetches: (url) => fetches.get(new URL(url).pathname) ?? 0,
  };
}

const documentFor = (name) => (url) => ({
  client_id: url,
  client_name: name,
  redirect_uris: [REDIRECT],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'none',
});

/**
 * A provider that only records the authorization URL the SDK would open in a browser;
 * `redirectUrl` (default the registered one) is where it asks to be sent back.
 */
class Recorder extends Provider {
  constructor(stack, options = {}) {
    super(stack, 'alice', options);
    this.returnTo = options.redirectUrl ?? REDIRECT;
  }
  get redirectUrl() {
    return this.returnTo;
  }
  redirectToAuthorization(url) {
    this.visits += 1;
    this.authorizationUrl = url;
  }
}

test('CIMD client id with the official TypeScript client OAuth', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nexus-cimd-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const docs = await startDocuments(t, dir);
  const stack = await setUp(t, { env: { SSL_CERT_FILE: docs.caFile } });
  if (stack === undefined) return;
  const resource = await serve(t, stack, '/mcp');

  await t.test('the document URL is the client: no registration, consent, token, tool', async () => {
    const url = docs.publish('/clients/notes.json', documentFor('ts cimd e2e'));
    const log = [];
    const provider = new Provider(stack, 'alice', { clientMetadataUrl: url });
    const { client } = await connect(resource, provider, [], tracingFetch(log));
    const whoami = await client.callTool({ name: 'whoami', arguments: {} });
    await client.close();
    const [subject, workspace, clientId] = whoami.content[0].text.split(' ');
    assert.match(subject, /^usr_/);
    assert.equal(workspace, stack.workspaceId);
    assert.equal(clientId, url, 'the token names the document URL as its client');
    assert.equal(provider.client.client_id, url);
    assert.deepEqual(log.filter((r) => r.url.endsWith('/as/register')), [], 'no dynamic registration');
    assert.ok(docs.fetches(url) >= 1, 'the broker fetched the document');
    assert.equal(provider.visits, 1);
    const claims = JSON.parse(Buffer.from(provider.stored.access_token.split('.')[1], 'base64url'));
    assert.equal(claims.client_id, url);
    assert.equal(claims.aud, resource);
    assert.match(provider.stored.refresh_token, /^nxr_/, 'the document asked for refresh_token');
  });

  // Bad documents and a redirect URI the document does not list, each as the SDK sends it: the
  // authorization URL it hands to the browser answers an error page that names the reason, and
  // redirects nowhere (a client that cannot be trusted gets no code and no error redirect).
  const good = documentFor('ts cimd e2e');
  const notRegistered = 'redirect_uri is not one of the client';
  const cases = [
    ['a malformed document (client_id is not its URL)', 'mismatch',
      (own) => ({ ...good(own), client_id: `${own}.x` }), {}, 'cimd_client_id_mismatch'],
    ['a document without client_name', 'noname',
      (own) => ({ ...good(own), client_name: undefined }), {}, 'cimd_field_invalid:client_name'],
    ['an oversized document (over 5 KiB)', 'big',
      (own) => ({ ...good(own), padding: 'x'.repeat(6 * 1024) }), {}, 'cimd_too_large'],
    ['a slow document server (first byte, then nothing)', 'slow', good, { hang: true }, 'cimd_timeout'],
    ['a redirect URI one slash longer than the registered one', 'slash', good,
      { redirectUrl: `${REDIRECT}/` }, notRegistered],
    ['a redirect URI on another loopback port', 'port', good,
      { redirectUrl: REDIRECT.replace(':33334', ':33335') }, notRegistered],
  ];
  for (const [what, name, document, options, reason] of cases) {
    await t.test(`${what}: an error page naming ${reason}, no redirect`, async () => {
      const url = docs.publish(`/clients/${name}.json`, document, options);
      const provider = new Recorder(stack, { clientMetadataUrl: url, ...options });
      const client = new Client({ name: 'ts-cimd-e2e', version: '0.0.0' });
      const transport = new StreamableHTTPClientTransport(new URL(resource), { authProvider: provider });
      await assert.rejects(client.connect(transport), UnauthorizedError);
      assert.equal(provider.visits, 1);
      const asked = new URL(provider.authorizationUrl);
      assert.equal(asked.searchParams.get('client_id'), url);
      assert.equal(asked.searchParams.get('redirect_uri'), provider.redirectUrl);
      const page = await fetch(asked, { redirect: 'manual' });
      const body = await page.text();
      assert.equal(page.status, 400, body);
      assert.equal(page.headers.get('location'), null, 'never sent to a redirect URI it cannot trust');
      assert.ok(body.includes(reason), `expected ${reason} in ${body}`);
      assert.ok(docs.fetches(url) >= 1, 'the broker asked the document server');
    });
  }

  await t.test('an http document URL is refused by the SDK before any request to Nexus', async () => {
    const log = [];
    const plain = `http://127.0.0.1:9/clients/notes.json`;
    const provider = new Recorder(stack, { clientMetadataUrl: plain });
    const client = new Client({ name: 'ts-cimd-e2e', version: '0.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(resource), {
      authProvider: provider,
      fetch: tracingFetch(log),
    });
    await assert.rejects(client.connect(transport), /clientMetadataUrl must be a valid HTTPS URL/);
    assert.equal(provider.visits, 0);
    assert.deepEqual(log.filter((r) => r.url.startsWith(`${stack.brokerUrl}/as/`)), []);
  });
});
