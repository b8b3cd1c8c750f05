// End-to-end browser test of the web chat page served at `/`.
//
//   cd bins/tests/browser && npm ci
//   SWITCHBOARD_URL=http://127.0.0.1:8080 SCREENSHOT=/tmp/chat.png SCREENSHOT_FAILED=/tmp/failed.png \
//     node chat.mjs
//
// Two users in two separate browser profiles: A signs up and creates a public room, B signs up
// and joins it by id, A says hello, B sees it, B types (A sees the typing indicator) and replies.
// Then A's page refuses over-limit messages with their reason (no reconnect loop) and deletes
// them, and stops rather than loops after a close the server marks final; D's page retries a
// message that failed; E's page, whose socket the test taps, resends a message whose `sent` was
// lost with the connection and shows a message that comes again at a new position once; C's page
// checks the sign-in and sign-up error texts. Last, people by name: A's display name shows as
// the sender of A's messages in B's page, B opens a direct conversation with A by picking A from
// the matches of a typed name, and A invites B into a private room by typing B's name. Every page runs under a strict
// Content-Security-Policy added here, so a page that needs inline script or style fails.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

// The page's own MessagePack codec, to read and write frames on a tapped socket. Imported from its
// source as a data: URL, since Node before 20.19 takes a `.js` file outside a module package for
// CommonJS.
const { mpDecode, mpEncode } = await import('data:text/javascript,' + encodeURIComponent(
  await readFile(join(dirname(fileURLToPath(import.meta.url)), '../../static/msgpack.js'), 'utf8')));

const BASE = (process.env.SWITCHBOARD_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const SCREENSHOT = process.env.SCREENSHOT || '';
const SCREENSHOT_FAILED = process.env.SCREENSHOT_FAILED || '';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
  // A response the test fulfils (to add its CSP) has no address space, so Chromium would take the
  // page for a public one and block its WebSocket to 127.0.0.1.
  '--disable-features=LocalNetworkAccessChecks'];
const WAIT = 5000;
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
  + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const contexts = [];
const dirs = [];
const logs = [];
const sockets = new Map(); // label -> {opened, closed}

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
  // The page must work under a strict policy; the server's own header (if any) applies as well.
  await context.route(BASE + '/**', async (route) => {
    const response = await route.fetch();
    await route.fulfill({ response, headers: { ...response.headers(), 'content-security-policy': CSP } });
  });
  await context.addInitScript(() => document.addEventListener('securitypolicyviolation',
    (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`)));
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(10000);
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') logs.push(`[${label} console.${m.type()}] ${m.text()}`); });
  page.on('pageerror', (e) => logs.push(`[${label} pageerror] ${e.message}`));
  const count = { opened: 0, closed: 0 };
  sockets.set(label, count);
  page.on('websocket', (ws) => {
    count.opened++;
    ws.on('close', () => { count.closed++; logs.push(`[${label}] websocket closed`); });
  });
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

// The failed (unsent) message whose text starts with `prefix`, once it shows a reason.
async function failed(page, prefix) {
  const msg = page.locator('#messages .msg.failed', { hasText: prefix });
  try {
    await msg.locator('.reason').waitFor({ timeout: WAIT });
  } catch (e) {
    throw new Error(`no failed message "${prefix}…" with a reason within ${WAIT} ms; #messages: `
      + JSON.stringify((await page.textContent('#messages')).slice(0, 300)) + '; #status: '
      + JSON.stringify(await page.textContent('#status')) + '; body: ' + await page.getAttribute('body', 'data-conn'));
  }
  return msg;
}

function expectText(actual, pattern, what) {
  if (!pattern.test(actual)) throw new Error(`${what}: expected ${pattern}, got ${JSON.stringify(actual)}`);
}

async function chat(a, b, suffix) {
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
  if (SCREENSHOT) await a.screenshot({ path: SCREENSHOT, fullPage: true });
  return roomId;
}

