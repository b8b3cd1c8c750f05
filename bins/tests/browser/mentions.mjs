// Browser test of mentions and pins on the web page (PROTOCOL §6.8, §6.17, §6.16).
//
//   cd bins/tests/browser && npm ci
//   SWITCHBOARD_URL=http://127.0.0.1:8080 node mentions.mjs
//
// Three users in three browser profiles: Alice, Bob and Cy (whose display name is "Boris"), in
// a group Alice made. Alice mentions Bob while Bob has another room open: Bob's room list shows
// an "@" badge beside the unread count, live, and again after his reload (from `rooms`);
// opening the room clears it. In the conversation the `@bob…` Alice wrote is highlighted (in
// Bob's colour on his page, where the whole message is marked too), an `@name` of nobody in
// the room stays plain text. Completion, on Alice's page after a reload (its members from
// `receipts`): "@bo" offers Bob and Boris, the arrow keys move, Enter picks without sending,
// Tab picks a display name's match, Escape closes; the message sent reads "@bob_… " and shows
// on Bob's page as his mention. At phone width (375 px) the list fits. Pins: Alice (the room's
// owner) pins two messages and Bob's page shows the newest in the bar over the conversation,
// live, with "1 of 2" (a click shows it and moves on to the next); Bob, a member, is offered no
// Pin (nor Delete on Alice's message) while Alice, the owner, may delete his; after his reload
// the bar is there again; Alice unpins both and it goes. Every page runs under the strict Content-Security-Policy chat.mjs uses.
//
// SCREENSHOTS=DIR writes mentions-desktop.png (1280 × 800: Bob's page, his mentions marked, a
// pinned message in the bar, the completion list open) there. STATIC_DIR=DIR serves the page's files from DIR instead of
// the node (to try a change to bins/static without rebuilding the binary).
import { join } from 'node:path';

import { SCREENSHOTS, expect, finish, msg, noPageErrors, openId, openRoom, openUser, reload, roomReady,
  setUpFailed, signUp, sleep, step, until } from './harness.mjs';


// A room's row in the list: {mentions (the data attribute), badge (the "@" badge's text, '' when
// none shows), unread, label}.
const row = (page, id) => page.locator(`#rooms button[data-room-id="${id}"]`).evaluate((b) => {
  const at = b.querySelector('.mention-badge');
  return { mentions: b.dataset.mentions, badge: at && at.offsetParent !== null ? at.textContent : '',
    unread: b.dataset.unread, label: b.getAttribute('aria-label') };
});

async function rowIs(page, id, want, who) {
  try {
    await until(async () => {
      const r = await row(page, id);
      return Object.entries(want).every(([k, v]) => (v instanceof RegExp ? v.test(r[k]) : r[k] === v));
    }, `${who}: room ${id}'s row is ${JSON.stringify(want, (k, v) => (v instanceof RegExp ? String(v) : v))}`);
  } catch (e) {
    throw new Error(e.message + '; it is ' + JSON.stringify(await row(page, id)));
  }
}

// How the message with `text` shows its mentions: the highlighted pieces ({text, me}), whether
// the whole message is marked, and its text as a whole.
const shown = (page, text) => msg(page, text).evaluate((m) => ({
  spans: [...m.querySelectorAll('.text .mention')].map((s) => ({ text: s.textContent, me: s.classList.contains('me') })),
  marked: m.classList.contains('mentioned'),
  text: m.querySelector('.text').textContent,
  // A mention is set off from the text around it by its colour.
  distinct: (() => {
    const s = m.querySelector('.text .mention');
    return !!s && getComputedStyle(s).color !== getComputedStyle(m.querySelector('.text')).color;
  })(),
  spanColor: (() => {
    const s = m.querySelector('.text .mention');
    return s ? getComputedStyle(s).color + ' ' + getComputedStyle(s).backgroundColor : '';
  })(),
  // The whole message's mark: its background and its edge.
  background: getComputedStyle(m).backgroundColor + ' ' + getComputedStyle(m).boxShadow,
}));

