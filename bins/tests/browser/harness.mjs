// What the two-or-more-user browser tests share (ticks.mjs, mentions.mjs): a headless Chromium
// profile per user, served the page under the node's strict Content-Security-Policy (or the
// page's files from STATIC_DIR, to try a change to bins/static without rebuilding), sign-up,
// waiting, steps and the report. Every page's console errors, page errors and CSP violations are
// kept; `finish` prints them when a step failed, closes everything and exits.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const BASE = (process.env.SWITCHBOARD_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
export const SCREENSHOTS = process.env.SCREENSHOTS || '';
export const WAIT = 5000;
const STATIC = process.env.STATIC_DIR || '';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-features=LocalNetworkAccessChecks'];
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
  + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

const contexts = [];
const dirs = [];
export const logs = [];
const results = [];

// The page's own MessagePack codec, for tests that read the frames a page sends.
const here = dirname(fileURLToPath(import.meta.url));
export const { mpDecode } = await import('data:text/javascript,' + encodeURIComponent(
  await readFile(join(here, '../../static/msgpack.js'), 'utf8')));

// A user's browser at the page. `tap`: every frame the page sends the node is kept in
// `tap.toNode`, decoded, with the time it was sent.
export async function openUser(label, tap) {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-browser-'));
  dirs.push(dir);
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ARGS,
    viewport: { width: 1280, height: 800 },
  });
  contexts.push(context);
  await context.route(BASE + '/**', async (route) => {
    const path = new URL(route.request().url()).pathname;
    const file = path === '/' ? 'index.html' : path.slice(1);
    if (STATIC && TYPES[extname(file)] && !file.includes('/')) {
      const body = await readFile(join(STATIC, file)).catch(() => null);
      if (body) {
        await route.fulfill({ body, headers: { 'content-type': TYPES[extname(file)], 'content-security-policy': CSP } });
        return;
      }
    }
    const response = await route.fetch();
    await route.fulfill({ response, headers: { ...response.headers(), 'content-security-policy': CSP } });
  });
  await context.addInitScript(() => document.addEventListener('securitypolicyviolation',
    (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`)));
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(10000);
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') logs.push(`[${label} console.${m.type()}] ${m.text()}`); });
  page.on('pageerror', (e) => logs.push(`[${label} pageerror] ${e.message}`));
  if (tap) {
    await page.routeWebSocket(/\/ws/, (ws) => {
      const server = ws.connectToServer();
      ws.onMessage((m) => { tap.toNode.push({ at: Date.now(), frame: mpDecode(m) }); server.send(m); });
      server.onMessage((m) => ws.send(m));
    });
  }
  await page.goto(BASE + '/');
  return { page, context };
}

export async function signUp(page, name, display) {
  await page.fill('#name', name);
  await page.fill('#password', 'pw-' + name + '-secret');
  await page.click('#signup');
  await page.waitForSelector('#signout', { state: 'visible' });
  await page.waitForSelector('body[data-conn="open"]');
  // The form shows the stored profile once it is read: typing before that would be overwritten.
  await page.waitForFunction(() => window.switchboard.state.profileFilled);
  await page.fill('#display-name', display);
  await page.click('#save-profile');
  await until(async () => (await page.textContent('#status')) === 'Profile saved', `${display}'s profile saved`);
  await until(async () => (await page.textContent('#whoami')).startsWith(display + ' ('), `${display} shown as signed in`);
}

export const roomReady = (page, id) => page.waitForSelector(`#chat[data-room-id="${id}"][data-ready="1"]`);
// A stored message of the conversation, by its text.
export const msg = (page, text) => page.locator('#messages .msg[data-seq]:not([data-pending])', { hasText: text }).first();
// The room open on `page`.
export const openId = (page) => page.getAttribute('#chat', 'data-room-id');

export async function openRoom(page, id) {
  await page.click(`#rooms button[data-room-id="${id}"]`);
  await roomReady(page, id);
}

export async function reload(page) {
  await page.reload();
  await page.waitForSelector('body[data-conn="open"]');
}

export async function until(probe, what, ms = WAIT) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function expect(actual, expected, what) {
  const ok = expected instanceof RegExp ? expected.test(actual) : JSON.stringify(actual) === JSON.stringify(expected);
  if (!ok) throw new Error(`${what}: expected ${expected instanceof RegExp ? expected : JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function step(name, body) {
  try {
    await body();
    results.push(true);
    console.log('ok - ' + name);
  } catch (e) {
    results.push(false);
    console.log('FAIL - ' + name);
    console.log(e && e.stack ? e.stack : String(e));
  }
}

// The last step of every test: no page error and no CSP violation on any page.
export const noPageErrors = () => step('no page errors and no CSP violations', async () => {
  const bad = logs.filter((l) => l.includes('pageerror') || l.includes('CSP violation') || l.includes('Refused to'));
  if (bad.length) throw new Error(bad.join('\n'));
});

// Setting up failed (outside any step).
export function setUpFailed(e) {
  results.push(false);
  console.log('FAIL - setting up: ' + (e && e.stack ? e.stack : String(e)));
}

// Prints the logs when something failed, closes every browser, removes their profiles, reports
// and exits (1 when a step failed).
export async function finish() {
  const failures = results.filter((r) => !r).length;
  if (failures) for (const l of logs) console.log(l);
  for (const c of contexts) await c.close().catch(() => {});
  for (const d of dirs) await rm(d, { recursive: true, force: true }).catch(() => {});
  console.log(`${results.length - failures} passed, ${failures} failed`);
  process.exit(failures ? 1 : 0);
}
