// Forms refuse forged or cross-site posts, links work once, and markup in names stays text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { broker, connectLink, connections, openBrowser, redeem, screenshot } from '../lib/harness.mjs';

test('a forged or cross-site POST changes nothing', async () => {
  const { browser, page } = await openBrowser();
  try {
    await redeem(page, await connectLink({ providers: ['testidp'], user: 'carol' }));
    const csrf = await page.locator('input[name=_csrf]').first().getAttribute('value');
    const count = async () => (await connections()).filter((c) => c.user_id === 'carol').length;
    const post = (form, headers) => page.request.post(`${broker}/connect/oauth/testidp`, {
      form, headers, maxRedirects: 0,
    });

    const forged = await post({ _csrf: 'forged' }, { origin: broker });
    assert.equal(forged.status(), 403);
    assert.match(await forged.text(), /csrf_failed/);
    const crossSite = await post({ _csrf: csrf }, { origin: 'http://localhost:9' });
    assert.equal(crossSite.status(), 403);
    const noOrigin = await post({ _csrf: csrf }, {});
    assert.equal(noOrigin.status(), 403);
    assert.equal(await count(), 0, 'no refused POST started a flow');

    // The same POST with the page's token from the page's origin works (the checks can pass).
    const genuine = await post({ _csrf: csrf }, { origin: broker });
    assert.equal(genuine.status(), 303);
    assert.ok(genuine.headers().location.startsWith(process.env.NEXUS_OAUTH_URL));
    assert.equal(await count(), 1);
  } finally {
    await browser.close();
  }
});

test('a link opens once; garbled, replayed and sessionless requests are refused', async () => {
  const { browser, page } = await openBrowser();
  try {
    const link = await connectLink({ providers: ['keyapi'] });
    const token = link.split('/connect/l/')[1];
    await redeem(page, link);
    const replay = await page.request.post(`${broker}/connect/redeem`, {
      form: { token }, headers: { origin: broker }, maxRedirects: 0,
    });
    assert.equal(replay.status(), 410);
    assert.match(await replay.text(), /link_already_used/);

    const garbled = await page.goto(`${broker}/connect/l/v1.${token.slice(3, 40)}`);
    assert.equal(garbled.status(), 400);
    assert.match(await page.content(), /link_invalid/);

    const { browser: other, page: stranger } = await openBrowser();
    try {
      const res = await stranger.goto(`${broker}/connect`);
      assert.equal(res.status(), 401);
    } finally {
      await other.close();
    }
  } finally {
    await browser.close();
  }
});

test('markup in a user id is shown as text and runs nothing', async () => {
  const { browser, page, evidence } = await openBrowser();
  try {
    const hostile = '<img src=x onerror=alert(1)><script>alert(2)</script>';
    const res = await page.goto(await connectLink({ providers: ['keyapi'], user: hostile }));
    assert.ok(res.headers()['content-security-policy']);
    assert.equal(await page.getByText(hostile).count(), 1);
    assert.equal(await page.locator('main img, main script').count(), 0);
    await screenshot(page, 'hostile-user-id');
    assert.deepEqual(evidence.dialogs, []);
  } finally {
    await browser.close();
  }
});