// The completion list: the options' account names, and which one is active.
const options = (page) => page.evaluate(() => {
  const list = document.getElementById('mention-list');
  const items = [...list.querySelectorAll('li[role=option]')];
  return { visible: !list.hidden && list.offsetParent !== null, names: items.map((i) => i.dataset.name),
    active: items.findIndex((i) => i.getAttribute('aria-selected') === 'true'),
    activedescendant: document.getElementById('compose').getAttribute('aria-activedescendant') };
});

async function optionsAre(page, names, active, what) {
  try {
    await until(async () => {
      const o = await options(page);
      return o.visible === names.length > 0 && JSON.stringify(o.names) === JSON.stringify(names)
        && (!names.length || o.active === active);
    }, what);
  } catch (e) {
    throw new Error(e.message + '; it shows ' + JSON.stringify(await options(page)));
  }
}

// --------------------------------------------------------------------------------- the steps
async function setUp([a, b, c], suffix) {
  await signUp(a.page, 'alice_' + suffix, 'Alice');
  await signUp(b.page, 'bob_' + suffix, 'Bob');
  await signUp(c.page, 'cy_' + suffix, 'Boris');
  await a.page.fill('#room-name', 'plans ' + suffix);
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
  // Bob looks at a room of his own: the group is listed, not open.
  await b.page.fill('#room-name', 'notes ' + suffix);
  await b.page.click('#create-room');
  await b.page.waitForFunction((g) => {
    const id = document.getElementById('chat').dataset.roomId;
    return id && id !== g && document.getElementById('chat').dataset.ready === '1';
  }, group);
  const notes = await openId(b.page);
  await until(() => b.page.evaluate((g) => !!(window.switchboard.state.rooms.get(g) || {}).joined, Number(group)),
    "Bob's page joins the group in the background");
  return { group, notes };
}

// Alice mentions Bob (and someone who is no member): the "@" badge on Bob's row, live, beside
// the unread count; a message without his name adds to the count, not to the mentions.
async function badgeLive(a, b, { group }, suffix) {
  await rowIs(b.page, group, { mentions: '0', badge: '' }, 'Bob before any mention');
  await a.page.fill('#compose', 'Morning all');
  await a.page.press('#compose', 'Enter');
  await rowIs(b.page, group, { unread: '1' }, 'Bob after a message without his name');
  expect((await row(b.page, group)).badge, '', 'the "@" badge for a message that does not mention Bob');
  await a.page.fill('#compose', `Hi @bob_${suffix}, see the plan (cc @nobody_${suffix}).`);
  await a.page.press('#compose', 'Enter');
  await rowIs(b.page, group, { mentions: '1', badge: '@', unread: '2', label: /you were mentioned/ }, 'Bob after the mention');
  // The badge sits beside the unread count, in the row's bottom line.
  const place = await b.page.locator(`#rooms button[data-room-id="${group}"] .row-bottom`).evaluate((r) =>
    [...r.querySelectorAll('.badge')].map((x) => x.textContent));
  expect(place, ['@', '2'], 'the badges of the row');
}

// A reload reads the count from `rooms`.
async function badgeAfterReload(b, { group, notes }) {
  await reload(b.page);
  await roomReady(b.page, notes);
  await rowIs(b.page, group, { mentions: '1', badge: '@', unread: '2' }, 'Bob after a reload');
}

