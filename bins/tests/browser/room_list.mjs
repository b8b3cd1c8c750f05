// Browser test of the web page as a chat client (issue 20): the room list, multi-line messages,
// scroll-back, days, the reload, the reconnect banner and the phone layout.
//
//   cd bins/tests/browser && npm ci
//   SWITCHBOARD_BIN=target/debug/switchboard node room_list.mjs
//
// It starts its own node (a fresh data directory, local accounts), so it can stop and restart it.
// Alice (desktop, 1280×800) invites Bob (desktop, later 375 px wide) into two rooms: Bob's list
// shows each at once, without a reload; Alice's messages move a room to the top of Bob's list with
// its preview and a rising unread badge, which clears when Bob opens the room. A message written
// over two lines (Shift+Enter) arrives with its line break. 110 messages sent through a socket of
// the test's own show "99+", then scroll back a page at a time without the view jumping, up to
// "Beginning of conversation". A reload lands on the room open last; stopping the node shows a
// "Reconnecting…" banner with the attempt, gone once the restarted node took the page back. At
// 375 px the list and the conversation are two views, with a back button, and nothing, a failed
// message's Retry and Delete included, goes past the screen's edge. Every page runs under the
// strict Content-Security-Policy of chat.mjs.
//
// SCREENSHOTS=DIR writes room-list-desktop.png, chat-desktop.png, room-list-phone.png,
// chat-phone.png and reconnecting-desktop.png there (docs/screenshots has them).
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BIN = process.env.SWITCHBOARD_BIN || 'target/debug/switchboard';
const SCREENSHOTS = process.env.SCREENSHOTS || '';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-features=LocalNetworkAccessChecks'];
const WAIT = 5000;
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
  + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 375, height: 812 };
const HISTORY = 110; // messages in the long room: over 99 unread, three pages of history

const contexts = [];
const dirs = [];
const logs = [];
let node = null;

const freePort = () => new Promise((resolve, reject) => {
  const s = createServer();
  s.once('error', reject);
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

// Polls `probe` until it returns something truthy, for at most `ms`.
async function until(probe, ms, what) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try { const v = await probe(); if (v) return v; } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`${what} within ${ms} ms${last ? ': ' + last.message : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function expect(actual, wanted, what) {
  if (actual !== wanted) throw new Error(`${what}: expected ${JSON.stringify(wanted)}, got ${JSON.stringify(actual)}`);
}

// The node, on `port` with its data in `data` (kept across a restart: accounts, rooms, tokens).
async function startNode(port, data) {
  const env = { ...process.env, SWITCHBOARD_LISTEN: '127.0.0.1:' + port, SWITCHBOARD_DATA_DIR: data,
    SWITCHBOARD_LOG: 'warn', SWITCHBOARD_AUTH__ARGON2_MEMORY_KIB: '1024', SWITCHBOARD_AUTH__ARGON2_ITERATIONS: '1' };
  // The node reads every SWITCHBOARD_ variable as configuration: not the test's own.
  for (const k of ['SWITCHBOARD_BIN', 'SWITCHBOARD_URL']) delete env[k];
  for (const k of Object.keys(env)) if (k.startsWith('SWITCHBOARD_TEST_')) delete env[k];
  const child = spawn(BIN, ['serve'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr.on('data', (d) => logs.push(`[node] ${d.toString().trimEnd()}`));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  node = { child, exited };
  await until(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, 20000, 'the node did not start');
}

async function stopNode() {
  if (!node) return;
  node.child.kill('SIGTERM');
  await node.exited;
  node = null;
}

async function openUser(base, label, viewport) {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-rooms-'));
  dirs.push(dir);
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: ARGS, viewport,
  });
  contexts.push(context);
  await context.route(base + '/**', async (route) => {
    let response;
    try {
      response = await route.fetch();
    } catch (_) {
      await route.abort('connectionrefused').catch(() => {}); // the node is stopped
      return;
    }
    await route.fulfill({ response, headers: { ...response.headers(), 'content-security-policy': CSP } });
  });
  await context.addInitScript(() => document.addEventListener('securitypolicyviolation',
    (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`)));
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(10000);
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') logs.push(`[${label} console.${m.type()}] ${m.text()}`); });
  page.on('pageerror', (e) => logs.push(`[${label} pageerror] ${e.message}`));
  await page.goto(base + '/');
  return page;
}

