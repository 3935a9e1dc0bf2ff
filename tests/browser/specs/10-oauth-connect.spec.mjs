// Connect an OAuth provider end to end in Chromium (signed link → interstitial → connect page →
// the provider's authorize endpoint → callback → back on the page), reconnect after the grant
// was revoked at the provider, then disconnect with RFC 7009 revocation, and disconnect a
// provider that has no revocation endpoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  broker, brokerLog, gateway, oauth, connectLink, connections, oauthStats, openBrowser, redeem, screenshot,
} from '../lib/harness.mjs';

const apiKey = process.env.NEXUS_API_KEY;

test('connect, reconnect and disconnect an OAuth provider', async () => {
  const { browser, page, evidence } = await openBrowser();
  try {
    const link = await connectLink({ providers: ['testidp', 'norevoke'], user: 'alice' });
    const linkToken = link.split('/connect/l/')[1];
    const interstitial = await page.goto(link);
    assert.equal(interstitial.status(), 200);
    await screenshot(page, 'interstitial');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(`${broker}/connect`);

    const listing = await page.reload();
    const headers = listing.headers();
    assert.match(headers['content-security-policy'], /script-src 'self';/);
    assert.match(headers['content-security-policy'], /frame-ancestors 'none'/);
    assert.ok(headers['content-security-policy'].includes(`form-action 'self' ${oauth}`));
    assert.equal(headers['x-frame-options'], 'DENY');
    assert.equal(headers['cache-control'], 'no-store');
    await screenshot(page, 'connect-page');

    await page.getByRole('button', { name: 'Connect Test IdP' }).click();
    await page.waitForURL(/\/connect\?provider=testidp&status=success/);
    assert.match(await page.getByRole('status').innerText(), /Connected to Test IdP\./);
    assert.match(await page.getByRole('row', { name: /Test IdP/ }).innerText(), /Connected/);
    await screenshot(page, 'connected');

    const mine = (await connections()).filter((c) => c.provider_name === 'testidp' && c.user_id === 'alice');
    assert.equal(mine.filter((c) => c.status === 'active').length, 1);
    const id = mine.find((c) => c.status === 'active').id;

    // The grant dies at the provider; the next refresh marks the connection needs_reauth.
    await fetch(`${oauth}/_control/revoke-all`, { method: 'POST' });
    const refresh = await fetch(`${gateway}/v1/refresh/${id}`, {
      method: 'POST', headers: { authorization: `Bearer ${apiKey}` },
    });
    assert.equal(refresh.status, 409);
    await page.goto(`${broker}/connect`);
    assert.match(await page.getByRole('row', { name: /Test IdP/ }).innerText(), /Needs reconnect/);
    await screenshot(page, 'needs-reconnect');
    await page.getByRole('button', { name: 'Reconnect Test IdP' }).click();
    await page.waitForURL(/\/connect\?provider=testidp&status=success/);
    assert.match(await page.getByRole('row', { name: /Test IdP/ }).innerText(), /Connected/);
    const after = (await connections()).find((c) => c.id === id);
    assert.equal(after.status, 'active', 'the reconnect repaired the same connection');

    // Disconnect: the refresh token, then the access token, are revoked at the provider
    // (RFC 7009 only says a provider SHOULD drop the grant's access tokens with its refresh token).
    const revokedBefore = (await oauthStats()).tokens_revoked;
    await page.getByRole('link', { name: 'Disconnect Test IdP' }).click();
    await screenshot(page, 'disconnect-confirm');
    await page.getByRole('button', { name: 'Disconnect' }).click();
    assert.match(await page.getByRole('status').innerText(), /Disconnected and revoked at Test IdP\./);
    assert.equal((await oauthStats()).tokens_revoked, revokedBefore + 2);
    assert.equal((await connections()).find((c) => c.id === id).status, 'revoked');
    await screenshot(page, 'disconnected');

    // A provider without a revocation endpoint: the page says so and where to go instead.
    await page.goto(`${broker}/connect`);
    await page.getByRole('button', { name: 'Connect No-Revoke IdP' }).click();
    await page.waitForURL(/\/connect\?provider=norevoke&status=success/);
    await page.getByRole('link', { name: 'Disconnect No-Revoke IdP' }).click();
    await page.getByRole('button', { name: 'Disconnect' }).click();
    assert.match(
      await page.getByRole('status').innerText(),
      /No-Revoke IdP offers no way for Nexus to revoke its access: remove Nexus's access at https:\/\/accounts\.example\.com\/apps/,
    );

    // The link token never appears in a URL after it was redeemed, and nothing broke the CSP.
    const redeemed = evidence.urls.findIndex((u) => u.endsWith('/connect/redeem'));
    assert.ok(redeemed >= 0);
    assert.deepEqual(evidence.urls.slice(redeemed).filter((u) => u.includes(linkToken)), []);
    assert.ok(!brokerLog().includes(linkToken), 'the link token is not in the broker log');
    assert.deepEqual(evidence.csp, []);
    assert.deepEqual(evidence.dialogs, []);
  } finally {
    await browser.close();
  }
});

test('a session only sees the providers of its link', async () => {
  const { browser, page } = await openBrowser();
  try {
    await redeem(page, await connectLink({ providers: ['keyapi'], user: 'dave' }));
    assert.equal(await page.getByRole('button', { name: 'Connect Test IdP' }).count(), 0);
    const res = await page.request.get(`${broker}/connect/static/testidp`);
    assert.equal(res.status(), 404);
  } finally {
    await browser.close();
  }
});