// A 16×16 PNG: the node stores it, makes its thumbnail, and the other member's page shows it.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAABlklEQVR4nBXRURVEIQhFUSMYgQhGMAIRiGCEE8EIRiACEYhABCLMG7/ZrMt1jMEcyGAN9kAHNjgDBnfwBj6IQQ5q0IMxJnMikzXZE53Y5EyY3Mmb+CQmOalJzw8IUxBhCVtQwYQjIFzhCS6EkEIJLR9YzIUs1mIvdGGLs2BxF2/hi1jkoha9PrCZG9mszd7oxjZnw+Zu3sY3sclNbXp/QJmKKEvZiiqmHAXlKk9xJZRUSmn9gDENMZaxDTXMOAbGNZ7hRhhplNH2gcM8yGEd9kEPdjgHDvfwDn6IQx7q0OcD/wK/Sr4jv9hfkG/1N/x/Fx44BCQU9Pc94zIvclmXfdGLXc79j9/Lu/glLnmpS98PPOZDHuuxH/qwx3n/5ffxHv6IRz7q0e8DznTEWc521DHn+D/KdZ7jTjjplNP+gWAGEqxgBxpYcOIf/AYv8CCCDCro+EAyE0lWshNNLDn5P/MmL/Ekkkwq6fxAMQspVrELLaw49S/lFq/wIoosquj6QDMbaVazG22sOf2v8Dav8SaabKrp5geIAnAQEbP2+wAAAABJRU5ErkJggg==', 'base64');

async function attach(a, b) {
  await a.setInputFiles('#attach', { name: 'dot.png', mimeType: 'image/png', buffer: PNG });
  await a.locator('#attaching li', { hasText: 'dot.png · ready' }).waitFor({ timeout: WAIT });
  await a.fill('#compose', 'a picture');
  await a.click('#send');
  await a.locator('#messages .msg[data-seq]', { hasText: 'a picture' }).first().waitFor();
  await sees(b, 'a picture', 'B');
  const msg = b.locator('#messages .msg[data-seq]', { hasText: 'a picture' }).first();
  await msg.locator('a.file', { hasText: 'dot.png (463 bytes)' }).waitFor({ timeout: WAIT });
  // The preview is the node's thumbnail, fetched through a signed URL, and decodes.
  await b.waitForFunction((text) => [...document.querySelectorAll('#messages .msg')]
    .some((m) => m.textContent.includes(text) && [...m.querySelectorAll('img.preview')].some((i) => i.complete && i.naturalWidth > 0)),
  'a picture', { timeout: WAIT });
  // A file of a type the node does not take is refused before any upload, with its reason.
  await a.setInputFiles('#attach', { name: 'run.exe', mimeType: 'application/x-msdownload', buffer: Buffer.from('MZ') });
  await a.locator('#attaching li.failed', { hasText: 'run.exe · not attached' }).waitFor({ timeout: WAIT });
  await a.locator('#attaching li.failed button').click();
}

// Over `hello`'s limits, a message is refused in the page with its reason; nothing is sent, so
// the server does not close the connection and the page does not reconnect or resend.
async function overLimit(a, b) {
  const before = { ...sockets.get('A') };
  const huge = 'huge ' + 'x'.repeat(70 * 1024); // over max_frame_bytes (64 KiB)
  const wide = 'wide ' + 'é'.repeat(8200); // 8,205 characters, but 16,405 UTF-8 bytes > 16 KiB
  for (const text of [huge, wide]) {
    await a.fill('#compose', text);
    await a.click('#send');
    const msg = await failed(a, text.slice(0, 5));
    expectText(await msg.locator('.reason').textContent(), /^too long: [\d,]+ bytes, the limit is 16,384 bytes \(16 KiB\)$/, 'reason');
    await msg.locator('button.retry').waitFor();
    await msg.locator('button.delete').waitFor();
  }
  if (SCREENSHOT_FAILED) await a.screenshot({ path: SCREENSHOT_FAILED });
  // Any command's frame is checked against max_frame_bytes, e.g. a room name of 70 KiB.
  await a.fill('#room-name', 'r'.repeat(70 * 1024));
  await a.click('#create-room');
  await a.waitForFunction(() => document.getElementById('status').textContent.startsWith('frame too big'));
  expectText(await a.textContent('#status'), /^frame too big: [\d,]+ bytes, the limit is 65,536 bytes \(64 KiB\)$/, '#status');
  await a.fill('#room-name', '');
  // Retrying an over-limit message refuses it again, still without touching the connection.
  await a.locator('#messages .msg.failed', { hasText: 'wide ' }).locator('button.retry').click();
  await failed(a, 'wide ');
  await a.waitForTimeout(500);
  const now = sockets.get('A');
  if (now.opened !== before.opened || now.closed !== before.closed) {
    throw new Error(`the connection was closed or reopened: ${JSON.stringify(before)} -> ${JSON.stringify(now)}; `
      + '#status: ' + JSON.stringify(await a.textContent('#status')));
  }
  if (await a.getAttribute('body', 'data-conn') !== 'open') throw new Error('A is no longer connected');
  if (await a.isDisabled('#compose')) throw new Error('the compose box is disabled');
  // Delete removes them from the page; B never saw either.
  for (const prefix of ['huge ', 'wide ']) {
    await a.locator('#messages .msg.failed', { hasText: prefix }).locator('button.delete').click();
    await a.locator('#messages .msg', { hasText: prefix }).waitFor({ state: 'detached' });
  }
  await sendText(a, 'after the refused ones');
  await sees(b, 'after the refused ones', 'B');
  if ((await b.textContent('#messages')).includes('huge ')) throw new Error('B saw an over-limit message');
}