async function signUp(page, name, display) {
  await page.fill('#name', name);
  await page.fill('#password', 'pw-' + name + '-secret');
  await page.click('#signup');
  await page.waitForSelector('body[data-conn="open"]');
  await page.fill('#display-name', display);
  await page.click('#save-profile');
  await page.waitForFunction(() => document.getElementById('status').textContent === 'Profile saved');
  await page.waitForFunction((d) => document.getElementById('whoami').textContent.startsWith(d + ' ('), display);
}

const roomReady = (page, id) => page.waitForSelector(`#chat[data-room-id="${id}"][data-ready="1"]`);
const row = (page, id) => page.locator(`#rooms button[data-room-id="${id}"]`);
// What a row of the list shows: name, preview, badge; and the order of the rows.
const rowState = (page, id) => row(page, id).evaluate((b) => ({
  name: b.querySelector('.room-name').textContent, preview: b.querySelector('.preview').textContent,
  badge: b.querySelector('.badge') ? b.querySelector('.badge').textContent : '', muted: b.classList.contains('muted') }));
const order = (page) => page.$$eval('#rooms button[data-room-id]', (bs) => bs.map((b) => b.dataset.roomId));

async function rowIs(page, id, want, what) {
  let got;
  await until(async () => {
    got = await rowState(page, id);
    return Object.entries(want).every(([k, v]) => got[k] === v);
  }, WAIT, what).catch((e) => { throw new Error(`${e.message}: row ${id} is ${JSON.stringify(got)}, wanted ${JSON.stringify(want)}`); });
}

async function createRoom(page, name) {
  await page.fill('#room-name', name);
  await page.setChecked('#room-private', true);
  await page.click('#create-room');
  const created = page.locator('#rooms button[aria-current="true"]', { hasText: name });
  await created.waitFor();
  const id = await created.getAttribute('data-room-id');
  await roomReady(page, id);
  return id;
}

async function invite(page, who) {
  await page.evaluate(() => { document.getElementById('status').textContent = ''; });
  await page.fill('#invite-name', who);
  await page.click('#invite');
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Invited'), null, { timeout: WAIT });
}

async function send(page, text) {
  await page.fill('#compose', text);
  await page.click('#send');
  await page.locator('#messages .msg[data-seq]:not([data-pending])', { hasText: text.split('\n')[0] }).first().waitFor();
}

// Sends `count` messages into `room` through a socket of the test's own, opened in `page` with its
// user's token (the page's own MessagePack codec encodes them); resolves once all are stored.
const sendMany = (page, room, count) => page.evaluate(async ({ room, count }) => {
  const { mpDecode, mpEncode } = await import('/msgpack.js');
  const token = localStorage.getItem('switchboard.token');
  const ws = new WebSocket(`ws://${location.host}/ws?token=${encodeURIComponent(token)}`, ['switchboard.v1']);
  ws.binaryType = 'arraybuffer';
  let sent = 0;
  await new Promise((resolve, reject) => {
    ws.onmessage = (ev) => {
      const f = mpDecode(ev.data);
      if (f.type === 'hello') {
        for (let i = 1; i <= count; i++) {
          ws.send(mpEncode({ type: 'send', rid: i, room, cmid: 'bulk-' + room + '-' + i, text: 'old message ' + i, first: true }));
        }
      } else if (f.type === 'sent') {
        if (++sent === count) resolve();
      } else if (f.type === 'error') reject(new Error('send refused: ' + f.code + ' ' + f.message));
    };
    ws.onclose = () => reject(new Error('the socket closed after ' + sent + ' sent'));
  });
  ws.onclose = null;
  ws.close();
  return sent;
}, { room: Number(room), count });

