// Shared helpers of the browser specs: the stack started by scripts/test.d/55-browser.sh (its
// URLs and tokens come from the environment), Chromium, and evidence collection (screenshots,
// CSP violations, every URL the browser requested).
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
import path from 'node:path';

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run these specs through scripts/test.d/55-browser.sh`);
  return value;
}

export const broker = env('NEXUS_BROKER_URL');
export const gateway = env('NEXUS_GATEWAY_URL');
export const oauth = env('NEXUS_OAUTH_URL');
const adminToken = env('NEXUS_ADMIN_TOKEN');
const apiKey = env('NEXUS_API_KEY');
export const adminTokenForLoginForm = adminToken;

/** The admin API (JSON). */
export async function admin(method, apiPath, body) {
  const res = await fetch(`${broker}${apiPath}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** A fresh signed connect link for workspace `dev`. */
export async function connectLink({ providers = [], user } = {}) {
  const res = await admin('POST', '/admin/v1/workspaces/dev/connect-links', { providers, user_id: user });
  if (res.status !== 201) throw new Error(`connect-links answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body.url;
}

/** The workspace's connections (admin API). */
export async function connections() {
  const res = await admin('GET', '/admin/v1/workspaces/dev/connections');
  return Array.isArray(res.body) ? res.body : res.body.connections;
}

/** `GET /v1/resolve` through the gateway with the dev API key. */
export async function resolve(provider) {
  const res = await fetch(`${gateway}/v1/resolve?workspace_id=dev&provider=${provider}`, {
    headers: { authorization: `Bearer ${apiKey}` },
  });
  return { status: res.status, body: await res.json() };
}

/** The testkit OAuth server's counters. */
export async function oauthStats() {
  return (await fetch(`${oauth}/_control/stats`)).json();
}

/** Everything the broker logged so far. */
export function brokerLog() {
  return readFileSync(env('NEXUS_BROKER_LOG'), 'utf8');
}

/**
 * A browser page with evidence collection: `csp` gathers Content-Security-Policy violations
 * reported on the console, `urls` every URL requested, `dialogs` every dialog opened (none
 * should: a dialog would mean injected script ran).
 */
export async function openBrowser() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--no-sandbox'],
  });
  const context = await browser.newContext();
  const page = await context.newPage();
  const evidence = { csp: [], urls: [], dialogs: [] };
  page.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) evidence.csp.push(msg.text());
  });
  page.on('request', (req) => evidence.urls.push(req.url()));
  page.on('dialog', async (d) => {
    evidence.dialogs.push(d.message());
    await d.dismiss();
  });
  return { browser, context, page, evidence };
}

/** Keep a full-page screenshot as a CI artifact. */
export async function screenshot(page, name) {
  const dir = process.env.NEXUS_BROWSER_ARTIFACTS || 'artifacts';
  await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: true });
}

/** Open a link and continue on its interstitial: the browser then holds a connect session. */
export async function redeem(page, link) {
  await page.goto(link);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL(`${broker}/connect`);
}
