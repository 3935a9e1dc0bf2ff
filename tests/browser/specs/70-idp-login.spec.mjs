// Browser sign-in to Nexus through the workspace's identity provider (`nexus idp add
// --login-client-id nexus-login … --console-allow-group nexus-ops`, done by
// scripts/test.d/55-browser.sh), against the real OpenID provider (npm oidc-provider):
// (i) an MCP client's authorization request → login at the provider → consent → the client's
//     loopback redirect with `code` and `iss` → the code redeemed at /as/token;
// (ii) the operators' console: a member of `nexus-ops` gets in, anyone else gets a clear refusal;
// and the error pages: a callback with a forged state, a callback in another browser, consent
// denied at the provider.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import crypto from 'node:crypto';
import { admin, broker, brokerLog, openBrowser, screenshot } from '../lib/harness.mjs';

const oidc = process.env.NEXUS_OIDC_URL;
const RESOURCE = 'http://127.0.0.1:9/idp-login-mcp';

/** A loopback redirect target, as an MCP client runs one: records the query of each hit. */
async function loopbackClient() {
  const hits = [];
  const server = http.createServer((req, res) => {
    // Chromium may also ask for /favicon.ico: only the redirect counts.
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname === '/callback') hits.push(url);
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('You can close this window.');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const redirect = `http://127.0.0.1:${server.address().port}/callback`;
  return { hits, redirect, close: () => new Promise((r) => server.close(r)) };
}

/** The provider's development login and (when asked) its consent page. */
async function signInAtProvider(page, user, { consent = true } = {}) {
  await page.waitForURL(`${oidc}/interaction/**`);
  await page.locator('input[name="login"]').fill(user);
  await page.locator('input[name="password"]').fill('any password');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  if (consent) {
    await page.waitForURL(`${oidc}/interaction/**`);
    await page.getByRole('button', { name: 'Continue' }).click();
  }
}

async function idpId() {
  const res = await admin('GET', '/admin/v1/workspaces/dev/identity-providers');
  const idp = res.body.find((p) => p.issuer === oidc);
  assert.ok(idp, 'scripts/test.d/55-browser.sh added the OpenID provider');
  assert.equal(idp.login_client_id, 'nexus-login');
  assert.deepEqual(idp.console.groups, ['nexus-ops']);
  assert.equal(JSON.stringify(res.body).includes('login_client_secret'), false, 'the secret is never listed');
  return idp.id;
}

test('an MCP authorization request logs in through the identity provider', async () => {
  await idpId();
  const added = await admin('POST', '/admin/v1/workspaces/dev/mcp-resources', {
    resource_uri: RESOURCE, name: 'IdP login notes', scopes: ['notes:read'],
  });
  assert.equal(added.status, 201, JSON.stringify(added.body));
  const client = await loopbackClient();
  const { browser, page, evidence } = await openBrowser();
  try {
    const registered = await fetch(`${broker}/as/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        redirect_uris: [client.redirect], token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code'], client_name: 'Browser MCP client',
      }),
    });
    assert.equal(registered.status, 201);
    const clientId = (await registered.json()).client_id;
    // What an MCP client sends (PKCE S256, RFC 8707 resource, state).
    const verifier = crypto.randomBytes(32).toString('base64url');
    const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
    const state = crypto.randomBytes(16).toString('base64url');
    const authorize = new URL(`${broker}/as/authorize`);
    for (const [k, v] of Object.entries({
      response_type: 'code', client_id: clientId, redirect_uri: client.redirect, code_challenge: challenge,
      code_challenge_method: 'S256', resource: RESOURCE, scope: 'notes:read', state,
    })) authorize.searchParams.set(k, v);

    await page.goto(authorize.href);
    // `nexus dev` has its development login too, so the page offers both.
    await page.waitForURL(`${broker}/as/login?**`);
    await screenshot(page, 'idp-login-as-chooser');
    await page.getByRole('link', { name: `Log in with ${oidc}` }).click();
    await signInAtProvider(page, 'alice');
    await page.waitForURL(`${broker}/as/consent?**`);
    assert.match(await page.locator('body').innerText(), /Browser MCP client[\s\S]*IdP login notes/);
    await screenshot(page, 'idp-login-as-consent');
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL(`${client.redirect}?**`);

    assert.equal(client.hits.length, 1);
    const back = client.hits[0].searchParams;
    assert.equal(back.get('state'), state);
    assert.equal(back.get('iss'), broker);
    const tokens = await fetch(`${broker}/as/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code', code: back.get('code'), redirect_uri: client.redirect,
        code_verifier: verifier, client_id: clientId, resource: RESOURCE,
      }),
    });
    const answer = await tokens.json();
    assert.equal(tokens.status, 200, JSON.stringify(answer));
    assert.equal(answer.token_type, 'Bearer');
    assert.equal(answer.scope, 'notes:read');
    const claims = JSON.parse(Buffer.from(answer.access_token.split('.')[1], 'base64url'));
    assert.equal(claims.aud, RESOURCE);
    assert.match(claims.sub, /^usr_/);

    // No secret of the sign-in in any URL the browser saw, nor in the broker's log.
    const log = brokerLog();
    for (const url of evidence.urls) assert.ok(!url.includes(back.get('code')) || url.startsWith(client.redirect), url);
    assert.ok(!log.includes(back.get('code')));
    assert.deepEqual(evidence.csp, []);
  } finally {
    await browser.close();
    await client.close();
  }
});