// ------------------------------------------------------------------------------------ steps

// Invites arrive in Bob's list at once; a message moves its room to the top with its preview and
// one more unread; opening the room clears the badge.
async function liveList(a, b, suffix) {
  await b.evaluate(() => { window.notReloaded = true; });
  const plans = await createRoom(a, 'Plans ' + suffix);
  await invite(a, 'bob_' + suffix);
  await row(b, plans).waitFor({ timeout: WAIT });
  await rowIs(b, plans, { name: 'Plans ' + suffix, preview: 'No messages yet', badge: '' }, 'the invited room in Bob\'s list');
  const other = await createRoom(a, 'Other ' + suffix);
  await invite(a, 'bob_' + suffix);
  await row(b, other).waitFor({ timeout: WAIT });
  await send(a, 'in the other room');
  await rowIs(b, other, { preview: 'Alice: in the other room', badge: '1' }, 'the preview and badge after a message');
  await until(async () => (await order(b))[0] === other, WAIT, 'the room with the newest message is not first');

  await a.click(`#rooms button[data-room-id="${plans}"]`);
  await roomReady(a, plans);
  await send(a, 'first plan');
  await rowIs(b, plans, { preview: 'Alice: first plan', badge: '1' }, 'Plans after one message');
  await send(a, 'second plan');
  await rowIs(b, plans, { preview: 'Alice: second plan', badge: '2' }, 'Plans after two messages');
  expect((await order(b)).slice(0, 2).join(), [plans, other].join(), 'Bob\'s list order');
  // Alice's own list counts nothing unread for her own messages.
  await rowIs(a, plans, { preview: 'You: second plan', badge: '' }, 'Alice\'s own row');

  await b.click(`#rooms button[data-room-id="${plans}"]`);
  await roomReady(b, plans);
  await rowIs(b, plans, { badge: '' }, 'the badge after Bob opened the room');
  expect(await b.getAttribute(`#rooms button[data-room-id="${plans}"]`, 'aria-current'), 'true', 'the open row');
  // Read while open: a new message does not count as unread.
  await send(a, 'while you read');
  await b.locator('#messages .msg[data-seq]', { hasText: 'while you read' }).waitFor({ timeout: WAIT });
  await a.waitForTimeout(500);
  await rowIs(b, plans, { preview: 'Alice: while you read', badge: '' }, 'a message in the open room');
  await rowIs(b, other, { badge: '1' }, 'the other room keeps its badge');

  // A tombstone and a photo in the preview.
  const last = a.locator('#messages .msg[data-seq]:not([data-pending])', { hasText: 'while you read' }).first();
  await last.hover();
  await last.locator('.actions [data-action="delete"]').click();
  await last.locator('[data-action="confirm-delete"]').click();
  await rowIs(b, plans, { preview: 'Message deleted' }, 'the preview of a deleted last message');
  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
  await a.setInputFiles('#attach', { name: 'dot.png', mimeType: 'image/png', buffer: png });
  await a.locator('#attaching li', { hasText: 'dot.png · ready' }).waitFor({ timeout: WAIT });
  await a.click('#send');
  await rowIs(b, plans, { preview: 'Alice: Photo' }, 'the preview of a photo');
  if (!await b.evaluate(() => window.notReloaded)) throw new Error('Bob\'s page reloaded');
  return { plans, other };
}

