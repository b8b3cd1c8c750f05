// Screenshot of a running cluster's `/dashboard`, for a benchmark report (no traffic of its
// own, no checks: the browser test is dashboard.mjs).
//
//   SWITCHBOARD_URL=http://127.0.0.1:8080 SCREENSHOT=/tmp/dashboard.png WAIT_SECS=20 \
//     node screenshot.mjs
//
// Opens the page, waits WAIT_SECS so its charts gather points, gives ADMIN_TOKEN when set, and
// writes a full-page PNG.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const URL = (process.env.SWITCHBOARD_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const SCREENSHOT = process.env.SCREENSHOT || 'dashboard.png';
const WAIT_SECS = Number(process.env.WAIT_SECS || 20);
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-features=LocalNetworkAccessChecks'];

const dir = await mkdtemp(join(tmpdir(), 'switchboard-shot-'));
const context = await chromium.launchPersistentContext(dir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ARGS,
  viewport: { width: 1400, height: 1100 },
});
try {
  const page = await context.newPage();
  await page.goto(URL + '/dashboard');
  if (process.env.ADMIN_TOKEN) {
    await page.fill('#token', process.env.ADMIN_TOKEN);
    await page.click('#token-form button');
  }
  await page.waitForTimeout(WAIT_SECS * 1000);
  const rows = await page.$$eval('#nodes tbody tr', (rs) => rs.map((r) => r.innerText.replace(/\s+/g, ' ')));
  console.log(`dashboard shows ${rows.length} node(s):\n  ${rows.join('\n  ')}`);
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  console.log(`screenshot: ${SCREENSHOT}`);
} finally {
  await context.close();
  await rm(dir, { recursive: true, force: true });
}
