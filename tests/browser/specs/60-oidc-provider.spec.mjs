// Interop with a real, certified OpenID provider (npm oidc-provider, tests/browser/oidc/server.mjs)
// in Chromium: connect through its own login and consent pages (PKCE, `iss`, an id_token the
// broker validates against its JWKS), use the token the gateway resolves at the provider's
// userinfo endpoint, refresh it with client_secret_basic, disconnect with RFC 7009 revocation
// (the provider drops the grant: no live refresh token, the access token stops working), and
// connect again afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { broker, connectLink, connections, gateway, openBrowser, redeem, resolve, screenshot } from '../lib/harness.mjs';

const oidc = process.env.NEXUS_OIDC_URL;
const apiKey = process.env.NEXUS_API_KEY;
const user = 'olivia';

/** The provider's own view of the grants: revocations seen and live refresh tokens per subject. */
async function providerStats() {
  return (await fetch(`${oidc}/_control/stats`)).json();
}

/** Userinfo with a bearer token: 200 + claims while the grant lives, 401 once it is revoked. */
async function userinfo(accessToken) {
  const res = await fetch(`${oidc}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
  return { status: res.status, body: res.status === 200 ? await res.json() : null };
}

/** The token the gateway resolves for the provider must be accepted by the provider itself. */
async function resolvedTokenWorks() {
  const resolved = await resolve('oidcprov');
  assert.equal(resolved.status, 200, JSON.stringify(resolved.body));
  const info = await userinfo(resolved.body.access_token);
  assert.equal(info.status, 200);
  assert.equal(info.body.sub, user);
  return resolved.body.access_token;
}

test('connect, use, refresh, disconnect with revocation and reconnect at oidc-provider', async () => {
  assert.ok(oidc, 'NEXUS_OIDC_URL is set by scripts/test.d/55-browser.sh');
  const { browser, page, evidence } = await openBrowser();
  try {
    await redeem(page, await connectLink({ providers: ['oidcprov'], user }));
    const listing = await page.reload();
    assert.ok(listing.headers()['content-security-policy'].includes(`form-action 'self' ${oidc}`));

    // The provider's development login, then its consent page.
    await page.getByRole('button', { name: 'Connect OIDC Provider' }).click();
    await page.waitForURL(`${oidc}/interaction/**`);
    await page.locator('input[name="login"]').fill(user);
    await page.locator('input[name="password"]').fill('any password');
    await screenshot(page, 'oidc-login');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.waitForURL(`${oidc}/interaction/**`);
    assert.equal(await page.locator('input[name="login"]').count(), 0, 'the consent page follows the login');
    await screenshot(page, 'oidc-consent');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(/\/connect\?provider=oidcprov&status=success/);
    assert.match(await page.getByRole('status').innerText(), /Connected to OIDC Provider\./);
    assert.match(await page.getByRole('row', { name: /OIDC Provider/ }).innerText(), /Connected/);
    await screenshot(page, 'oidc-connected');

    const active = (await connections()).filter(
      (c) => c.provider_name === 'oidcprov' && c.user_id === user && c.status === 'active',
    );
    assert.equal(active.length, 1);
    const { id } = active[0];
    assert.equal((await providerStats()).refresh_tokens[user], 1, 'the provider issued one refresh token');
    const first = await resolvedTokenWorks();

    // A forced refresh: the refresh_token grant with client_secret_basic at the provider.
    const refresh = await fetch(`${gateway}/v1/refresh/${id}`, {
      method: 'POST', headers: { authorization: `Bearer ${apiKey}` },
    });
    assert.equal(refresh.status, 200, await refresh.clone().text());
    const refreshed = (await refresh.json()).access_token;
    assert.notEqual(refreshed, first, 'the refresh brought a new access token');
    assert.equal((await userinfo(refreshed)).status, 200);
    // (resolve may go on serving the earlier token from the gateway's cache until it nears
    // expiry: the provider still accepts it, so that is not checked here.)
    await resolvedTokenWorks();

    // Disconnect: the broker revokes at the provider, which drops the whole grant.
    const before = await providerStats();
    await page.getByRole('link', { name: 'Disconnect OIDC Provider' }).click();
    await page.getByRole('button', { name: 'Disconnect' }).click();
    assert.match(await page.getByRole('status').innerText(), /Disconnected and revoked at OIDC Provider\./);
    await screenshot(page, 'oidc-disconnected');
    const after = await providerStats();
    assert.equal(after.grants_revoked, before.grants_revoked + 1);
    assert.equal(after.refresh_tokens[user], undefined, 'no live refresh token is left at the provider');
    assert.equal((await userinfo(refreshed)).status, 401, 'the access token died with the grant');
    assert.equal((await connections()).find((c) => c.id === id).status, 'revoked');
    // The gateway forgot the token too (the broker tells it through the revocation feed): an
    // agent gets no credential for a disconnected account.
    const gone = await resolve('oidcprov');
    assert.notEqual(gone.status, 200, `resolve after disconnect answered ${gone.status}`);
    assert.equal(gone.body.access_token, undefined);

    // Connect again: the provider still knows the browser (no login), but the grant is gone, so
    // it asks for consent again.
    await page.goto(`${broker}/connect`);
    await page.getByRole('button', { name: /Connect OIDC Provider/ }).click();
    await page.waitForURL(`${oidc}/interaction/**`);
    assert.equal(await page.locator('input[name="login"]').count(), 0);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(/\/connect\?provider=oidcprov&status=success/);
    assert.match(await page.getByRole('row', { name: /OIDC Provider/ }).innerText(), /Connected/);
    await screenshot(page, 'oidc-reconnected');
    assert.equal((await providerStats()).refresh_tokens[user], 1);
    await resolvedTokenWorks();

    assert.deepEqual(evidence.csp, []);
    assert.deepEqual(evidence.dialogs, []);
  } finally {
    await browser.close();
  }
});