// Shift+Enter starts a new line and grows the box; Enter sends; the other side shows the break.
async function multiLine(a, b) {
  const box = a.locator('#compose');
  await box.click();
  const h1 = await box.evaluate((e) => e.offsetHeight);
  await box.pressSequentially('line one');
  await box.press('Shift+Enter');
  await box.pressSequentially('line two');
  await box.press('Shift+Enter');
  await box.pressSequentially('line three');
  const h3 = await box.evaluate((e) => e.offsetHeight);
  if (!(h3 > h1 * 2)) throw new Error(`the compose box did not grow with its lines: ${h1} px, then ${h3} px`);
  expect(await box.inputValue(), 'line one\nline two\nline three', 'the compose box after Shift+Enter');
  await box.press('Enter');
  const got = b.locator('#messages .msg[data-seq] .text', { hasText: 'line one' }).first();
  await got.waitFor({ timeout: WAIT });
  expect(await got.evaluate((e) => e.innerText), 'line one\nline two\nline three', 'the text as shown');
  const lines = await got.evaluate((e) => Math.round(e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).lineHeight)));
  expect(lines, 3, 'lines the message takes');
  expect(await box.inputValue(), '', 'the compose box after Enter');
  const h0 = await box.evaluate((e) => e.offsetHeight);
  if (h0 !== h1) throw new Error(`the compose box did not shrink back: ${h1} px, then ${h0} px`);
  // A pasted text keeps its line breaks; a long one scrolls in the box instead of growing it past 6 lines.
  await box.fill(Array.from({ length: 12 }, (_, i) => 'pasted ' + (i + 1)).join('\n'));
  const h12 = await box.evaluate((e) => e.offsetHeight);
  const line = await box.evaluate((e) => parseFloat(getComputedStyle(e).lineHeight));
  if (h12 > 7 * line + 12 || h12 < 5 * line) throw new Error(`12 lines make a box of ${h12} px (a line is ${line} px)`);
  await a.click('#send');
  const pasted = b.locator('#messages .msg[data-seq] .text', { hasText: 'pasted 1' }).first();
  await pasted.waitFor({ timeout: WAIT });
  expect((await pasted.evaluate((e) => e.innerText)).split('\n').length, 12, 'lines of the pasted message');
}