// Opening the room clears the badge; the mention is highlighted, more on Bob's page.
async function openClears(a, b, { group }, suffix) {
  await openRoom(b.page, group);
  await rowIs(b.page, group, { mentions: '0', badge: '', unread: '0' }, 'Bob with the room open');
  const text = `Hi @bob_${suffix}, see the plan`;
  const onBob = await until(async () => {
    const s = await shown(b.page, text);
    return s.spans.length ? s : null;
  }, "the mention highlighted on Bob's page").catch(async (e) => {
    throw new Error(e.message + '; it shows ' + JSON.stringify(await shown(b.page, text)));
  });
  expect(onBob.spans, [{ text: '@bob_' + suffix, me: true }], "the mentions highlighted on Bob's page");
  expect(onBob.text, `Hi @bob_${suffix}, see the plan (cc @nobody_${suffix}).`, "the message's text on Bob's page");
  expect(onBob.marked, true, "the message marked as Bob's mention");
  expect(onBob.distinct, true, 'the mention set off from the text');
  const plain = await shown(b.page, 'Morning all');
  expect(plain.marked, false, 'a message without Bob\'s name marked');
  if (plain.background === onBob.background) throw new Error(`a mention of Bob has the background of any message (${plain.background})`);
  const onAlice = await shown(a.page, text);
  expect(onAlice.spans, [{ text: '@bob_' + suffix, me: false }], "the mentions highlighted on Alice's page");
  expect(onAlice.marked, false, "the message marked on Alice's page, which it does not mention");
  expect(onAlice.distinct, true, "the mention set off from the text on Alice's page");
  if (onAlice.spanColor === onBob.spanColor) throw new Error(`one's own mention in the colours of another's (${onBob.spanColor})`);
  // Stays cleared after a reload (the room was read).
  await reload(b.page);
  await roomReady(b.page, group);
  await sleep(500);
  await rowIs(b.page, group, { mentions: '0', badge: '' }, 'Bob after reading and reloading');
}

// Completion on Alice's page after a reload: its members come from the `receipts` walk.
async function complete(a, b, { group }, suffix) {
  await reload(a.page);
  if ((await openId(a.page)) !== group) await openRoom(a.page, group);
  await roomReady(a.page, group);
  await a.page.click('#compose');
  await a.page.keyboard.type('Lunch? @bo');
  await optionsAre(a.page, ['bob_' + suffix, 'cy_' + suffix], 0, '"@bo" offers Bob and Boris');
  const o = await options(a.page);
  expect(o.activedescendant, 'mention-option-0', 'the box\'s active option');
  await a.page.keyboard.press('ArrowDown');
  await optionsAre(a.page, ['bob_' + suffix, 'cy_' + suffix], 1, 'ArrowDown moves to Boris');
  await a.page.keyboard.press('ArrowDown');
  await optionsAre(a.page, ['bob_' + suffix, 'cy_' + suffix], 0, 'ArrowDown wraps to Bob');
  await a.page.keyboard.press('ArrowUp');
  await optionsAre(a.page, ['bob_' + suffix, 'cy_' + suffix], 1, 'ArrowUp moves to Boris');
  await a.page.keyboard.press('ArrowUp');
  await optionsAre(a.page, ['bob_' + suffix, 'cy_' + suffix], 0, 'ArrowUp moves back to Bob');
  await a.page.keyboard.press('Enter');
  await optionsAre(a.page, [], 0, 'the list closes once Bob is picked');
  expect(await a.page.inputValue('#compose'), `Lunch? @bob_${suffix} `, 'the box after the pick');
  expect(await a.page.locator('#messages .msg', { hasText: 'Lunch?' }).count(), 0, 'messages sent by the pick');
  // "@bor" matches Boris by display name; Tab picks his account name.
  await a.page.keyboard.type('and @bor');
  await optionsAre(a.page, ['cy_' + suffix], 0, '"@bor" offers Boris');
  await a.page.keyboard.press('Tab');
  expect(await a.page.inputValue('#compose'), `Lunch? @bob_${suffix} and @cy_${suffix} `, 'the box after Tab');
  expect(await a.page.evaluate(() => document.activeElement.id), 'compose', 'the focus after Tab');
  // Escape closes the list and keeps the text; more letters of the same name keep it closed.
  await a.page.keyboard.type('@al');
  await optionsAre(a.page, [], 0, 'no option for "@al" (the user herself)');
  await a.page.keyboard.press('Backspace');
  await a.page.keyboard.press('Backspace');
  await a.page.keyboard.type('b');
  await optionsAre(a.page, ['bob_' + suffix, 'cy_' + suffix], 0, '"@b" offers Bob and Boris');
  await a.page.keyboard.press('Escape');
  await optionsAre(a.page, [], 0, 'Escape closes the list');
  await a.page.keyboard.type('o');
  await sleep(200);
  await optionsAre(a.page, [], 0, 'the list closed by Escape while the same name is typed');
  expect(await a.page.inputValue('#compose'), `Lunch? @bob_${suffix} and @cy_${suffix} @bo`, 'the box after Escape');
  // A new name opens it again.
  await a.page.keyboard.type(' @c');
  await optionsAre(a.page, ['cy_' + suffix], 0, '"@c" after Escape');
  await a.page.keyboard.press('Escape');
  // The sent text, as picked; Enter sends once the list is closed.
  await a.page.fill('#compose', '');
  await a.page.keyboard.type('Lunch? @bo');
  await optionsAre(a.page, ['bob_' + suffix, 'cy_' + suffix], 0, '"@bo" again');
  await a.page.keyboard.press('Enter');
  await a.page.keyboard.type('at one?');
  await a.page.keyboard.press('Enter');
  const sent = `Lunch? @bob_${suffix} at one?`;
  await msg(a.page, sent).waitFor();
  expect(await a.page.inputValue('#compose'), '', 'the box once sent');
  await until(async () => (await shown(b.page, sent)).spans.length > 0, "Bob's page shows the picked name as a mention");
  const onBob = await shown(b.page, sent);
  expect(onBob.text, sent, "the text on Bob's page");
  expect(onBob.spans, [{ text: '@bob_' + suffix, me: true }], "the mention on Bob's page");
  expect(onBob.marked, true, "the message marked on Bob's page");
}

