// The room list of the web page (PROTOCOL §6.17): every room of the user, most recently active
// first, each row with the room's name, its last message, its unread count and an "@" badge
// while unread messages mention the user. Read with `rooms`
// in pages (more as the list scrolls), then kept live from the events of the rooms the page has
// joined (`message`, `edited`, `deleted`) and from `room_added`; refreshed on every (re)connect,
// since the node has no event for rooms the page has not joined. What users wrote goes into the
// page as text only.

const PAGE = 30; // rooms asked for at a time
const NEAR_END = 120; // px: the next page is asked for when the list's end is this close

const cmpPos = (a, b) => (a.epoch - b.epoch) || (a.seq - b.seq);
const samePos = (a, b) => !!a && !!b && a.epoch === b.epoch && a.seq === b.seq;
const firstLine = (text) => (text || '').split('\n').find((l) => l.trim()) || '';

// The unread badge: "99+" beyond 99, or when the node stopped counting (`unread_more`).
export const badge = (s) => (s.unread_more || s.unread > 99 ? '99+' : s.unread > 0 ? String(s.unread) : '');

// A row's time: the time of day for today, else the date.
function when(ts, now = new Date()) {
  if (!ts) return '';
  const d = new Date(ts);
  if (d.toDateString() === now.toDateString()) return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return d.toLocaleDateString([], { month: 'short', day: 'numeric', year: d.getFullYear() === now.getFullYear() ? undefined : 'numeric' });
}

