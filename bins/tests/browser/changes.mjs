// Browser test of replies, edits, deletes and reactions on the web page (PROTOCOL §6.16).
//
//   cd bins/tests/browser && npm ci
//   SWITCHBOARD_URL=http://127.0.0.1:8080 node changes.mjs
//
// Two users in two browser profiles: A creates a public room and B joins it. B replies to A's
// message (A sees the quote), A reacts and both see the chip, which toggles on and off; A edits
// (B sees the new text and the edited mark) and deletes (B sees a tombstone); refusals read as
// words. B's socket is tapped: it is cut, changes are made while B is away, and B's page applies
// them as the resume replays them, counting nothing twice. After a reload both pages show the
// same state from history. Every page runs under the strict Content-Security-Policy chat.mjs
// uses.
//
// SCREENSHOTS=DIR writes changes-desktop.png and changes-phone.png (375 px wide) of the
// conversation there (docs/screenshots has them; emoji show in colour with Debian's
// fonts-noto-color-emoji installed). STATIC_DIR=DIR serves the page's files from DIR instead of the
// node (to try a change to bins/static without rebuilding the binary).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
// The page's own MessagePack codec, to read the frames of a tapped socket (a data: URL, as in
// chat.mjs, for Node before 20.19).
const { mpDecode } = await import('data:text/javascript,' + encodeURIComponent(
  await readFile(join(here, '../../static/msgpack.js'), 'utf8')));