// Cy opens a direct conversation with Bob and mentions him there: the new room's row on Bob's
// page (the room arrived by `room_added`, joined in the background) shows the badge.
async function directMention(b, c, { group }, suffix) {
  await c.page.fill('#direct-name', 'bob_' + suffix);
  await c.page.click('#direct');
  await c.page.waitForFunction(() => / \(direct\) #/.test(document.getElementById('room-title').textContent));
  const direct = await openId(c.page);
  await roomReady(c.page, direct);
  await until(() => b.page.evaluate((d) => !!(window.switchboard.state.rooms.get(d) || {}).joined, Number(direct)),
    "Bob's page joins the direct conversation");
  await c.page.fill('#compose', `@bob_${suffix} are you coming?`);
  await c.page.press('#compose', 'Enter');
  await rowIs(b.page, direct, { mentions: '1', badge: '@', unread: '1' }, "Bob's row of the direct conversation");
  expect(await openId(b.page), group, "the room open on Bob's page");
  await rowIs(b.page, group, { mentions: '0', badge: '' }, "Bob's row of the open group");
}

// Clicks `action` in the action bar of the message with `text` (hovering it, as a person does).
async function act(page, text, action) {
  const m = msg(page, text);
  await m.hover();
  await m.locator(`.actions [data-action="${action}"]`).click();
}

// The bar of pins: {shown, place ("1 of 2", '' for one pin), text (the preview), count}.
const pinBar = (page) => page.evaluate(() => {
  const bar = document.getElementById('pin-bar');
  const q = (s) => (bar.querySelector(s) || {}).textContent || '';
  return { shown: !bar.hidden && bar.offsetParent !== null, place: q('.pin-place'), text: q('.pin-text'),
    count: bar.dataset.count || '' };
});

async function pinBarIs(page, want, who) {
  try {
    await until(async () => {
      const p = await pinBar(page);
      return Object.entries(want).every(([k, v]) => (v instanceof RegExp ? v.test(p[k]) : p[k] === v));
    }, `${who}: the pinned bar is ${JSON.stringify(want, (k, v) => (v instanceof RegExp ? String(v) : v))}`);
  } catch (e) {
    throw new Error(e.message + '; it is ' + JSON.stringify(await pinBar(page)));
  }
}

// Alice (the room's owner) pins two messages: Bob's page shows the newest in the bar, live, with
// its place; a click shows the next. Bob may not pin (the node says so, and the page stops
// offering it). After Bob's reload the bar is there again (from `pins`); Alice unpins both and
// it goes. A pinned message deleted leaves the bar too.
async function pinned(a, b, { group }, suffix) {
  for (const u of [a, b]) if ((await openId(u.page)) !== group) await openRoom(u.page, group);
  await pinBarIs(b.page, { shown: false }, 'Bob before any pin');
  await act(a.page, 'Morning all', 'pin');
  await pinBarIs(b.page, { shown: true, place: '', text: 'Alice: Morning all', count: '1' }, 'Bob after the first pin');
  const mention = `Hi @bob_${suffix}, see the plan`;
  await act(a.page, mention, 'pin');
  await pinBarIs(b.page, { shown: true, place: '1 of 2', text: 'Alice: ' + mention + ` (cc @nobody_${suffix}).`, count: '2' },
    'Bob after the second pin');
  await pinBarIs(a.page, { shown: true, place: '1 of 2', count: '2' }, 'Alice after her second pin');
  await until(async () => (await msg(a.page, mention).locator('[data-action="pin"]').textContent()) === 'Unpin',
    "Unpin on Alice's pinned message");
  // A click shows the pinned message (it flashes) and moves on to the next pin.
  await b.page.click('#pin-bar .pin-show');
  await until(() => msg(b.page, mention).evaluate((m) => m.classList.contains('flash')), 'the pinned message flashes');
  await pinBarIs(b.page, { place: '2 of 2', text: 'Alice: Morning all' }, 'Bob after a click');
  await b.page.click('#pin-bar .pin-show');
  await pinBarIs(b.page, { place: '1 of 2', text: /^Alice: Hi @bob_/ }, 'Bob after a second click');
  // Bob is a member, not an admin (`joined` says so): his page offers neither Pin nor Delete on
  // Alice's message; Alice, the owner, has both on Bob's.
  await msg(b.page, 'Lunch?').hover();
  expect(await msg(b.page, 'Lunch?').locator('[data-action="pin"]').count(), 0, 'Pin offered to Bob, a member');
  expect(await msg(b.page, mention).locator('[data-action="delete"]').count(), 0, "Delete offered to Bob on Alice's message");
  await msg(a.page, 'Lunch?').hover();
  expect(await msg(a.page, 'Lunch?').locator('[data-action="delete"]').count(), 1, "Delete for Alice, the owner, on Bob's message");
  await pinBarIs(b.page, { count: '2' }, "Bob's bar");
  // A reload reads the pins again.
  await reload(b.page);
  await roomReady(b.page, group);
  await pinBarIs(b.page, { shown: true, place: '1 of 2', text: /^Alice: Hi @bob_/ }, 'Bob after a reload');
  // Unpinned, one then the other: the bar follows, then goes.
  await act(a.page, mention, 'pin');
  await pinBarIs(b.page, { shown: true, place: '', text: 'Alice: Morning all', count: '1' }, 'Bob after the first unpin');
  await act(a.page, 'Morning all', 'pin');
  await pinBarIs(b.page, { shown: false }, 'Bob after the second unpin');
  await pinBarIs(a.page, { shown: false }, 'Alice after her unpins');
  // Deleting a pinned message unpins it.
  await act(a.page, 'Morning all', 'pin');
  await pinBarIs(b.page, { shown: true, text: 'Alice: Morning all' }, 'Bob after the pin again');
  await act(a.page, 'Morning all', 'delete');
  await msg(a.page, 'Morning all').locator('[data-action="confirm-delete"]').click();
  await pinBarIs(b.page, { shown: false }, 'Bob after the pinned message was deleted');
}

// At phone width the list fits the screen, nothing scrolls sideways.
async function phoneWidth(a, { group }) {
  await a.page.setViewportSize({ width: 375, height: 812 });
  try {
    if ((await a.page.getAttribute('body', 'data-view')) !== 'chat') await openRoom(a.page, group);
    await a.page.fill('#compose', '');
    await a.page.click('#compose');
    await a.page.keyboard.type('@');
    await a.page.keyboard.type('b');
    await until(async () => (await options(a.page)).visible, 'the list at phone width');
    const fit = await a.page.evaluate(() => {
      const l = document.getElementById('mention-list').getBoundingClientRect();
      const box = document.getElementById('compose').getBoundingClientRect();
      const items = [...document.querySelectorAll('#mention-list li')].map((i) => i.getBoundingClientRect())
        .map((r) => [r.left, r.right]);
      return { list: [l.left, l.right, l.top, l.bottom], box: [box.top], width: window.innerWidth, items,
        page: document.documentElement.scrollWidth - document.documentElement.clientWidth };
    });
    const inside = fit.list[0] >= 0 && fit.list[1] <= fit.width && fit.list[2] >= 0 && fit.list[3] <= fit.box[0]
      && fit.items.every(([l, r]) => l >= fit.list[0] && r <= fit.list[1]);
    if (!inside || fit.page > 0) throw new Error(`the list at 375 px: ${JSON.stringify(fit)}`);
    await a.page.keyboard.press('Escape');
    await a.page.fill('#compose', '');
  } finally {
    await a.page.setViewportSize({ width: 1280, height: 800 });
  }
}

async function screenshot(a, b, { group }, suffix) {
  if ((await openId(b.page)) !== group) await openRoom(b.page, group);
  await act(a.page, `Lunch? @bob_${suffix} at one?`, 'pin');
  await pinBarIs(b.page, { shown: true }, 'Bob before the screenshot');
  await b.page.click('#compose');
  await b.page.keyboard.type('Sounds good @');
  await b.page.keyboard.type('a');
  await until(async () => (await options(b.page)).visible, "the list on Bob's page");
  await b.page.mouse.move(0, 0);
  await b.page.screenshot({ path: join(SCREENSHOTS, 'mentions-desktop.png') });
  await b.page.keyboard.press('Escape');
  await b.page.fill('#compose', '');
}


try {
  const suffix = Math.random().toString(36).slice(2, 8);
  const users = [await openUser('A'), await openUser('B'), await openUser('C')];
  const [a, b] = users;
  const rooms = await setUp(users, suffix);
  await step('Alice mentions Bob: an "@" badge on his row, live, beside the unread count', () => badgeLive(a, b, rooms, suffix));
  await step('after Bob\'s reload the badge is there (from rooms)', () => badgeAfterReload(b, rooms));
  await step('opening the room clears it; the mention is highlighted, the message marked on Bob\'s page', () => openClears(a, b, rooms, suffix));
  await step('completion: "@bo" offers Bob and Boris, arrows, Enter, Tab and Escape; Bob sees the mention', () => complete(a, b, rooms, suffix));
  await step('a mention in a direct conversation Bob has not open: the badge on its row', () => directMention(b, users[2], rooms, suffix));
  await step('at phone width the completion list fits', () => phoneWidth(a, rooms));
  await step('pins: Alice pins, Bob sees the bar live and after a reload; Bob may not pin; unpinned, it goes', () => pinned(a, b, rooms, suffix));
  if (SCREENSHOTS) await step('screenshot', () => screenshot(a, b, rooms, suffix));
  await noPageErrors();
} catch (e) {
  setUpFailed(e);
}
await finish();