// Over 99 unread shows "99+", live and from the node; scrolling up reads older pages with the
// view held still, up to the beginning; one "Today" separator, and the day names.
async function scrollBack(a, b, suffix) {
  const long = await createRoom(a, 'Long ' + suffix);
  await invite(a, 'bob_' + suffix);
  await row(b, long).waitFor({ timeout: WAIT });
  expect(await sendMany(a, long, HISTORY), HISTORY, 'messages stored');
  await rowIs(b, long, { badge: '99+', preview: 'Alice: old message ' + HISTORY }, 'the badge after 110 messages');
  await b.reload();
  await b.waitForSelector('body[data-conn="open"]');
  await rowIs(b, long, { badge: '99+' }, 'the badge from the node after a reload');

  await b.click(`#rooms button[data-room-id="${long}"]`);
  await roomReady(b, long);
  const count = () => b.locator('#messages .msg[data-seq]').count();
  await until(async () => (await count()) === 50, WAIT, 'the first page is not 50 messages');
  const atEnd = await b.locator('#messages').evaluate((box) => box.scrollHeight - box.scrollTop - box.clientHeight);
  if (atEnd > 40) throw new Error(`the conversation did not open at its end (${atEnd} px above it)`);
  expect(await b.textContent('#messages .history-top'), '', 'the top before scrolling');
  // Scrolled to the top: the message that was first stays where it was once the page is in.
  const anchorText = 'old message ' + (HISTORY - 49);
  const before = await b.evaluate((text) => {
    const box = document.getElementById('messages');
    window.sawSpinner = false;
    new MutationObserver(() => { if (box.querySelector('.history-top.spinner')) window.sawSpinner = true; })
      .observe(box, { childList: true, subtree: true });
    box.scrollTop = 0;
    const m = [...box.querySelectorAll('.msg')].find((e) => e.querySelector('.text').textContent === text);
    return m.getBoundingClientRect().top - box.getBoundingClientRect().top;
  }, anchorText);
  await until(async () => (await count()) >= 100, WAIT, 'scrolling to the top did not read the second page');
  const after = await b.evaluate((text) => {
    const box = document.getElementById('messages');
    const m = [...box.querySelectorAll('.msg')].find((e) => e.querySelector('.text').textContent === text);
    return { top: m.getBoundingClientRect().top - box.getBoundingClientRect().top, scrollTop: box.scrollTop };
  }, anchorText);
  if (Math.abs(after.top - before) > 30 || after.scrollTop < 100) {
    throw new Error(`the view jumped: "${anchorText}" was ${before} px below the top, then ${after.top} px (scrollTop ${after.scrollTop})`);
  }
  if (!await b.evaluate(() => window.sawSpinner)) throw new Error('no "Loading older messages…" while the page was read');
  await b.locator('#messages').evaluate((box) => { box.scrollTop = 0; });
  await until(async () => (await count()) === HISTORY, WAIT, 'the third page did not come');
  await until(async () => (await b.textContent('#messages .history-top')) === 'Beginning of conversation', WAIT,
    'no "Beginning of conversation"');
  const texts = await b.$$eval('#messages .msg[data-seq] .text', (es) => es.map((e) => e.textContent));
  expect(texts[0], 'old message 1', 'the first message');
  expect(texts[HISTORY - 1], 'old message ' + HISTORY, 'the last message');
  // All sent today: one separator, above the first message.
  const days = await b.$$eval('#messages .day', (es) => es.map((e) => e.textContent));
  expect(JSON.stringify(days), '["Today"]', 'the day separators');
  expect(await b.evaluate(() => document.querySelector('#messages .day').nextElementSibling.querySelector('.text').textContent),
    'old message 1', 'the message after the separator');
  const names = await b.evaluate(async () => {
    const { dayLabel } = await import('/timeline.js');
    const now = new Date(2026, 5, 10, 9, 30);
    return [dayLabel(now.getTime(), now), dayLabel(new Date(2026, 5, 9, 23, 59).getTime(), now),
      dayLabel(new Date(2026, 5, 3, 12).getTime(), now), dayLabel(new Date(2025, 11, 31, 12).getTime(), now)];
  });
  expect(names[0], 'Today', 'the day name of today');
  expect(names[1], 'Yesterday', 'the day name of yesterday');
  if (!/June/.test(names[2]) || /Today|Yesterday|2026/.test(names[2])) throw new Error(`a week ago is named ${names[2]}`);
  if (!/2025/.test(names[3])) throw new Error(`last year's date without its year: ${names[3]}`);
  // Consecutive messages of one sender show the sender once, each its time.
  const metas = await b.$$eval('#messages .msg[data-seq]', (ms) => ms.slice(0, 3).map((m) => ({
    cont: m.classList.contains('cont'), time: !!m.querySelector('.meta time.time') })));
  expect(JSON.stringify(metas), JSON.stringify([{ cont: false, time: true }, { cont: true, time: true }, { cont: true, time: true }]),
    'the first three messages\' headers');
  await rowIs(b, long, { badge: '' }, 'the badge after reading the long room');
  return long;
}

// A reload opens the room that was open, not the top of the list or nothing.
async function reloadLands(b, rooms) {
  for (const id of [rooms.long, rooms.plans]) {
    if ((await b.getAttribute('#chat', 'data-room-id')) !== id) {
      await b.click(`#rooms button[data-room-id="${id}"]`);
      await roomReady(b, id);
    }
    await b.reload();
    await b.waitForSelector('body[data-conn="open"]');
    try {
      await roomReady(b, id);
    } catch (e) {
      throw new Error(`after a reload the page shows room ${JSON.stringify(await b.getAttribute('#chat', 'data-room-id'))}`
        + ` (${JSON.stringify(await b.textContent('#room-title'))}), not ${id}`);
    }
  }
}