const BASE = (process.env.SWITCHBOARD_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const SCREENSHOTS = process.env.SCREENSHOTS || '';
const STATIC = process.env.STATIC_DIR || '';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-features=LocalNetworkAccessChecks'];
const WAIT = 5000;
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
  + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

const contexts = [];
const dirs = [];
const logs = [];

async function openUser(label, tap) {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-changes-'));
  dirs.push(dir);
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ARGS,
    viewport: { width: 1100, height: 760 },
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
    // Every frame the node sends this page, decoded; `cut` ends the connection as a node that
    // dies would (no `disconnect` frame), and the page reconnects and resumes. While `hold` is a
    // promise, a new connection reaches the node only once it settles.
    await page.routeWebSocket(/\/ws/, async (ws) => {
      if (tap.hold) await tap.hold;
      const server = ws.connectToServer();
      ws.onMessage((m) => server.send(m));
      server.onMessage((m) => { tap.toPage.push(mpDecode(m)); ws.send(m); });
      tap.cut = () => { ws.close({ code: 1011, reason: 'node lost' }); server.close(); };
    });
  }
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
// A stored message of the conversation, by (part of) its text.
const msg = (page, text) => page.locator('#messages .msg[data-seq]:not([data-pending])', { hasText: text }).first();

async function sendText(page, text) {
  await page.fill('#compose', text);
  await page.click('#send');
  await msg(page, text).waitFor();
  await page.locator('#messages .msg[data-pending]').waitFor({ state: 'detached' });
}

async function until(probe, what, ms = WAIT) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function expect(actual, expected, what) {
  const ok = expected instanceof RegExp ? expected.test(actual) : actual === expected;
  if (!ok) throw new Error(`${what}: expected ${expected}, got ${JSON.stringify(actual)}`);
}

// Opens the action bar of the message with `text` (hovering it, as a person does) and clicks
// `action` (reply, react, edit, delete).
async function act(page, text, action) {
  const m = msg(page, text);
  await m.hover();
  await m.locator(`.actions [data-action="${action}"]`).click();
}

// The reaction chips of a message as "emoji count" strings, "*" after the ones that are mine.
const chips = (page, text) => msg(page, text).locator('.reactions .chip').evaluateAll((cs) =>
  cs.map((c) => c.dataset.emoji + ' ' + c.querySelector('.count').textContent + (c.getAttribute('aria-pressed') === 'true' ? '*' : '')).join(', '));

async function chipsAre(page, text, expected, who) {
  try {
    await until(async () => (await chips(page, text)) === expected, `${who} shows chips "${expected}"`);
  } catch (e) {
    throw new Error(e.message + `; it shows "${await chips(page, text)}"`);
  }
}

async function statusIs(page, pattern, what) {
  try {
    await until(async () => pattern.test(await page.textContent('#status')), what);
  } catch (e) {
    throw new Error(e.message + '; #status: ' + JSON.stringify(await page.textContent('#status')));
  }
}

// --------------------------------------------------------------------------------- the steps
async function setUp(a, b, suffix) {
  await signUp(a, 'alice_' + suffix);
  await a.fill('#display-name', 'Alice');
  await a.click('#save-profile');
  await statusIs(a, /^Profile saved$/, 'the display name saved');
  await a.fill('#room-name', 'changes ' + suffix);
  await a.click('#create-room');
  const roomButton = a.locator('#rooms button[aria-current="true"]');
  await roomButton.waitFor();
  const roomId = await roomButton.getAttribute('data-room-id');
  await roomReady(a, roomId);
  await signUp(b, 'bob_' + suffix);
  await b.fill('#display-name', 'Bob');
  await b.click('#save-profile');
  await statusIs(b, /^Profile saved$/, 'the display name saved');
  await b.fill('#join-id', roomId);
  await b.click('#join');
  await roomReady(b, roomId);
  await sendText(a, 'Lunch at noon?');
  await msg(b, 'Lunch at noon?').waitFor();
  // Bob's page resolves Alice's name after the message shows (a `profiles` round trip): the
  // steps below expect her name, not her account's.
  await until(async () => /Alice/.test(await msg(b, 'Lunch at noon?').textContent()), "Bob's page names Alice");
  return roomId;
}

async function reply(a, b) {
  // By keyboard: from the message, Tab reaches its action bar, and Enter on Reply starts a reply.
  await msg(b, 'Lunch at noon?').focus();
  await b.keyboard.press('Tab');
  expect(await b.evaluate(() => document.activeElement.dataset.action), 'reply', 'the focus after Tab from a message');
  await until(async () => (await msg(b, 'Lunch at noon?').locator('.actions').evaluate((e) => getComputedStyle(e).opacity)) === '1',
    'the action bar of the message holding the focus shows');
  await b.keyboard.press('Enter');
  const bar = b.locator('#reply-bar');
  await bar.waitFor();
  try {
    await until(async () => /Replying to Alice.*Lunch at noon\?/.test(await bar.textContent()), 'the reply bar names Alice');
  } catch (e) {
    throw new Error(e.message + '; it reads ' + JSON.stringify(await bar.textContent()));
  }
  expect(await b.evaluate(() => document.activeElement.id), 'compose', 'the focus after Reply');
  // Escape in the compose box cancels the reply; the × button too.
  await b.press('#compose', 'Escape');
  await bar.waitFor({ state: 'hidden' });
  await act(b, 'Lunch at noon?', 'reply');
  await b.click('#cancel-reply');
  await bar.waitFor({ state: 'hidden' });
  await act(b, 'Lunch at noon?', 'reply');
  await sendText(b, 'Yes, see you there');
  await bar.waitFor({ state: 'hidden' });
  for (const [page, who] of [[a, 'A'], [b, 'B']]) {
    const quote = msg(page, 'Yes, see you there').locator('.quote');
    await quote.waitFor();
    expect(await quote.textContent(), 'AliceLunch at noon?', `${who}'s quote (name and first line)`);
  }
  // The quote leads to the quoted message.
  await msg(a, 'Yes, see you there').locator('.quote').click();
  await a.locator('#messages .msg.flash', { hasText: 'Lunch at noon?' }).waitFor();
}

async function react(a, b) {
  const text = 'Yes, see you there';
  await act(a, text, 'react');
  // The palette takes the focus (keyboard use) and Escape closes it.
  await a.locator('#messages .palette button:focus').waitFor();
  await a.keyboard.press('Escape');
  await a.locator('#messages .palette').waitFor({ state: 'detached' });
  expect(await a.evaluate(() => document.activeElement.dataset.action), 'react', 'the focus after Escape in the palette');
  await act(a, text, 'react');
  await msg(a, text).locator('.palette [data-emoji="👍"]').click();
  await chipsAre(a, text, '👍 1*', 'A');
  await chipsAre(b, text, '👍 1', 'B');
  // B adds theirs on the chip, and takes it away again.
  await msg(b, text).locator('.chip[data-emoji="👍"]').click();
  await chipsAre(b, text, '👍 2*', 'B');
  await chipsAre(a, text, '👍 2*', 'A');
  await msg(b, text).locator('.chip[data-emoji="👍"]').click();
  await chipsAre(b, text, '👍 1', 'B');
  await chipsAre(a, text, '👍 1*', 'A');
  // A toggles theirs off: no chip left anywhere.
  await msg(a, text).locator('.chip[data-emoji="👍"]').click();
  await chipsAre(a, text, '', 'A');
  await chipsAre(b, text, '', 'B');
  // Reactions left for the rest of the test (and the screenshots).
  await act(a, text, 'react');
  await msg(a, text).locator('.palette [data-emoji="🎉"]').click();
  await act(b, text, 'react');
  await msg(b, text).locator('.palette [data-emoji="🎉"]').click();
  await act(b, text, 'react');
  await msg(b, text).locator('.palette [data-emoji="❤️"]').click();
  await chipsAre(a, text, '🎉 2*, ❤️ 1', 'A');
  await chipsAre(b, text, '🎉 2*, ❤️ 1*', 'B');
}

async function edit(a, b) {
  // Only one's own messages offer Edit and Delete.
  await msg(b, 'Lunch at noon?').hover();
  expect(await msg(b, 'Lunch at noon?').locator('.actions [data-action="edit"]').count(), 0, "Edit on another's message");
  await act(a, 'Lunch at noon?', 'edit');
  const editor = a.locator('#messages textarea.editor');
  await editor.waitFor();
  expect(await editor.inputValue(), 'Lunch at noon?', 'the editor holds the text');
  expect(await a.evaluate(() => document.activeElement.className), 'editor', 'the focus after Edit');
  // Escape cancels, and the text stays.
  await editor.fill('never saved');
  await editor.press('Escape');
  await editor.waitFor({ state: 'detached' });
  expect(await a.evaluate(() => document.activeElement.dataset.action), 'edit', 'the focus after Escape in the editor');
  expect(await msg(a, 'Lunch at noon?').locator('.text').textContent(), 'Lunch at noon?', 'the text after Escape');
  await act(a, 'Lunch at noon?', 'edit');
  await editor.fill('Lunch at 12:30?');
  await editor.press('Enter');
  for (const [page, who] of [[a, 'A'], [b, 'B']]) {
    const m = msg(page, 'Lunch at 12:30?');
    try {
      await m.locator('.meta .edited').waitFor({ timeout: WAIT });
    } catch (e) {
      throw new Error(`${who} does not show the edit: ` + JSON.stringify(await page.textContent('#messages')));
    }
    expect(await m.locator('.text').textContent(), 'Lunch at 12:30?', `${who}'s edited text`);
    // The reply's quote shows the quoted message as it is now.
    expect(await msg(page, 'Yes, see you there').locator('.quote-text').textContent(), 'Lunch at 12:30?', `${who}'s quote after the edit`);
  }
}

async function remove(a, b) {
  await sendText(a, 'Oops, wrong room');
  await msg(b, 'Oops, wrong room').waitFor();
  // A refusal reads as words: an eleventh emoji of one user on a message is 3007.
  await a.evaluate(async () => {
    const sb = window.switchboard;
    const r = sb.state.rooms.get(sb.state.current);
    const m = r.msgs.find((x) => x.text === 'Oops, wrong room');
    for (const e of ['🍎', '🍐', '🍊', '🍋', '🍌', '🍉', '🍇', '🍓', '🫐', '🍒', '🍑']) await sb.changes.react(r, m, e);
  });
  await statusIs(a, /^Cannot react: Too many reactions on this message$/, 'A says why the 11th reaction was refused');
  await until(async () => (await msg(b, 'Oops, wrong room').locator('.chip').count()) === 10, 'B shows 10 chips');
  await act(a, 'Oops, wrong room', 'delete');
  // Delete asks first; Cancel keeps the message.
  await msg(a, 'Oops, wrong room').locator('[data-action="cancel-delete"]').click();
  await act(a, 'Oops, wrong room', 'delete');
  await msg(a, 'Oops, wrong room').locator('[data-action="confirm-delete"]').click();
  for (const [page, who] of [[a, 'A'], [b, 'B']]) {
    await until(async () => (await page.locator('#messages .msg.deleted .text.tombstone', { hasText: 'This message was deleted' }).count()) === 1,
      `${who} shows the tombstone`);
    expect(await page.locator('#messages .msg', { hasText: 'Oops, wrong room' }).count(), 0, `${who} still shows the deleted text`);
    expect(await page.locator('#messages .msg.deleted .chip').count(), 0, `${who}'s chips on the deleted message`);
  }
}

// B's connection drops; what A does meanwhile reaches B's page as the resume replays it, and
// what B had seen before is not counted again.
async function resume(a, b, tap) {
  const text = 'Yes, see you there';
  const opened = tap.toPage.filter((f) => f.type === 'hello').length;
  let release;
  tap.hold = new Promise((ok) => { release = ok; });
  tap.cut();
  await b.waitForSelector('body[data-conn="closed"]');
  await act(a, text, 'react');
  await msg(a, text).locator('.palette [data-emoji="😂"]').click();
  await chipsAre(a, text, '🎉 2*, ❤️ 1, 😂 1*', 'A');
  await sendText(a, 'Table for two is booked');
  await act(a, 'Table for two is booked', 'edit');
  await a.locator('#messages textarea.editor').fill('Table for two is booked (window seat)');
  await a.locator('#messages textarea.editor').press('Enter');
  await msg(a, 'window seat').locator('.meta .edited').waitFor();
  tap.hold = null;
  release();
  await until(async () => tap.toPage.filter((f) => f.type === 'hello').length > opened, 'B reconnects', 15000);
  await b.waitForSelector('body[data-conn="open"]');
  await msg(b, 'Table for two is booked (window seat)').locator('.meta .edited').waitFor();
  await chipsAre(b, text, '🎉 2*, ❤️ 1*, 😂 1', 'B after the resume');
  const replay = tap.toPage.slice(tap.toPage.findLastIndex((f) => f.type === 'resume'));
  expect(replay[0] && replay[0].outcome, 'recovered', 'the resume');
  expect(replay.filter((f) => f.type === 'reaction' || f.type === 'edited').length >= 2, true, 'changes replayed by the resume');
}

// After a reload, each page shows the conversation from history as it is now.
async function reload(a, b, roomId) {
  const expected = {
    A: { chips: '🎉 2*, ❤️ 1, 😂 1*' },
    B: { chips: '🎉 2*, ❤️ 1*, 😂 1' },
  };
  for (const [page, who] of [[a, 'A'], [b, 'B']]) {
    await page.reload();
    await page.waitForSelector('body[data-conn="open"]');
    if ((await page.getAttribute('#chat', 'data-room-id')) !== roomId) await page.click(`#rooms button[data-room-id="${roomId}"]`);
    await roomReady(page, roomId);
    await msg(page, 'Yes, see you there').waitFor();
    const quote = msg(page, 'Yes, see you there').locator('.quote');
    // (Names come in a moment after the messages.)
    await until(async () => (await quote.textContent()) === 'AliceLunch at 12:30?', `${who}'s quote after a reload`)
      .catch(async (e) => { throw new Error(e.message + ': ' + JSON.stringify(await quote.textContent())); });
    expect(await msg(page, 'Lunch at 12:30?').locator('.meta .edited').count(), 1, `${who}'s edited mark after a reload`);
    expect(await page.locator('#messages .msg.deleted .tombstone').count(), 1, `${who}'s tombstone after a reload`);
    await chipsAre(page, 'Yes, see you there', expected[who].chips, `${who} after a reload`);
  }
}

async function screenshots(a) {
  await a.mouse.move(0, 0);
  await a.evaluate(() => document.activeElement && document.activeElement.blur());
  // The palette open on one message, and a reply being written, to show them too.
  await act(a, 'Table for two', 'reply');
  await a.fill('#compose', 'Great, thanks!');
  await act(a, 'Table for two', 'react');
  await a.mouse.move(0, 0);
  await a.screenshot({ path: join(SCREENSHOTS, 'changes-desktop.png') });
  await a.keyboard.press('Escape');
  await a.setViewportSize({ width: 375, height: 760 });
  await a.locator('#messages').evaluate((box) => { box.scrollTop = box.scrollHeight; });
  await msg(a, 'Yes, see you there').hover();
  await a.screenshot({ path: join(SCREENSHOTS, 'changes-phone.png') });
  await a.setViewportSize({ width: 1100, height: 760 });
}

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

try {
  const suffix = Math.random().toString(36).slice(2, 8);
  const tap = { toPage: [], cut: null, hold: null };
  const a = await openUser('A');
  const b = await openUser('B', tap);
  const roomId = await setUp(a, b, suffix);
  await step('a reply shows its quote to both users; the reply bar cancels', () => reply(a, b));
  await step('a reaction shows as a chip on both pages and toggles on and off', () => react(a, b));
  await step('an edit shows its new text and an edited mark to the other user', () => edit(a, b));
  await step('a delete shows a tombstone to the other user; refusals read as words', () => remove(a, b));
  await step('changes made while a page was away arrive with its resume, none counted twice', () => resume(a, b, tap));
  await step('after a reload both pages show the same state from history', () => reload(a, b, roomId));
  if (SCREENSHOTS) await step('screenshots', () => screenshots(a));
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
for (const d of dirs) await rm(d, { recursive: true, force: true }).catch(() => {});
console.log(`${results.length - failures} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
