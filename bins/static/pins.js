// Pinned messages on the web page (PROTOCOL §6.16): the bar at the top of the open room. It
// shows the most recently pinned message (who wrote it, its first line) with its place among
// the room's pins ("1 of 3"); a click scrolls to that message when it is loaded and moves the
// bar on to the next pin. Read with `pins` when a room is opened (or its page reconnects), then
// kept live from `pinned` events (and `deleted`, which unpins). What users wrote goes into the
// page as text only.

const LIMIT = 100; // pins read per room, the most the node gives

const samePos = (a, b) => !!a && !!b && a.epoch === b.epoch && a.seq === b.seq;
const firstLine = (text) => (text || '').split('\n').find((l) => l.trim()) || '';

// `cmd(frame, quiet)` sends a command; `userName(id)` what the page calls a user; `el` builds an
// element; `message(r, pos)` is the message at `pos` when it is loaded; `refresh(r)` re-renders
// room `r`; `setStatus(text, isError)` writes the status line; `bar` is the element above the
// conversation, `box` the conversation.
export function pins({ cmd, userName, el, message, refresh, setStatus, bar, box }) {
  // Per room: {list: [{pos, sender, text}], most recently pinned first; more; at: the index shown}.
  const rooms = new Map();
  const loading = new Set();

  function of(r) {
    let p = rooms.get(r.id);
    if (!p) { p = { list: [], more: false, at: 0, read: false }; rooms.set(r.id, p); }
    return p;
  }
  const entry = (m) => ({ pos: m.pos, sender: m.sender, text: m.deleted ? '' : m.text, files: (m.attachments || []).length });

  // Reads the room's pins (the room was opened or its page reconnected: what changed meanwhile is
  // in the answer).
  async function load(r) {
    if (loading.has(r.id)) return;
    loading.add(r.id);
    try {
      const res = await cmd({ type: 'pins', room: r.id, limit: LIMIT }, true);
      const p = of(r);
      p.list = res.messages.map(entry);
      p.more = res.more;
      p.read = true;
      p.at = Math.min(p.at, Math.max(0, p.list.length - 1));
    } catch (_) {
      // Offline or no longer a member: the bar stays as it was, the next open asks again.
    } finally {
      loading.delete(r.id);
    }
    refresh(r);
  }

  // A `pinned` or `deleted` event (live, replayed by a resume, or one's own pin once `sent`).
  // True when the bar changed. A pin of a message the page has not loaded is read with `pins`.
  function event(r, f) {
    const p = of(r);
    if (!p.read) return false; // read in full when the room is opened
    const i = p.list.findIndex((e) => samePos(e.pos, f.target));
    if (f.type === 'deleted' || (f.type === 'pinned' && f.removed)) {
      if (i < 0) return false;
      p.list.splice(i, 1);
      if (p.at >= p.list.length) p.at = 0;
      return true;
    }
    if (f.type !== 'pinned' || i >= 0) return false;
    const m = message(r, f.target);
    if (!m) { load(r); return false; }
    p.list.unshift(entry(m));
    p.at = 0;
    return true;
  }

  // An edit of a pinned message changes its preview.
  function edited(r, f) {
    const e = of(r).list.find((x) => samePos(x.pos, f.target));
    if (!e) return false;
    e.text = f.text;
    return true;
  }

  function show(r) {
    const p = of(r);
    const e = p.list[p.at];
    const target = e && box.querySelector(`.msg[data-epoch="${e.pos.epoch}"][data-seq="${e.pos.seq}"]`);
    if (!target) setStatus('That pinned message is further back than what is loaded: scroll up to load it', true);
    else {
      target.scrollIntoView({ block: 'center', behavior: 'smooth' });
      target.classList.add('flash');
      setTimeout(() => target.classList.remove('flash'), 1600);
    }
    if (p.list.length > 1) { p.at = (p.at + 1) % p.list.length; render(r); }
  }

  // The bar for room `r` (null: no room open).
  function render(r) {
    const p = r && rooms.get(r.id);
    const e = p && p.list[p.at];
    bar.hidden = !e;
    if (!e) { bar.replaceChildren(); delete bar.dataset.count; return; }
    const count = p.list.length + (p.more ? '+' : '');
    const place = (p.at + 1) + ' of ' + count;
    const text = firstLine(e.text) || (e.files ? 'attachment' : 'message');
    bar.dataset.count = String(p.list.length);
    bar.dataset.at = String(p.at);
    bar.replaceChildren(el('button', { type: 'button', class: 'pin-show', 'data-epoch': e.pos.epoch, 'data-seq': e.pos.seq,
      'aria-label': 'Pinned message ' + place + ', from ' + userName(e.sender) + ': ' + text
        + (p.list.length > 1 ? '. Show it, then the next' : '. Show it'),
      onclick: () => show(r) },
    el('span', { class: 'pin-label' }, 'Pinned'),
    el('span', { class: 'pin-place' }, p.list.length > 1 || p.more ? place : ''),
    el('span', { class: 'pin-text' }, el('strong', {}, userName(e.sender) + ': '), text)));
  }

  return {
    load,
    event,
    edited,
    render,
    clear() { rooms.clear(); loading.clear(); },
  };
}
