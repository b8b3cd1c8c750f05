// Browser test of sent, delivered and read on the web page (PROTOCOL §6.18), as WhatsApp shows
// them.
//
//   cd bins/tests/browser && npm ci
//   SWITCHBOARD_URL=http://127.0.0.1:8080 node ticks.mjs
//
// Three users in three browser profiles. In a direct conversation, Alice's message shows ✓ once
// sent, then ✓✓ once Bob's page (with another room open) told the node it arrived, and not read;
// when Bob opens the conversation it turns blue on Alice's page, live, and again after her
// reload (from `receipts`). A message sent while Bob has no page open stays ✓. Bob's page marks
// a direct conversation's arrivals at once and a group's at most every 5 s, never its own
// messages (its socket is tapped). In a group of three, Alice's message reads "Read by 1", then
// "Read by 2", as Cy and Bob open it, and again after a reload. At phone width (375 px) the
// marks fit. Every page runs under the strict Content-Security-Policy chat.mjs uses.
//
// SCREENSHOTS=DIR writes ticks-desktop.png (1280 × 800: read, delivered and sent messages) there.
// STATIC_DIR=DIR serves the page's files from DIR instead of the node (to try a change to
// bins/static without rebuilding the binary).
import { join } from 'node:path';

import { SCREENSHOTS, WAIT, expect, finish, msg, noPageErrors, openId, openRoom, openUser, roomReady, setUpFailed,
  signUp, sleep, step, until } from './harness.mjs';

// The page's pauses before a delivered mark (ticks.js).
const DIRECT_DELAY = 100;
const GROUP_DELAY = 5000;

async function sendText(page, text) {
  await page.fill('#compose', text);
  await page.click('#send');
  await msg(page, text).waitFor();
  await page.locator('#messages .msg[data-pending]').waitFor({ state: 'detached' });
}

// Whether `page` has joined room `id` (the page joins every room it lists, in the background).
const joined = (page, id) => page.evaluate((rid) => {
  const r = window.switchboard.state.rooms.get(rid);
  return !!(r && r.joined);
}, Number(id));

// The mark of the message with `text` on `page`: {state, glyph, label, title, color}, state
// 'none' when it has none.
const tick = (page, text) => msg(page, text).evaluate((m) => {
  const t = m.querySelector('.meta .tick');
  if (!t) return { state: 'none' };
  return { state: t.dataset.state, glyph: t.textContent, label: t.getAttribute('aria-label'), title: t.title,
    role: t.getAttribute('role'), color: getComputedStyle(t).color };
});

async function tickIs(page, text, state, who) {
  try {
    await until(async () => (await tick(page, text)).state === state, `${who} shows "${text}" ${state}`);
  } catch (e) {
    throw new Error(e.message + '; it shows ' + JSON.stringify(await tick(page, text)));
  }
}

// "Read by N" of the message with `text` on `page` ('' when none shows).
const readBy = (page, text) => msg(page, text).evaluate((m) => {
  const r = m.querySelector('.meta .read-by');
  return r && r.offsetParent !== null ? r.textContent : '';
});

async function readByIs(page, text, expected, who) {
  try {
    await until(async () => (await readBy(page, text)) === expected, `${who} shows "${text}" as "${expected}"`);
  } catch (e) {
    throw new Error(e.message + '; it shows ' + JSON.stringify(await readBy(page, text)));
  }
}

// Keeps, on `page`, every state the mark of the message with `text` shows, in order (each
// render builds the conversation anew, so each state is a node added to #messages).
const recordStates = (page, text) => page.evaluate((t) => {
  const seen = [];
  window.tickStates = seen;
  const note = (m) => {
    if (!m.matches || !m.matches('.msg') || m.querySelector('.text').textContent !== t) return;
    const tk = m.querySelector('.meta .tick');
    const state = m.dataset.pending ? 'pending' : tk ? tk.dataset.state : 'none';
    if (seen[seen.length - 1] !== state) seen.push(state);
  };
  new MutationObserver((records) => records.forEach((r) => r.addedNodes.forEach(note)))
    .observe(document.getElementById('messages'), { childList: true });
}, text);