// A message in flight when the connection closes for good fails with that reason; after
// Reconnect it is not resent by itself, and Retry sends it (same cmid) once. The close is made
// here, in place of the server, on the frame that carries the message, which never reaches it.
async function retryFailed(d, b, suffix, roomId) {
  let trap = true;
  await d.routeWebSocket(/\/ws/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((m) => {
      if (trap && Buffer.from(m).includes('retry me')) {
        trap = false;
        ws.close({ code: 1009, reason: 'message too big' });
      } else server.send(m);
    });
  });
  await signUp(d, 'dave_' + suffix);
  await d.fill('#join-id', roomId);
  await d.click('#join');
  await roomReady(d, roomId);
  await d.fill('#compose', 'retry me');
  await d.click('#send');
  const msg = await failed(d, 'retry me');
  expectText(await msg.locator('.reason').textContent(), /the connection closed \(close 1009: message too big\)/, 'reason');
  await d.waitForSelector('body[data-conn="stopped"]');
  await d.click('#reconnect');
  await d.waitForSelector('body[data-conn="open"]');
  await roomReady(d, roomId);
  await d.waitForTimeout(500);
  await failed(d, 'retry me');
  await msg.locator('button.retry').click();
  await d.locator('#messages .msg[data-seq]', { hasText: 'retry me' }).waitFor();
  await d.locator('#messages .msg[data-pending]', { hasText: 'retry me' }).waitFor({ state: 'detached' });
  await sees(b, 'retry me', 'B');
  const copies = await b.locator('#messages .msg[data-seq]', { hasText: 'retry me' }).count();
  if (copies !== 1) throw new Error(`B has ${copies} copies of the retried message`);
}

// Taps a page's WebSocket: every frame each way, decoded; server frames for which `drop` returns
// true are kept from the page (in `dropped`); `inject` hands the page a frame of the test's own,
// and `cut` ends the connection as a node that dies would, with no `disconnect` frame.
async function tapSocket(page) {
  const tap = { toServer: [], toPage: [], dropped: [], drop: null, inject: null, cut: null };
  await page.routeWebSocket(/\/ws/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((m) => { tap.toServer.push(mpDecode(m)); server.send(m); });
    server.onMessage((m) => {
      const f = mpDecode(m);
      if (tap.drop && tap.drop(f)) { tap.dropped.push(f); return; }
      tap.toPage.push(f);
      ws.send(m);
    });
    tap.inject = (frame) => ws.send(Buffer.from(mpEncode(frame)));
    tap.cut = () => { ws.close({ code: 1011, reason: 'node lost' }); server.close(); };
  });
  return tap;
}

