// Browser test of the live dashboard served at `/dashboard`.
//
//   cd bins/tests/browser && npm ci
//   SWITCHBOARD_URLS=http://127.0.0.1:8080,http://127.0.0.1:8081 ADMIN_TOKEN=secret \
//     SCREENSHOT=/tmp/dashboard.png node dashboard.mjs
//
// Traffic first: on every node given, a page signs up a user, opens a WebSocket and sends a
// message every 100 ms into its room for the whole test. Then a headless Chromium opens the
// first node's dashboard under a strict Content-Security-Policy (added here), gives the admin
// token when ADMIN_TOKEN is set (and checks that the page asks for it), and waits until its
// table lists every node with non-zero connections (and some node a non-zero message rate)
// and its charts hold several points of non-zero data. Exits non-zero, with the page's logs, otherwise.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const URLS = (process.env.SWITCHBOARD_URLS || process.env.SWITCHBOARD_URL || 'http://127.0.0.1:8080')
  .split(',').map((u) => u.trim().replace(/\/+$/, '')).filter(Boolean);
const TOKEN = process.env.ADMIN_TOKEN || '';
const SCREENSHOT = process.env.SCREENSHOT || '';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-features=LocalNetworkAccessChecks'];
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
  + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const WAIT_MS = 20000;

const logs = [];
const dir = await mkdtemp(join(tmpdir(), 'switchboard-dashboard-'));
const context = await chromium.launchPersistentContext(dir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ARGS,
  viewport: { width: 1400, height: 1100 },
});

// Sends from inside a page on `base`: same origin, so no CORS; JSON subprotocol.
async function traffic(base, i) {
  const page = await context.newPage();
  page.on('pageerror', (e) => logs.push(`[traffic ${i}] ${e.message}`));
  await page.goto(base + '/healthz');
  const started = await page.evaluate(async ({ i }) => {
    const name = `dash${i}x${Date.now() % 1e9}`;
    const res = await fetch('/api/signup', { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name, password: 'correct horse battery' }) });
    if (!res.ok) return `signup ${res.status}`;
    const { token } = await res.json();
    const ws = new WebSocket(`ws://${location.host}/ws?token=${encodeURIComponent(token)}`, 'switchboard.v1.json');
    let rid = 1;
    const send = (frame) => ws.send(JSON.stringify({ ...frame, rid: rid++ }));
    return await new Promise((resolve) => {
      ws.onmessage = (e) => {
        const f = JSON.parse(e.data);
        if (f.type === 'hello') send({ type: 'create_room', name: `dash-${i}`, visibility: 'public' });
        if (f.type === 'room_created') {
          const room = f.room.id;
          send({ type: 'join', room });
          let n = 0;
          setInterval(() => send({ type: 'send', room, cmid: `c${n++}`, text: 'tick' }), 100);
          resolve('ok');
        }
        if (f.type === 'error') resolve(`error ${f.code} ${f.message}`);
      };
      ws.onclose = (e) => resolve(`closed ${e.code}`);
    });
  }, { i });
  if (started !== 'ok') throw new Error(`traffic on ${base}: ${started}`);
}

let failed = false;
try {
  for (const [i, base] of URLS.entries()) await traffic(base, i);
  await context.route(URLS[0] + '/**', async (route) => {
    const response = await route.fetch();
    await route.fulfill({ response, headers: { ...response.headers(), 'content-security-policy': CSP } });
  });
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') logs.push(`[dashboard console] ${m.text()}`); });
  page.on('pageerror', (e) => logs.push(`[dashboard pageerror] ${e.message}`));
  await page.addInitScript(() => document.addEventListener('securitypolicyviolation',
    (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`)));
  await page.goto(URLS[0] + '/dashboard');
  if (TOKEN) {
    await page.locator('#token-form').waitFor({ state: 'visible', timeout: 5000 });
    await page.fill('#token', TOKEN);
    await page.click('#token-form button');
  }
  // Every node listed with live numbers, and every chart drawn from several points of data.
  await page.waitForFunction((n) => {
    const rows = [...document.querySelectorAll('#nodes tbody tr')];
    if (rows.length !== n) return false;
    // Connections are counted where the socket is, messages where the room's owner is.
    const busy = rows.every((r) => Number(r.children[3].textContent) > 0)
      && rows.some((r) => Number(r.children[5].textContent) > 0);
    const charts = [...document.querySelectorAll('canvas')];
    const drawn = charts.every((c) => Number(c.dataset.points) >= 5);
    const live = ['c-conns', 'c-rates', 'c-deliv', 'c-lat', 'c-rooms']
      .every((id) => Number(document.getElementById(id).dataset.latest) > 0);
    return busy && drawn && live;
  }, URLS.length, { timeout: WAIT_MS, polling: 250 });
  // Every axis reads: five different tick labels, also on a chart of zeros (errors, here).
  const axes = await page.$$eval('canvas', (cs) => cs.map((c) => [c.id, c.dataset.ticks]));
  for (const [id, ticks] of axes) {
    if (new Set(ticks.split('|')).size !== 5) throw new Error(`${id}: axis ticks ${ticks}`);
  }
  // Each total says what it counts (the difference between messages and envelopes between nodes).
  const unexplained = await page.$$eval('#totals > div', (ds) => ds.filter((d) => !d.title).length);
  if (unexplained) throw new Error(`${unexplained} totals say nothing of what they count`);
  const rows = await page.$$eval('#nodes tbody tr', (rs) => rs.map((r) => r.innerText.replace(/\s+/g, ' ')));
  console.log(`dashboard shows ${rows.length} node(s):\n  ${rows.join('\n  ')}`);
  if (SCREENSHOT) {
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`screenshot: ${SCREENSHOT}`);
  }
  if (logs.some((l) => l.includes('CSP violation') || l.includes('pageerror'))) throw new Error('page errors');
} catch (e) {
  failed = true;
  console.error(`dashboard browser test FAILED: ${e.message}`);
  if (SCREENSHOT) await context.pages().at(-1)?.screenshot({ path: SCREENSHOT, fullPage: true }).catch(() => {});
} finally {
  if (logs.length) console.error(logs.join('\n'));
  await context.close();
  await rm(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
