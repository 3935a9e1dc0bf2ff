// Accessibility basics: one heading, every control has an accessible name, outcome banners are
// status regions, and the accessibility tree names each action after its provider.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { broker, connectLink, openBrowser, redeem } from '../lib/harness.mjs';

async function unlabeledInputs(page) {
  return page.evaluate(() => [...document.querySelectorAll('input:not([type=hidden]), select')]
    .filter((el) => !(el.labels && el.labels.length && el.labels[0].textContent.trim()))
    .map((el) => el.name));
}

test('pages expose names, labels and landmarks', async () => {
  const { browser, page } = await openBrowser();
  try {
    await redeem(page, await connectLink({ providers: ['testidp', 'keyapi'] }));
    assert.equal(await page.locator('h1').count(), 1);
    const tree = await page.locator('main').ariaSnapshot();
    assert.match(tree, /heading "Connect your accounts" \[level=1\]/);
    assert.match(tree, /button "Connect Test IdP"/);
    assert.match(tree, /link "Connect Key API"/);
    assert.match(tree, /columnheader "Status"/);

    await page.goto(`${broker}/connect/static/keyapi`);
    assert.deepEqual(await unlabeledInputs(page), []);
    assert.equal(await page.getByLabel('API key').getAttribute('type'), 'password');
    assert.equal(await page.getByLabel('API key').getAttribute('autocomplete'), 'off');

    await page.goto(`${broker}/console/login`);
    assert.deepEqual(await unlabeledInputs(page), []);
    assert.equal(await page.getByLabel('Admin token').getAttribute('type'), 'password');
  } finally {
    await browser.close();
  }
});
