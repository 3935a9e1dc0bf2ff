// The operators' console: admin-token sign-in by POST (the token never in a URL), filters, and
// a keyset page walk that returns every matching connection exactly once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { admin, adminTokenForLoginForm, broker, connections, openBrowser, screenshot } from '../lib/harness.mjs';

test('console sign-in, filters and pagination', async () => {
  for (let i = 0; i < 7; i += 1) {
    const res = await admin('POST', '/admin/v1/workspaces/dev/connections/import', {
      provider_name: 'keyapi', kind: 'api_key', secret: `sk_console_${i}_abcdef`, user_id: `console-${i}`,
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
  }
  const expected = (await connections()).filter((c) => c.provider_name === 'keyapi').map((c) => c.id).sort();

  const { browser, page, evidence } = await openBrowser();
  try {
    const before = await page.goto(`${broker}/console/connections`);
    assert.equal(before.status(), 401);
    await page.goto(`${broker}/console/login`);
    await page.getByLabel('Admin token').fill('not-the-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    assert.match(await page.getByRole('status').innerText(), /not the admin token/);
    await page.getByLabel('Admin token').fill(adminTokenForLoginForm);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${broker}/console/connections`);
    await screenshot(page, 'console');

    // Filters (GET form) and a walk over pages of 3.
    await page.goto(`${broker}/console/connections?provider=keyapi&limit=3`);
    const seen = [];
    for (;;) {
      const ids = await page.locator('tbody tr[data-id]').evaluateAll((rows) => rows.map((r) => r.dataset.id));
      assert.ok(ids.length <= 3);
      seen.push(...ids);
      const next = page.getByRole('link', { name: 'Next page' });
      if ((await next.count()) === 0) break;
      await next.click();
    }
    assert.deepEqual([...seen].sort(), expected, 'every keyapi connection exactly once');

    await page.goto(`${broker}/console/connections?provider=keyapi`);
    await page.getByLabel('Status').selectOption('revoked');
    await page.waitForURL(/status=revoked/);
    const statuses = await page.locator('tbody tr[data-id] td.status').allInnerTexts();
    assert.ok(statuses.every((s) => s === 'revoked'));

    const garbage = await page.goto(`${broker}/console/connections?cursor=garbage`);
    assert.equal(garbage.status(), 400);
    const otherFilters = await page.goto(`${broker}/console/connections?provider=keyapi&limit=3`);
    assert.equal(otherFilters.status(), 200);
    const cursor = new URL(await page.getByRole('link', { name: 'Next page' }).getAttribute('href'), broker)
      .searchParams.get('cursor');
    const mismatch = await page.goto(`${broker}/console/connections?provider=testidp&cursor=${cursor}`);
    assert.equal(mismatch.status(), 400);

    await page.goto(`${broker}/console/connections`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${broker}/console/login`);
    const after = await page.goto(`${broker}/console/connections`);
    assert.equal(after.status(), 401);

    assert.deepEqual(evidence.urls.filter((u) => u.includes(adminTokenForLoginForm)), []);
    assert.deepEqual(evidence.csp, []);
  } finally {
    await browser.close();
  }
});
