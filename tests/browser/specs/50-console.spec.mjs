// The operators' console: admin-token sign-in by POST (the token never in a URL), filters
// (status, health, user), the health columns (health, typed last error, who used it), and a
// keyset page walk that returns every matching connection exactly once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { admin, adminTokenForLoginForm, broker, connections, openBrowser, resolve, screenshot } from '../lib/harness.mjs';

test('console sign-in, filters and pagination', async () => {
  for (let i = 0; i < 7; i += 1) {
    const res = await admin('POST', '/admin/v1/workspaces/dev/connections/import', {
      provider_name: 'keyapi', kind: 'api_key', secret: `sk_console_${i}_abcdef`, user_id: `console-${i}`,
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
  }
  const expected = (await connections()).filter((c) => c.provider_name === 'keyapi').map((c) => c.id).sort();
  // An agent's resolve through the gateway: the console names its API key under "Used by".
  const resolved = await resolve('keyapi');
  assert.equal(resolved.status, 200, JSON.stringify(resolved.body));

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
    const statuses = await page.locator('tbody tr[data-id] td[data-col="status"]').allInnerTexts();
    assert.ok(statuses.every((s) => s === 'revoked'));

    // Health filter (select, submitted by the script) and the health columns.
    await page.goto(`${broker}/console/connections?provider=keyapi`);
    await page.getByLabel('Health').selectOption('ok');
    await page.waitForURL(/health=ok/);
    const healthy = await page.locator('tbody tr[data-id] td[data-col="health"]').allInnerTexts();
    assert.ok(healthy.length >= expected.length, `${healthy.length} rows`);
    assert.ok(healthy.every((h) => h === 'ok'), healthy.join());
    // Usage is written just after the resolve has answered (a group commit of its own, not
    // awaited by the resolve): reload until it shows; the deadline only turns a hang into a failure.
    let usedBy = [];
    for (const deadline = Date.now() + 20_000; ; await page.reload()) {
      usedBy = await page.locator('tbody tr[data-id] td[data-col="used-by"]').allInnerTexts();
      if (usedBy.some((u) => u.startsWith('api_key:')) || Date.now() > deadline) break;
    }
    assert.ok(usedBy.some((u) => u.startsWith('api_key:')), usedBy.join());
    const headings = await page.locator('thead th').allInnerTexts();
    for (const h of ['Status', 'Health', 'Last refresh', 'Last error', 'Access expires', 'Keep-alive', 'Used by (7 days)']) {
      assert.ok(headings.includes(h), `${h} in ${headings.join()}`);
    }
    await screenshot(page, 'console-health');
    await page.getByLabel('Health').selectOption('needs_reauth');
    await page.waitForURL(/health=needs_reauth/);
    assert.equal(await page.locator('tbody tr[data-id]').count(), 0);
    await page.getByRole('cell', { name: 'No connections match.' }).waitFor();
    // A text filter by keyboard: one user, one row.
    await page.goto(`${broker}/console/connections`);
    await page.getByLabel('User').fill('console-3');
    await page.getByLabel('User').press('Enter');
    await page.waitForURL(/user=console-3/);
    assert.equal(await page.locator('tbody tr[data-id]').count(), 1);
    assert.equal(await page.locator('tbody td[data-col="user"]').innerText(), 'console-3');
    await screenshot(page, 'console-filtered');
    const bad = await page.goto(`${broker}/console/connections?health=sick`);
    assert.equal(bad.status(), 400);

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
