// End-to-end browser test of the web chat page served at `/`.
//
//   cd bins/tests/browser && npm install
//   SWITCHBOARD_URL=http://127.0.0.1:8080 SCREENSHOT=/tmp/chat.png node chat.mjs
//
// Two users in two separate browser profiles: A signs up and creates a public room, B signs up
// and joins it by id, A says hello, B sees it, B types (A sees the typing indicator) and replies.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BASE = (process.env.SWITCHBOARD_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const SCREENSHOT = process.env.SCREENSHOT || '';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
const WAIT = 5000;

const contexts = [];
const dirs = [];
const logs = [];

async function openUser(label) {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-chat-'));
  dirs.push(dir);
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ARGS,
    viewport: { width: 1100, height: 700 },
  });
  contexts.push(context);
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(10000);
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') logs.push(`[${label} console.${m.type()}] ${m.text()}`); });
  page.on('pageerror', (e) => logs.push(`[${label} pageerror] ${e.message}`));
  page.on('websocket', (ws) => ws.on('close', () => logs.push(`[${label}] websocket closed`)));
  await page.goto(BASE + '/');
  return page;
}

async function signUp(page, name) {
  await page.fill('#name', name);
  await page.fill('#password', 'pw-' + name + '-secret');
  await page.click('#signup');
  await page.waitForSelector('#signout', { state: 'visible' });
  await page.waitForSelector('body[data-conn="open"]');
}

const roomReady = (page, id) => page.waitForSelector(`#chat[data-room-id="${id}"][data-ready="1"]`);

async function sendText(page, text) {
  await page.fill('#compose', text);
  await page.click('#send');
  // Confirmed by the server: the message has a position.
  await page.locator('#messages .msg[data-seq]', { hasText: text }).first().waitFor();
}

async function sees(page, text, what) {
  try {
    await page.locator('#messages .msg[data-seq] .text', { hasText: text }).first().waitFor({ timeout: WAIT });
  } catch (e) {
    throw new Error(`${what} did not see "${text}" within ${WAIT} ms; #messages: `
      + JSON.stringify(await page.textContent('#messages')) + '; #status: ' + JSON.stringify(await page.textContent('#status')));
  }
}

async function main() {
  const suffix = Math.random().toString(36).slice(2, 8);
  const a = await openUser('A');
  const b = await openUser('B');

  await signUp(a, 'alice_' + suffix);
  const roomName = 'e2e room ' + suffix;
  await a.fill('#room-name', roomName);
  await a.setChecked('#room-private', false);
  await a.click('#create-room');
  const roomButton = a.locator('#rooms button[aria-current="true"]', { hasText: roomName });
  await roomButton.waitFor();
  const roomId = await roomButton.getAttribute('data-room-id');
  if (!roomId) throw new Error('the created room has no data-room-id');
  await roomReady(a, roomId);

  await signUp(b, 'bob_' + suffix);
  await b.fill('#join-id', roomId);
  await b.click('#join');
  await roomReady(b, roomId);

  await sendText(a, 'hello from A');
  await sees(b, 'hello from A', 'B');

  await b.click('#compose');
  await b.locator('#compose').pressSequentially('reply from B', { delay: 30 });
  try {
    await a.waitForFunction(() => /typing/i.test(document.getElementById('typing').textContent), null, { timeout: WAIT });
  } catch (e) {
    throw new Error(`A did not see B typing within ${WAIT} ms; #typing: ` + JSON.stringify(await a.textContent('#typing')));
  }
  await b.click('#send');
  await b.locator('#messages .msg[data-seq]', { hasText: 'reply from B' }).first().waitFor();
  await sees(a, 'reply from B', 'A');

  // Both pages agree on the order of the two messages.
  const order = (page) => page.$$eval('#messages .msg[data-seq] .text', (els) => els.map((e) => e.textContent));
  const [oa, ob] = [await order(a), await order(b)];
  if (JSON.stringify(oa) !== JSON.stringify(['hello from A', 'reply from B']) || JSON.stringify(oa) !== JSON.stringify(ob)) {
    throw new Error(`message lists differ: A ${JSON.stringify(oa)}, B ${JSON.stringify(ob)}`);
  }
  const pageErrors = logs.filter((l) => l.includes('pageerror'));
  if (pageErrors.length) throw new Error('uncaught page errors: ' + pageErrors.join('; '));
  if (SCREENSHOT) await a.screenshot({ path: SCREENSHOT, fullPage: true });
}

let failed = false;
try {
  await main();
  console.log('ok - two users chat through the web page');
} catch (e) {
  failed = true;
  console.log('FAIL - two users chat through the web page');
  console.log(e && e.stack ? e.stack : String(e));
  for (const l of logs) console.log(l);
  if (SCREENSHOT && contexts[0]) {
    try { await contexts[0].pages()[0].screenshot({ path: SCREENSHOT, fullPage: true }); } catch (_) { /* best effort */ }
  }
} finally {
  for (const c of contexts) await c.close().catch(() => {});
  for (const d of dirs) await rm(d, { recursive: true, force: true }).catch(() => {});
}
console.log(failed ? '0 passed, 1 failed' : '1 passed, 0 failed');
process.exit(failed ? 1 : 0);