// The `mark_delivered` commands Bob's page sent for `room`, with their times.
const delivered = (tap, room) => tap.toNode.filter((e) => e.frame.type === 'mark_delivered' && e.frame.room === Number(room));
const samePos = (a, b) => a.epoch === b.epoch && a.seq === b.seq;
const posOf = (page, text) => msg(page, text).evaluate((m) => ({ epoch: Number(m.dataset.epoch), seq: Number(m.dataset.seq) }));

// --------------------------------------------------------------------------------- the steps
async function setUp(users, suffix) {
  const [a, b, c] = users;
  await signUp(a.page, 'alice_' + suffix, 'Alice');
  await signUp(b.page, 'bob_' + suffix, 'Bob');
  await signUp(c.page, 'cy_' + suffix, 'Cy');
  // A group of three, open on every page.
  await a.page.fill('#room-name', 'ticks ' + suffix);
  await a.page.click('#create-room');
  const roomButton = a.page.locator('#rooms button[aria-current="true"]');
  await roomButton.waitFor();
  const group = await roomButton.getAttribute('data-room-id');
  await roomReady(a.page, group);
  for (const u of [b, c]) {
    await u.page.fill('#join-id', group);
    await u.page.click('#join');
    await roomReady(u.page, group);
  }
  // Alice opens a direct conversation with Bob, whose page joins it in the background (it keeps
  // the group open).
  await a.page.fill('#direct-name', 'bob_' + suffix);
  await a.page.click('#direct');
  await a.page.waitForFunction(() => / \(direct\) #/.test(document.getElementById('room-title').textContent));
  const direct = await openId(a.page);
  await roomReady(a.page, direct);
  await until(() => joined(b.page, direct), "Bob's page joins the direct conversation");
  expect(await openId(b.page), group, "the room open on Bob's page");
  return { group, direct };
}

// ✓ once sent, ✓✓ once Bob's page has it, not read while Bob has another room open.
async function deliveredNotRead(a, b, tap, { direct }) {
  const text = 'Are you there?';
  await recordStates(a.page, text);
  const sentAt = Date.now();
  await sendText(a.page, text);
  await tickIs(a.page, text, 'delivered', 'Alice');
  const states = await a.page.evaluate(() => window.tickStates);
  const sent = states.indexOf('sent');
  if (sent < 0 || states.indexOf('delivered') < sent) throw new Error(`the marks shown in turn: ${JSON.stringify(states)}`);
  // Bob's page marked it at once (a direct conversation), with the message's position.
  const pos = await posOf(a.page, text);
  const marks = delivered(tap, direct);
  const mark = marks.find((e) => samePos(e.frame.pos, pos));
  if (!mark) throw new Error(`Bob's page marks ${JSON.stringify(marks.map((e) => e.frame))}`);
  if (mark.at - sentAt > 2000) throw new Error(`Bob's page marked the message ${mark.at - sentAt} ms after it was sent`);
  // It stays delivered: Bob did not open the conversation.
  await sleep(1000);
  const t = await tick(a.page, text);
  expect(t.state, 'delivered', 'the mark a second later');
  expect(t.glyph, '✓✓', 'the delivered glyph');
  expect(t.label, 'Delivered', 'the delivered mark\'s label');
  expect(t.title, 'Delivered', 'the delivered mark\'s title');
  expect(t.role, 'img', 'the mark\'s role');
}

// Bob opens the conversation: blue ticks on Alice's page, live. Bob's reply carries no mark on
// Alice's page, and Bob's page sends no delivered mark for his own message.
async function readLive(a, b, tap, { direct }) {
  const text = 'Are you there?';
  const before = await tick(a.page, text);
  await openRoom(b.page, direct);
  await tickIs(a.page, text, 'read', 'Alice');
  const t = await tick(a.page, text);
  expect(t.glyph, '✓✓', 'the read glyph');
  expect(t.label, 'Read', 'the read mark\'s label');
  expect(t.title, 'Read', 'the read mark\'s title');
  if (t.color === before.color) throw new Error(`read shows in the colour of delivered (${t.color})`);
  expect(t.color, /^rgb\(\d{1,2}, \d+, 2\d\d\)$/, 'the read colour (blue)');
  const marks = delivered(tap, direct).length;
  await sendText(b.page, 'Yes, here');
  await msg(a.page, 'Yes, here').waitFor();
  expect((await tick(a.page, 'Yes, here')).state, 'none', "the mark on Bob's message on Alice's page");
  await tickIs(b.page, 'Yes, here', 'read', 'Bob');
  await sleep(DIRECT_DELAY * 5);
  expect(delivered(tap, direct).length, marks, "delivered marks Bob's page sent for his own message");
}

// After a reload, Alice's page shows the read state again, from `receipts`.
async function readAfterReload(a, { direct }) {
  await a.page.reload();
  await a.page.waitForSelector('body[data-conn="open"]');
  if ((await openId(a.page)) !== direct) await openRoom(a.page, direct);
  await roomReady(a.page, direct);
  await tickIs(a.page, 'Are you there?', 'read', 'Alice after a reload');
}

// A group: "Read by 1" then "Read by 2" as Cy and Bob open it; Bob's page marks a burst of
// arrivals once, 5 s after the first.
async function readBy2(a, b, c, tap, { group, direct }) {
  await openRoom(a.page, group);
  // Cy looks at a room of her own, Bob at the direct conversation.
  await c.page.fill('#room-name', 'notes ' + Math.random().toString(36).slice(2, 6));
  await c.page.click('#create-room');
  await c.page.waitForFunction((g) => document.getElementById('chat').dataset.roomId !== g, group);
  expect(await openId(b.page), direct, "the room open on Bob's page");
  const start = Date.now();
  const texts = ['Who is in for Friday?', 'Pizza or sushi?', 'Vote by noon'];
  for (const text of texts) await sendText(a.page, text);
  const last = await posOf(a.page, texts[2]);
  await sleep(1000);
  for (const text of texts) expect(await readBy(a.page, text), '', `"${text}" read by nobody yet`);
  expect((await tick(a.page, texts[0])).state, 'none', 'a group message has no ticks');
  await openRoom(c.page, group);
  for (const text of texts) await readByIs(a.page, text, 'Read by 1', 'Alice');
  // Bob's page: one mark for the burst, the group's pause after the first arrival.
  await until(() => delivered(tap, group).length > 0, "Bob's page marks the group's arrivals", GROUP_DELAY + WAIT);
  await sleep(1000);
  const marks = delivered(tap, group);
  expect(marks.length, 1, "Bob's delivered marks for the group");
  if (!samePos(marks[0].frame.pos, last)) throw new Error(`Bob's page marked ${JSON.stringify(marks[0].frame.pos)}, the last is ${JSON.stringify(last)}`);
  if (marks[0].at - start < GROUP_DELAY - 500) throw new Error(`Bob's page marked the group after ${marks[0].at - start} ms`);
  await openRoom(b.page, group);
  for (const text of texts) await readByIs(a.page, text, 'Read by 2', 'Alice');
  // Bob's and Cy's pages show no count on Alice's messages (not theirs).
  expect(await readBy(b.page, texts[2]), '', "a count on Bob's page");
  await a.page.reload();
  await a.page.waitForSelector('body[data-conn="open"]');
  if ((await openId(a.page)) !== group) await openRoom(a.page, group);
  await roomReady(a.page, group);
  await readByIs(a.page, texts[2], 'Read by 2', 'Alice after a reload');
}

// At phone width, a mark sits inside its message and nothing scrolls sideways.
async function phoneWidth(a, { direct, group }) {
  await a.page.setViewportSize({ width: 375, height: 812 });
  try {
    for (const [id, text, sel] of [[group, 'Vote by noon', '.read-by'], [direct, 'Are you there?', '.tick']]) {
      if ((await openId(a.page)) !== id || (await a.page.getAttribute('body', 'data-view')) !== 'chat') {
        if ((await a.page.getAttribute('body', 'data-view')) === 'chat') await a.page.click('#back');
        await openRoom(a.page, id);
      }
      const m = msg(a.page, text);
      await m.locator(sel).waitFor();
      const fit = await m.evaluate((node, s) => {
        const box = node.getBoundingClientRect();
        const mark = node.querySelector(s).getBoundingClientRect();
        const log = document.getElementById('messages');
        return { mark: [mark.left, mark.right, mark.top, mark.bottom], box: [box.left, box.right, box.top, box.bottom],
          width: window.innerWidth, overflow: log.scrollWidth - log.clientWidth,
          page: document.documentElement.scrollWidth - document.documentElement.clientWidth };
      }, sel);
      const inside = fit.mark[0] >= fit.box[0] && fit.mark[1] <= fit.box[1] && fit.mark[1] <= fit.width
        && fit.mark[2] >= fit.box[2] && fit.mark[3] <= fit.box[3];
      if (!inside || fit.overflow > 0 || fit.page > 0) throw new Error(`${sel} at 375 px: ${JSON.stringify(fit)}`);
    }
  } finally {
    await a.page.setViewportSize({ width: 1280, height: 800 });
  }
}

// A message Bob's page never got (it is closed) stays ✓; the screenshot shows read, delivered
// and sent in turn.
async function sentOnly(a, b, users, { group, direct }) {
  if ((await openId(a.page)) !== direct) await openRoom(a.page, direct);
  await openRoom(b.page, group);
  await sendText(a.page, 'Dinner at eight?');
  await tickIs(a.page, 'Dinner at eight?', 'delivered', 'Alice');
  await b.context.close();
  users.splice(users.indexOf(b), 1);
  await sendText(a.page, 'I booked a table');
  await sleep(1500);
  const t = await tick(a.page, 'I booked a table');
  expect(t.state, 'sent', 'the mark of a message no page of Bob has');
  expect(t.glyph, '✓', 'the sent glyph');
  expect(t.label, 'Sent', 'the sent mark\'s label');
  expect((await tick(a.page, 'Dinner at eight?')).state, 'delivered', 'the message before');
  expect((await tick(a.page, 'Are you there?')).state, 'read', 'the first message');
  if (SCREENSHOTS) {
    await a.page.mouse.move(0, 0);
    await a.page.evaluate(() => document.activeElement && document.activeElement.blur());
    await a.page.screenshot({ path: join(SCREENSHOTS, 'ticks-desktop.png') });
  }
}


try {
  const suffix = Math.random().toString(36).slice(2, 8);
  const tap = { toNode: [] };
  const a = await openUser('A');
  const b = await openUser('B', tap);
  const c = await openUser('C');
  const users = [a, b, c];
  const rooms = await setUp(users, suffix);
  await step('a direct message shows ✓, then ✓✓ once Bob\'s page has it, not read', () => deliveredNotRead(a, b, tap, rooms));
  await step('Bob opens the conversation: blue ticks on Alice\'s page, live; no marks for one\'s own', () => readLive(a, b, tap, rooms));
  await step('after a reload the read state shows again (from receipts)', () => readAfterReload(a, rooms));
  await step('a group: "Read by 1", then "Read by 2"; a burst delivered with one mark after 5 s', () => readBy2(a, b, c, tap, rooms));
  await step('at phone width the marks fit', () => phoneWidth(a, rooms));
  await step('a message no page of Bob got stays ✓', () => sentOnly(a, b, users, rooms));
  await noPageErrors();
} catch (e) {
  setUpFailed(e);
}
await finish();