// `cmd(frame, quiet)` sends a command; `el` builds an element; `me()` is the signed-in user;
// `userName(id)` what the page calls a user; `title(info)` what it calls a room it knows only by
// its RoomInfo (a direct room's stored name is "lo:hi"); `learn(profiles)` hands the peers'
// profiles to the name cache; `open(id)` opens a room; `listed(ids)` is told of the rooms each
// page brought (the page joins them, so their events arrive); `list` is the <ul>, `more` the
// element after it, inside the scrolling `scroller`.
export function roomList({ cmd, el, me, userName, title, learn, open, listed, list, more, scroller }) {
  const rooms = new Map(); // id -> RoomSummary, as the node sent it and as events changed it since
  let end = null; // the cursor after the furthest page read
  let hasMore = false;
  let loading = false; // a page is being read
  let failed = null; // why the last read failed
  let read1 = false; // a page was read: an empty list is known to be empty
  let current = null;

  const order = () => [...rooms.values()].sort((a, b) => (b.activity - a.activity) || (b.id - a.id));

  // A summary from the node replaces what the page has, unless the page has seen a later message
  // of the room since (the node's answer was on its way meanwhile): counts stay those of the
  // newer one. Names, peer and the muted flag are always the node's.
  function merge(s) {
    const have = rooms.get(s.id);
    if (s.peer) learn([s.peer]);
    if (have && have.last && (!s.last || cmpPos(s.last.pos, have.last.pos) < 0)) {
      Object.assign(have, { name: s.name, kind: s.kind, peer: s.peer, muted: s.muted });
      return;
    }
    rooms.set(s.id, { ...s });
  }

  async function read(before) {
    const frame = { type: 'rooms', limit: PAGE };
    if (before) frame.before = before;
    const res = await cmd(frame, true);
    for (const s of res.rooms) merge(s);
    read1 = true;
    const last = res.rooms[res.rooms.length - 1];
    return { cursor: last ? { activity: last.activity, room: last.id } : before, more: res.more, ids: res.rooms.map((s) => s.id) };
  }

  // The first page again (on connecting, after `room_added`); pages read further stay.
  async function refresh() {
    try {
      const page = await read(null);
      if (!end || !hasMore) { end = page.cursor; hasMore = page.more; }
      failed = null;
      listed(page.ids);
    } catch (e) {
      failed = e.message;
    }
    render();
    fill();
  }

  async function loadMore() {
    if (loading || !hasMore || !end) return;
    loading = true;
    render();
    try {
      const page = await read(end);
      end = page.cursor; hasMore = page.more; failed = null;
      listed(page.ids);
    } catch (e) {
      failed = e.message;
    }
    loading = false;
    render();
    fill();
  }

  // Reads the next page while the end of the list shows (a list shorter than its box included).
  function fill() {
    if (!hasMore || loading || failed || list.offsetParent === null) return;
    const box = scroller.getBoundingClientRect();
    if (more.getBoundingClientRect().top - box.bottom < NEAR_END) loadMore();
  }
  scroller.addEventListener('scroll', fill, { passive: true });

  function preview(s) {
    const m = s.last;
    if (!m) return 'No messages yet';
    if (m.deleted) return 'Message deleted';
    const who = me() && m.sender === me().id ? 'You' : userName(m.sender);
    const files = m.attachments || [];
    let body = firstLine(m.text);
    if (files.length) {
      const kind = files.every((a) => (a.content_type || '').startsWith('image/')) ? 'Photo' : 'File';
      // A message of files alone carries their names as its text (app.js).
      body = m.text === files.map((a) => a.name).join(', ') || !body ? kind : kind + ' · ' + body;
    }
    return who + ': ' + body;
  }

  // A room the page joined or made by itself (created, joined by id, a conversation opened):
  // listed at once, counted properly by the next `rooms`.
  function ensure(info) {
    const s = rooms.get(info.id);
    if (!s) rooms.set(info.id, { id: info.id, name: info.name, kind: info.kind, activity: Date.now(), unread: 0, unread_more: false, muted: false });
    else if (info.kind !== 'direct' || !s.peer) Object.assign(s, { name: info.name, kind: info.kind });
  }

  const label = (s) => (s.kind === 'direct' && s.peer ? userName(s.peer.id) : title(s));

  function row(s) {
    const count = badge(s);
    const name = label(s);
    const mentioned = s.mentions > 0;
    return el('li', {}, el('button', { type: 'button', class: 'room-row' + (s.muted ? ' muted' : '') + (count ? ' unread' : ''),
      'data-room-id': s.id, 'data-unread': count || '0', 'data-mentions': String(s.mentions || 0),
      'aria-current': String(s.id === current),
      'aria-label': name + (count ? ', ' + count + ' unread' : '') + (mentioned ? ', you were mentioned' : '')
        + (s.muted ? ', muted' : '') + '. ' + preview(s),
      onclick: () => open(s.id) },
    el('span', { class: 'row-top' }, el('span', { class: 'room-name' }, name),
      el('time', { class: 'room-time' }, when(s.activity))),
    el('span', { class: 'row-bottom' }, el('span', { class: 'preview' }, preview(s)),
      mentioned ? el('span', { class: 'badge mention-badge', title: 'You were mentioned' }, '@') : '',
      count ? el('span', { class: 'badge' }, count) : '')));
  }

  function render(id) {
    if (id !== undefined) current = id;
    const rows = order().map(row);
    if (!rows.length && !loading && read1) rows.push(el('li', { class: 'empty' }, 'No rooms yet: create one or message someone'));
    list.replaceChildren(...rows);
    more.textContent = loading ? 'Loading rooms…' : failed ? 'Could not load the rooms: ' + failed : '';
    more.classList.toggle('spinner', !!loading);
  }

  return {
    refresh,
    loadMore,
    render,
    fill,
    ids: () => order().map((s) => s.id),
    get: (id) => rooms.get(id),
    ensure,
    // A `message` event (live or replayed) of a joined room: the room moves up with its new last
    // message, and one from someone else counts as unread unless the room is being read (and
    // as a mention when it mentions the user). A message at or before the last one the list
    // knows is already counted.
    message(m, reading) {
      let s = rooms.get(m.room);
      if (!s) { ensure({ id: m.room, name: 'room ' + m.room, kind: '' }); s = rooms.get(m.room); }
      if (s.last && cmpPos(m.pos, s.last.pos) <= 0) return;
      s.last = m;
      s.activity = Math.max(s.activity || 0, m.ts || 0);
      if (!reading && !(me() && m.sender === me().id)) {
        s.unread += 1;
        if (me() && (m.mentions || []).includes(me().id)) s.mentions = (s.mentions || 0) + 1;
      }
    },
    // An `edited` or `deleted` event: the preview follows when it is about the last message.
    change(f) {
      const s = rooms.get(f.room);
      if (!s || !s.last || !samePos(s.last.pos, f.target)) return;
      if (f.type === 'edited') s.last = { ...s.last, text: f.text, edited: f.ts };
      else if (f.type === 'deleted') s.last = { ...s.last, text: '', attachments: undefined, deleted: true };
    },
    // `room_added`: someone invited the user, or opened a conversation with them.
    added(info) {
      ensure(info);
      refresh();
    },
    // The user read the room up to its end (`mark_read` answered).
    read(id) {
      const s = rooms.get(id);
      if (s) { s.unread = 0; s.unread_more = false; s.mentions = 0; }
    },
    // The user left the room, or was removed from it.
    remove(id) { rooms.delete(id); },
    async mute(id, muted) {
      await cmd({ type: 'mute', room: id, muted });
      const s = rooms.get(id);
      if (s) s.muted = muted;
    },
    clear() { rooms.clear(); end = null; read1 = false; hasMore = false; failed = null; current = null; },
  };
}
