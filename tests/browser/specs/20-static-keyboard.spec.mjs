// A static API key through the form, keyboard only; the secret never comes back in a page (after
// success or a validation error) or in the broker's log, and hostile bodies get clear 4xx pages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { broker, brokerLog, connectLink, openBrowser, redeem, resolve, screenshot } from '../lib/harness.mjs';

async function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    return el ? `${el.tagName.toLowerCase()}:${(el.textContent || el.getAttribute('name') || '').trim()}` : '';
  });
}

test('save a static API key with the keyboard only', async () => {
  const { browser, page, evidence } = await openBrowser();
  const secret = `sk_browser_${Date.now()}_Zq9`;
  try {
    await page.goto(await connectLink({ providers: ['keyapi'], user: 'bob' }));
    await page.keyboard.press('Tab');
    assert.equal(await focused(page), 'button:Continue');
    await page.keyboard.press('Enter');
    await page.waitForURL(`${broker}/connect`);
    await page.keyboard.press('Tab');
    assert.equal(await focused(page), 'a:Connect Key API');
    await page.keyboard.press('Enter');
    await page.waitForURL(`${broker}/connect/static/keyapi`);
    await page.keyboard.press('Tab');
    assert.equal(await focused(page), 'input:api_key');
    await page.keyboard.type(secret);
    await screenshot(page, 'static-form');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/connect\?provider=keyapi&result=saved/);
    assert.match(await page.getByRole('status').innerText(), /Connected to Key API\./);
    assert.ok(!(await page.content()).includes(secret), 'the secret is not in the page');
    await screenshot(page, 'static-saved');

    const resolved = await resolve('keyapi');
    assert.equal(resolved.status, 200);
    assert.equal(resolved.body.credentials.api_key, secret);
    assert.ok(!brokerLog().includes(secret), 'the secret is not in the broker log');
    assert.deepEqual(evidence.csp, []);
  } finally {
    await browser.close();
  }
});

test('hostile form input gets clear errors and never echoes the secret', async () => {
  const { browser, page } = await openBrowser();
  const secret = `sk_hostile_${Date.now()}_Qx7`;
  try {
    await redeem(page, await connectLink({ providers: ['keyapi'], user: 'erin' }));
    await page.goto(`${broker}/connect/static/keyapi`);
    const csrf = await page.locator('input[name=_csrf]').getAttribute('value');
    const post = (form) => page.request.post(`${broker}/connect/static/keyapi`, {
      form, headers: { origin: broker }, maxRedirects: 0,
    });

    const tooLong = await post({ _csrf: csrf, api_key: secret + 'x'.repeat(5000) });
    assert.equal(tooLong.status(), 400);
    const tooLongPage = await tooLong.text();
    assert.match(tooLongPage, /API key is too long/);
    assert.ok(!tooLongPage.includes(secret));

    const controlChar = await post({ _csrf: csrf, api_key: `${secret}\nX-Injected: 1` });
    assert.equal(controlChar.status(), 400);
    assert.match(await controlChar.text(), /control character/);

    const unknown = await post({ _csrf: csrf, api_key: secret, extra: 'x' });
    assert.equal(unknown.status(), 400);

    const huge = await post({ _csrf: csrf, api_key: 'y'.repeat(100 * 1024) });
    assert.equal(huge.status(), 413);

    // In the browser: the error page keeps no secret in its inputs.
    await page.getByLabel('API key').fill(`${secret}\u0007`);
    await page.getByRole('button', { name: 'Save' }).click();
    assert.match(await page.getByRole('status').innerText(), /control character/);
    assert.ok(!(await page.content()).includes(secret));
    await screenshot(page, 'static-error');
    assert.ok(!brokerLog().includes(secret));
  } finally {
    await browser.close();
  }
});