test('console sign-in through the identity provider: an operator gets in, others are refused', async () => {
  const id = await idpId();
  {
    const { browser, page, evidence } = await openBrowser();
    try {
      await page.goto(`${broker}/console/login`);
      await screenshot(page, 'idp-login-console-page');
      await page.getByRole('link', { name: `Sign in with ${oidc}` }).click();
      await signInAtProvider(page, 'ops');
      await page.waitForURL(`${broker}/console/connections`);
      assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Connections');
      await screenshot(page, 'idp-login-console-ops');
      assert.deepEqual(evidence.csp, []);
    } finally {
      await browser.close();
    }
  }
  {
    const { browser, page } = await openBrowser();
    try {
      await page.goto(`${broker}/console/login/idp/${id}`);
      await signInAtProvider(page, 'bob');
      await page.waitForURL(`${broker}/console/login/callback?**`);
      assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Not an operator');
      assert.match(await page.locator('main').innerText(), /not_an_operator/);
      await screenshot(page, 'idp-login-console-refused');
      // No console session came with the refusal.
      const after = await page.goto(`${broker}/console/connections`);
      assert.equal(after.status(), 401);
    } finally {
      await browser.close();
    }
  }
  const audit = await admin('GET', '/admin/v1/audit?workspace_id=dev&limit=1000');
  const outcomes = audit.body.filter((r) => r.action === 'console.login').map((r) => `${r.principal} ${r.outcome}`);
  assert.ok(outcomes.includes(`idp:${id}:ops ok`), JSON.stringify(outcomes));
  assert.ok(outcomes.includes(`idp:${id}:bob denied`), JSON.stringify(outcomes));
});

test('sign-in errors are clear pages', async () => {
  const id = await idpId();
  const { browser, context, page } = await openBrowser();
  try {
    // A callback nobody started.
    const forged = await page.goto(`${broker}/console/login/callback?state=forged&code=x&iss=${encodeURIComponent(oidc)}`);
    assert.equal(forged.status(), 400);
    assert.match(await page.locator('main').innerText(), /state mismatch/);
    await screenshot(page, 'idp-login-state-mismatch');

    // A callback in another browser than the one that started the sign-in (login CSRF).
    await page.goto(`${broker}/console/login/idp/${id}`);
    await page.waitForURL(`${oidc}/interaction/**`);
    await context.clearCookies({ name: 'nexus_console_login' });
    await page.locator('input[name="login"]').fill('ops');
    await page.locator('input[name="password"]').fill('any password');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.waitForURL(`${oidc}/interaction/**`);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(`${broker}/console/login/callback?**`);
    assert.match(await page.locator('main').innerText(), /not started in this browser/);
    assert.equal((await page.goto(`${broker}/console/connections`)).status(), 401);

  } finally {
    await browser.close();
  }
  // Sign-in cancelled at the provider (a fresh browser: the provider remembers the last one).
  const fresh = await openBrowser();
  try {
    await fresh.page.goto(`${broker}/console/login/idp/${id}`);
    await fresh.page.waitForURL(`${oidc}/interaction/**`);
    await screenshot(fresh.page, 'idp-login-provider-login');
    await fresh.page.getByRole('link', { name: /Cancel/ }).click();
    await fresh.page.waitForURL(`${broker}/console/login/callback?**`);
    assert.match(await fresh.page.locator('main').innerText(), /cancelled or refused at the identity provider \(access_denied\)/);
    await screenshot(fresh.page, 'idp-login-denied');
  } finally {
    await fresh.browser.close();
  }
});