// The node stops: a banner over the conversation says the page is reconnecting, and which attempt;
// the restarted node takes the page back, the banner goes and messages flow again.
async function reconnecting(a, b, port, data, plans) {
  if ((await b.getAttribute('#chat', 'data-room-id')) !== plans) await b.click(`#rooms button[data-room-id="${plans}"]`);
  await roomReady(b, plans);
  if (await b.isVisible('#conn-banner')) throw new Error('a connection banner while connected');
  await stopNode();
  await b.waitForSelector('#conn-banner', { state: 'visible', timeout: WAIT });
  await until(async () => /^Reconnecting… \(attempt [2-9]\d*\)$/.test(await b.textContent('#conn-text')), 10000,
    'the banner did not count a second attempt')
    .catch(async (e) => { throw new Error(e.message + ': ' + JSON.stringify(await b.textContent('#conn-text'))); });
  const banner = await b.locator('#conn-banner').boundingBox();
  const chat = await b.locator('#chat').boundingBox();
  if (!(banner.y + banner.height <= chat.y + 1 && banner.x >= chat.x - 1 && banner.width > chat.width - 2)) {
    throw new Error(`the banner is not over the conversation: ${JSON.stringify(banner)}, conversation ${JSON.stringify(chat)}`);
  }
  if (SCREENSHOTS) await b.screenshot({ path: join(SCREENSHOTS, 'reconnecting-desktop.png') });
  await startNode(port, data);
  await b.waitForSelector('#conn-banner', { state: 'hidden', timeout: 20000 });
  await b.waitForSelector('body[data-conn="open"]');
  await a.waitForSelector('body[data-conn="open"]', { timeout: 20000 });
  await a.click(`#rooms button[data-room-id="${plans}"]`);
  await roomReady(a, plans);
  await send(a, 'after the restart');
  await b.locator('#messages .msg[data-seq]', { hasText: 'after the restart' }).waitFor({ timeout: WAIT });
}

// At phone width: the list, then a room with a back button; mute dims a row; nothing wider than
// the screen, a failed message's buttons included.
async function phone(a, b, rooms, suffix) {
  await b.setViewportSize(PHONE);
  const shows = async (sel) => b.locator(sel).isVisible();
  await until(async () => (await shows('#chat')) && !(await shows('#side')) && (await shows('#back')), WAIT,
    'at 375 px the open room does not take the screen alone');
  const fits = async (what) => {
    const wide = await b.evaluate(() => document.documentElement.scrollWidth);
    if (wide > PHONE.width) throw new Error(`${what}: the page is ${wide} px wide at ${PHONE.width} px`);
  };
  await fits('the conversation');
  if (SCREENSHOTS) await b.screenshot({ path: join(SCREENSHOTS, 'chat-phone.png') });
  await b.click('#back');
  await until(async () => (await shows('#side')) && !(await shows('#chat')), WAIT, 'Back did not show the list');
  await fits('the list');
  // Mute the other room from its conversation; its row is dimmed.
  await b.click(`#rooms button[data-room-id="${rooms.other}"]`);
  await roomReady(b, rooms.other);
  await until(async () => (await shows('#chat')) && !(await shows('#side')), WAIT, 'a row did not open its room');
  await b.click('#mute');
  await b.click('#back');
  await rowIs(b, rooms.other, { muted: true }, 'the muted row');
  const opacity = await row(b, rooms.other).evaluate((e) => Number(getComputedStyle(e).opacity));
  if (!(opacity < 0.8)) throw new Error(`a muted row is not dimmed (opacity ${opacity})`);
  if (SCREENSHOTS) await b.screenshot({ path: join(SCREENSHOTS, 'room-list-phone.png') });
  // A message the node would refuse fails in the page; its Retry and Delete fit on the screen.
  await b.click(`#rooms button[data-room-id="${rooms.plans}"]`);
  await roomReady(b, rooms.plans);
  await b.fill('#compose', 'too long ' + 'x'.repeat(17 * 1024));
  await b.click('#send');
  const failed = b.locator('#messages .msg.failed', { hasText: 'too long' });
  await failed.locator('.reason').waitFor({ timeout: WAIT });
  for (const button of ['button.retry', 'button.delete']) {
    const box = await failed.locator(button).boundingBox();
    if (!box || box.x < 0 || box.x + box.width > PHONE.width) throw new Error(`${button} is cut off: ${JSON.stringify(box)}`);
  }
  await fits('a failed message');
  if (SCREENSHOTS) await b.screenshot({ path: join(SCREENSHOTS, 'failed-phone.png') });
  await failed.locator('button.delete').click();
  await failed.waitFor({ state: 'detached' });
  // Muted stays muted after a reload (the node keeps the flag).
  await b.setViewportSize(DESKTOP);
  await b.reload();
  await b.waitForSelector('body[data-conn="open"]');
  await rowIs(b, rooms.other, { muted: true }, 'the muted row after a reload');
  void a; void suffix;
}

