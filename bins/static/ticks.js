// Sent, delivered, read on the web page (PROTOCOL §6.18), as WhatsApp shows them.
//
// Both ways: the page tells the node what reached it (`mark_delivered`, as messages of other
// people arrive: a direct conversation's mark a moment after, a group's at most every few
// seconds), and shows on its own messages what the others' watermarks say: in a direct
// conversation ✓ sent, ✓✓ delivered, blue ✓✓ read; in a group "Read by N". The watermarks come
// from `receipts` when a room is opened (or its page reconnects), then from `delivery_receipt`
// and `read_receipt` events; they only rise, so whatever arrives later is merged, never taken as
// it is.

const DIRECT_DELAY = 100; // ms before a direct conversation's delivered mark: a burst costs one
const GROUP_DELAY = 5000; // ms before a group's: a busy room costs a mark per member every 5 s
const PAGE = 500; // members per `receipts` page, the most the node gives

const cmpPos = (a, b) => (a.epoch - b.epoch) || (a.seq - b.seq);
// The later of two positions, either of which may be absent.
const later = (a, b) => (!a || (b && cmpPos(b, a) > 0) ? b : a);

// What the mark of a direct conversation's message says, by state.
const DIRECT_MARKS = {
  sent: { glyph: '✓', label: 'Sent' },
  delivered: { glyph: '✓✓', label: 'Delivered' },
  read: { glyph: '✓✓', label: 'Read' },
};

// `cmd(frame, quiet)` sends a command; `me()` is the signed-in user; `el` builds an element;
// `refresh(roomId)` re-renders a room whose marks changed.
export function ticks({ cmd, me, el, refresh }) {
  // Per room: user id -> {read, delivered}, the members' watermarks as far as the page knows.
  const marks = new Map();
  // Per room: the read watermarks of everyone but the user, sorted (for "Read by N"), until
  // a watermark changes.
  const sortedReads = new Map();
  const loading = new Set(); // rooms whose `receipts` walk is under way
  // Delivered marks: per room, the newest position waiting for its timer, and the newest sent.
  const waiting = new Map(); // room id -> {pos, timer}
  const told = new Map(); // room id -> position

  const myId = () => (me() ? me().id : null);
  function of(roomId) {
    let m = marks.get(roomId);
    if (!m) { m = new Map(); marks.set(roomId, m); }
    return m;
  }

  // Raises `user`'s watermarks in a room; true when one rose. Read implies delivered.
  function raise(roomId, user, read, delivered) {
    const users = of(roomId);
    const have = users.get(user) || { read: null, delivered: null };
    const now = { read: later(have.read, read), delivered: later(later(have.delivered, delivered), read) };
    if (now.read === have.read && now.delivered === have.delivered) return false;
    users.set(user, now);
    sortedReads.delete(roomId);
    return true;
  }

  function send(r) {
    const w = waiting.get(r.id);
    if (!w) return;
    waiting.delete(r.id);
    told.set(r.id, w.pos);
    // One that does not go through (offline, refused) is not retried: the next arrival's mark
    // covers it, and reading the room delivers it too.
    cmd({ type: 'mark_delivered', room: r.id, pos: w.pos }, true).catch(() => {
      if (told.get(r.id) === w.pos) told.delete(r.id);
    });
  }

  // The users other than oneself who read a room at or past each position, sorted.
  function reads(roomId) {
    let sorted = sortedReads.get(roomId);
    if (!sorted) {
      sorted = [...of(roomId)].filter(([u, w]) => u !== myId() && w.read).map(([, w]) => w.read).sort(cmpPos);
      sortedReads.set(roomId, sorted);
    }
    return sorted;
  }
  // How many of them read `pos` (a binary search: a render costs the same in a group of 10,000).
  function readBy(roomId, pos) {
    const sorted = reads(roomId);
    let lo = 0, hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cmpPos(sorted[mid], pos) < 0) lo = mid + 1; else hi = mid;
    }
    return sorted.length - lo;
  }

  // The state of one's own message at `pos` in a direct conversation: the other member's
  // watermarks against it.
  function directState(roomId, pos) {
    let state = 'sent';
    for (const [u, w] of of(roomId)) {
      if (u === myId()) continue;
      if (w.read && cmpPos(w.read, pos) >= 0) return 'read';
      if (w.delivered && cmpPos(w.delivered, pos) >= 0) state = 'delivered';
    }
    return state;
  }

  return {
    // A message of someone else reached the page at `pos` in room `r` (joined). Its delivered
    // mark goes out after the room's pause, covering whatever else arrives meanwhile.
    arrived(r, pos) {
      const done = told.get(r.id);
      if (done && cmpPos(pos, done) <= 0) return;
      const w = waiting.get(r.id);
      if (w) { w.pos = later(w.pos, pos); return; }
      const timer = setTimeout(() => send(r), r.kind === 'direct' ? DIRECT_DELAY : GROUP_DELAY);
      waiting.set(r.id, { pos, timer });
    },

    // Reads the watermarks of every member of room `r`, page after page (the room was opened,
    // or its page reconnected: events missed meanwhile are in the answer).
    async load(r) {
      if (loading.has(r.id)) return;
      loading.add(r.id);
      let changed = false;
      try {
        let after;
        for (;;) {
          const frame = { type: 'receipts', room: r.id, limit: PAGE };
          if (after !== undefined) frame.after = after;
          const res = await cmd(frame, true);
          for (const m of res.members) changed = raise(r.id, m.user, m.read, m.delivered) || changed;
          if (!res.more || !res.members.length) break;
          after = res.members[res.members.length - 1].user;
        }
      } catch (_) {
        // Offline or no longer a member: the marks stay as they were, the next open asks again.
      } finally {
        loading.delete(r.id);
      }
      if (changed) refresh(r.id);
    },

    // A `read_receipt` or `delivery_receipt` event; true when it changed what the room shows.
    receipt(f) {
      const read = f.type === 'read_receipt' ? f.pos : null;
      return raise(f.room, f.user, read, f.pos);
    },

    // What follows the time on one's own stored message `m` of room `r`: its ticks in a direct
    // conversation, "Read by N" in a group (nothing while N is 0), or null.
    mark(r, m) {
      if (m.deleted || m.sender !== myId()) return null;
      if (r.kind === 'direct') {
        const state = directState(r.id, m.pos);
        const { glyph, label } = DIRECT_MARKS[state];
        return el('span', { class: 'tick ' + state, role: 'img', 'aria-label': label, title: label, 'data-state': state }, glyph);
      }
      const n = readBy(r.id, m.pos);
      return n ? el('span', { class: 'read-by', 'data-count': n }, 'Read by ' + n) : null;
    },

    // The members of room `r` the page knows of (user ids, from `receipts` and the receipt
    // events since): who the compose box offers to mention.
    members: (roomId) => [...of(roomId).keys()],

    // The user signed out: nothing is kept for the next one.
    clear() {
      for (const w of waiting.values()) clearTimeout(w.timer);
      waiting.clear(); told.clear(); marks.clear(); sortedReads.clear(); loading.clear();
    },
  };
}