// Polls `probe` until it returns something truthy, for at most `ms`.
async function until(probe, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// The room's stored messages, read by `page`'s user through the HTTP API.
const stored = (page, roomId) => page.evaluate(async (id) => {
  const res = await fetch('/api/rooms/' + id + '/history?limit=200',
    { headers: { Authorization: 'Bearer ' + localStorage.getItem('switchboard.token') } });
  return (await res.json()).messages;
}, roomId);

// PROTOCOL §8.2: the echo of one's own message comes before `sent`, and only `sent` says it is
// stored. Here the `sent` is lost with the connection after the echo arrived: the page keeps the
// message pending, resends it with the same cmid after reconnecting (not marked `first`), and
// shows it once, sent, where it was stored once.
async function resendUnconfirmed(e, b, tap, suffix, roomId) {
  await signUp(e, 'erin_' + suffix);
  await e.fill('#join-id', roomId);
  await e.click('#join');
  await roomReady(e, roomId);
  const text = 'sent as the node went away';
  const sends = () => tap.toServer.filter((f) => f.type === 'send' && f.text === text);
  tap.drop = (f) => f.type === 'sent' && sends().some((s) => s.cmid === f.cmid);
  await e.fill('#compose', text);
  await e.click('#send');
  const held = await until(() => tap.dropped[0], WAIT, 'no `sent` reply came for the message');
  const { cmid } = held;
  const copies = e.locator(`#messages .msg[data-cmid="${cmid}"]`);
  await e.locator(`#messages .msg[data-seq][data-cmid="${cmid}"]`).waitFor({ timeout: WAIT }); // the echo
  const pendingAfterEcho = await e.locator(`#messages .msg[data-cmid="${cmid}"][data-pending]`).count();
  tap.drop = null;
  tap.cut();
  try {
    await until(() => sends().length >= 2, 2 * WAIT, 'the page did not send the message again after reconnecting');
  } catch (err) {
    throw new Error(`${err.message}; sends of cmid ${cmid}: ${sends().length}; body: `
      + `${await e.getAttribute('body', 'data-conn')}; #messages: ${JSON.stringify(await e.textContent('#messages'))}`);
  }
  const [first, again] = sends();
  if (again.cmid !== cmid || first.cmid !== cmid) throw new Error(`the resend has another cmid: ${first.cmid}, then ${again.cmid}`);
  if (first.first !== true || again.first) throw new Error(`\`first\`: ${first.first} on the first send, ${again.first} on the resend`);
  if (!pendingAfterEcho) throw new Error('after the echo, without `sent`, the page no longer showed the message as pending');
  const sent = await until(() => tap.toPage.find((f) => f.type === 'sent' && f.cmid === cmid), WAIT, 'no `sent` for the resend');
  if (!sent.duplicate || sent.pos.epoch !== held.pos.epoch || sent.pos.seq !== held.pos.seq) {
    throw new Error(`the resend was not recognised: ${JSON.stringify(sent)} after ${JSON.stringify(held)}`);
  }
  await e.locator(`#messages .msg[data-pending][data-cmid="${cmid}"]`).waitFor({ state: 'detached', timeout: WAIT });
  if (await copies.count() !== 1) throw new Error(`E shows ${await copies.count()} copies of the message`);
  await sees(b, text, 'B');
  const seenByB = await b.locator(`#messages .msg[data-cmid="${cmid}"]`).count();
  const kept = (await stored(b, roomId)).filter((m) => m.cmid === cmid).length;
  if (seenByB !== 1 || kept !== 1) throw new Error(`B shows ${seenByB} copies, the store holds ${kept}`);
}

// PROTOCOL §8.2: a message delivered live whose write is then lost comes again, when its sender
// resends it, at a new position (a new epoch: the room restarted) with the same sender and cmid.
// The page moves the copy it shows there rather than showing it twice. The second copy is made
// here, on E's socket, as the node would send it after such a crash.
async function reconcileMoved(a, e, tap, roomId) {
  const text = 'shown once wherever it lands';
  await sendText(a, text);
  const live = await until(() => tap.toPage.find((f) => f.type === 'message' && f.text === text), WAIT,
    'E was not sent the message');
  await e.locator(`#messages .msg[data-cmid="${live.cmid}"]`).waitFor({ timeout: WAIT });
  const moved = { ...live, pos: { epoch: live.pos.epoch + 1, seq: 1 } };
  tap.inject(moved);
  const at = `#messages .msg[data-cmid="${live.cmid}"][data-epoch="${moved.pos.epoch}"][data-seq="1"]`;
  await e.locator(at).waitFor({ timeout: WAIT }).catch(() => {});
  const shown = await e.$$eval(`#messages .msg[data-cmid="${live.cmid}"]`,
    (els) => els.map((m) => m.dataset.epoch + ':' + m.dataset.seq));
  const want = moved.pos.epoch + ':1';
  if (shown.length !== 1 || shown[0] !== want) {
    throw new Error(`E shows the message at ${JSON.stringify(shown)}; expected once, at ${want}`);
  }
}

// A close the server marks final (`disconnect` with `reconnect: false`, here 1009 after a frame
// over 64 KiB that the page did not make) stops the page: no reconnect loop, a Reconnect button.
async function finalClose(a, b, roomId) {
  await a.evaluate(() => window.switchboard.state.ws.send(new Uint8Array(66 * 1024)));
  await a.waitForSelector('body[data-conn="stopped"]', { timeout: WAIT });
  expectText(await a.textContent('#status'), /1009.*Not reconnecting/, '#status');
  await a.waitForSelector('#reconnect', { state: 'visible' });
  const opened = sockets.get('A').opened;
  await a.waitForTimeout(3000); // the first automatic reconnect would come after 1 s
  if (sockets.get('A').opened !== opened) throw new Error('the page reconnected by itself after 1009');
  await a.click('#reconnect');
  await a.waitForSelector('body[data-conn="open"]');
  await a.waitForSelector('#reconnect', { state: 'hidden' });
  await roomReady(a, roomId);
  await sendText(a, 'back after reconnect');
  await sees(b, 'back after reconnect', 'B');
}

// People by name (PROTOCOL §6.15): never "user N" where a name is known.
async function peopleByName(a, b, suffix, roomId) {
  const display = 'Alice Display ' + suffix;
  await a.fill('#display-name', '  ' + display + ' ');
  await a.fill('#status-text', 'testing names');
  await a.click('#save-profile');
  await a.waitForFunction(() => document.getElementById('status').textContent === 'Profile saved');
  // B watches A (A wrote in B's room): `profile_changed` renames A's messages in B's page.
  const meta = b.locator('#messages .msg[data-seq]', { hasText: 'hello from A' }).first().locator('.meta');
  try {
    await until(async () => (await meta.textContent()).includes(display), WAIT, 'no display name');
  } catch (e) {
    throw new Error(`B does not show A's message as from "${display}": ${JSON.stringify(await meta.textContent())}`);
  }
  const senders = await b.$$eval('#messages .msg[data-seq] .meta', (els) => els.map((m) => m.textContent));
  if (senders.some((m) => /user \d+/.test(m))) throw new Error(`a sender shown by number: ${JSON.stringify(senders)}`);
  await b.locator('#presence li', { hasText: display + ' (online) · testing names' }).waitFor({ timeout: WAIT });

  // B types part of A's account name and picks A among the matches.
  await b.fill('#direct-name', 'alice_' + suffix.slice(0, 3));
  const match = b.locator('#direct-matches button', { hasText: display + ' (alice_' + suffix + ')' });
  await match.waitFor({ timeout: WAIT });
  await match.click();
  await b.waitForFunction((d) => document.getElementById('room-title').textContent.startsWith(d + ' (direct)'),
    display, { timeout: WAIT });
  await b.locator('#rooms button[aria-current="true"]', { hasText: display }).waitFor();
  const titles = await b.$$eval('#rooms button', (els) => els.map((e) => e.textContent));
  if (titles.some((t) => /^\d+:\d+/.test(t))) throw new Error(`a direct conversation titled by ids: ${JSON.stringify(titles)}`);

  // A invites B into a private room by B's full account name, typed and submitted.
  const privateName = 'private ' + suffix;
  await a.fill('#room-name', privateName);
  await a.setChecked('#room-private', true);
  await a.click('#create-room');
  const created = a.locator('#rooms button[aria-current="true"]', { hasText: privateName });
  await created.waitFor();
  const privateId = await created.getAttribute('data-room-id');
  await roomReady(a, privateId);
  await a.fill('#invite-name', 'BOB_' + suffix);
  await a.click('#invite');
  await a.waitForFunction(() => document.getElementById('status').textContent.startsWith('Invited'), null, { timeout: WAIT });
  expectText(await a.textContent('#status'), new RegExp('^Invited bob_' + suffix + ' into ' + privateName + '$'), '#status');
  await b.fill('#join-id', privateId);
  await b.click('#join');
  await roomReady(b, privateId);
}

// Sign-in never says which of name and password was wrong; sign-up names the broken rule.
async function authErrors(c, suffix) {
  const attempt = async (button, name, password) => {
    await c.evaluate(() => { document.getElementById('status').textContent = ''; });
    await c.fill('#name', name);
    await c.fill('#password', password);
    await c.click(button);
    await c.waitForFunction(() => document.getElementById('status').textContent !== '');
    return c.textContent('#status');
  };
  for (const [name, password] of [['nobody_' + suffix, 'some-password'], ['alice_' + suffix, 'wrong-password']]) {
    const status = await attempt('#signin', name, password);
    expectText(status, /^Sign in failed: wrong name or password$/, `sign-in as ${name}`);
  }
  const rules = [
    ['bad name!', 'long-enough-pw', /only letters .*digits, '_', '-' and '\.'/],
    ['x'.repeat(33), 'long-enough-pw', /1 to 32 characters/],
    ['', 'long-enough-pw', null], // the page asks for a name itself
    ['carol_' + suffix, 'short', /8 to 128 bytes/],
    ['alice_' + suffix.toUpperCase(), 'long-enough-pw', /taken/],
  ];
  for (const [name, password, rule] of rules) {
    const status = await attempt('#signup', name, password);
    expectText(status, rule || /Enter a name and a password/, `sign-up as ${JSON.stringify(name)}`);
    if (/invalid (argument|token)/.test(status)) throw new Error(`sign-up shows a bare code text: ${status}`);
  }
}

// Steps run in order on shared pages; after a failure the rest still run, for their diagnostics.
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
  const a = await openUser('A');
  const b = await openUser('B');
  let roomId;
  await step('two users chat through the web page', async () => { roomId = await chat(a, b, suffix); });
  if (roomId) {
    await step('a picture attached in one page shows as a preview in the other', () => attach(a, b));
    await step('an over-limit message is refused in the page with its reason, no reconnect', () => overLimit(a, b));
    await step('a final close (1009) stops the page until Reconnect', () => finalClose(a, b, roomId));
    const d = await openUser('D');
    await step('a failed message is sent again by Retry, and only then', () => retryFailed(d, b, suffix, roomId));
    const e = await openUser('E');
    const tap = await tapSocket(e);
    await step('a message whose `sent` was lost with the connection is resent, same cmid, and shown once',
      () => resendUnconfirmed(e, b, tap, suffix, roomId));
    await step('a message that comes again at a new position (same sender and cmid) is shown once',
      () => reconcileMoved(a, e, tap, roomId));
    await step('people show by name; a direct conversation and an invite by name',
      () => peopleByName(a, b, suffix, roomId));
  }
  const c = await openUser('C');
  await step('sign-in and sign-up errors say what was wrong', () => authErrors(c, suffix));
  await step('no page errors and no CSP violations', async () => {
    const bad = logs.filter((l) => l.includes('pageerror') || l.includes('CSP violation') || l.includes('Refused to'));
    if (bad.length) throw new Error(bad.join('\n'));
  });
} catch (e) {
  results.push(false);
  console.log('FAIL - setting up the browsers: ' + (e && e.stack ? e.stack : String(e)));
}
const failures = results.filter((r) => !r).length;
if (failures) {
  for (const l of logs) console.log(l);
  if (SCREENSHOT && contexts[0]) {
    try { await contexts[0].pages()[0].screenshot({ path: SCREENSHOT, fullPage: true }); } catch (_) { /* best effort */ }
  }
}
for (const c of contexts) await c.close().catch(() => {});
for (const d of dirs) await rm(d, { recursive: true, force: true }).catch(() => {});
console.log(`${results.length - failures} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