// ------------------------------------------------------------------------------------ main
const results = [];
async function step(name, body) {
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

const data = await mkdtemp(join(tmpdir(), 'switchboard-rooms-node-'));
dirs.push(data);
try {
  const port = await freePort();
  await startNode(port, data);
  const base = `http://localhost:${port}`;
  const suffix = Math.random().toString(36).slice(2, 8);
  const a = await openUser(base, 'A', DESKTOP);
  const b = await openUser(base, 'B', DESKTOP);
  await signUp(a, 'alice_' + suffix, 'Alice');
  await signUp(b, 'bob_' + suffix, 'Bob');
  const rooms = {};
  await step('invites show in the list at once; messages raise the preview and badge, opening clears it',
    async () => Object.assign(rooms, await liveList(a, b, suffix)));
  if (rooms.plans) {
    await step('Shift+Enter writes a multi-line message; it arrives with its line breaks', () => multiLine(a, b));
    await step('"99+" unread; scrolling up reads older messages without a jump; days separate messages',
      async () => { rooms.long = await scrollBack(a, b, suffix); });
    if (SCREENSHOTS) {
      await step('screenshots at desktop width', async () => {
        await b.click(`#rooms button[data-room-id="${rooms.plans}"]`);
        await roomReady(b, rooms.plans);
        await b.evaluate(() => document.activeElement && document.activeElement.blur());
        await b.screenshot({ path: join(SCREENSHOTS, 'room-list-desktop.png') });
        await a.click(`#rooms button[data-room-id="${rooms.plans}"]`);
        await roomReady(a, rooms.plans);
        await a.evaluate(() => document.activeElement && document.activeElement.blur());
        await a.screenshot({ path: join(SCREENSHOTS, 'chat-desktop.png') });
      });
    }
    if (rooms.long) await step('a reload lands on the room open last', () => reloadLands(b, rooms));
    await step('a stopped node shows "Reconnecting…" with the attempt until the page is back',
      () => reconnecting(a, b, port, data, rooms.plans));
    await step('at 375 px the list and the conversation are two views; nothing is cut off',
      () => phone(a, b, rooms, suffix));
  }
  await step('no page errors and no CSP violations', async () => {
    const bad = logs.filter((l) => l.includes('pageerror') || l.includes('CSP violation') || l.includes('Refused to'));
    if (bad.length) throw new Error(bad.join('\n'));
  });
} catch (e) {
  results.push(false);
  console.log('FAIL - setting up: ' + (e && e.stack ? e.stack : String(e)));
}
const failures = results.filter((r) => !r).length;
if (failures) for (const l of logs) console.log(l);
for (const c of contexts) await c.close().catch(() => {});
await stopNode().catch(() => {});
for (const d of dirs) await rm(d, { recursive: true, force: true }).catch(() => {});
console.log(`${results.length - failures} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
