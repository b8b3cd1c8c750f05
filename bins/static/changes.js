// Replies, edits, deletes, reactions and pins on the web page (PROTOCOL §6.16): how the change
// events apply to the messages on screen, the commands that make them, and the parts of a
// message's view they add (the quote of a reply, the edited mark, the tombstone, reaction chips,
// the action bar, the inline editor) and the reply bar above the compose box. (The bar of
// pinned messages is pins.js's.) What users wrote goes
// into the page as text only (textContent), never as markup.

// The emoji the React button offers; any emoji already on a message can be toggled on its chip.
export const PALETTE = ['👍', '❤️', '😂', '🎉', '😮', '😢'];

// Refusals of these commands in words (PROTOCOL §9); `what` is the command that was refused.
function refusal(what, e) {
  switch (e.code) {
    case 0: return 'Not connected: try again once the page has reconnected';
    case null: case undefined: return e.message;
    case 1002: return what === 'edit' ? 'A message needs some text, at most the size limit'
      : what === 'react' ? 'That is not an emoji the server takes' : 'The server refused it as invalid';
    case 3000: return what === 'pin' || what === 'unpin' ? 'Only the room\'s owners and admins may pin messages'
      : what === 'delete' ? 'Only its sender or a room admin may delete this message'
      : what === 'edit' ? 'Only its sender may edit this message' : 'You are not a member of this room';
    case 3001: return what === 'react' ? 'That reaction is no longer there, or the message was deleted'
      : what === 'unpin' ? 'That message is not pinned any more'
      : 'That message was deleted, or is not there any more';
    case 3003: return what === 'pin' ? 'That message is pinned already' : 'You already reacted with that';
    case 3006: return 'Too late to edit this message';
    case 3007: return 'Too many reactions on this message';
    case 4000: return 'Too many actions at once: wait a moment and try again';
    case 4001: return 'The server is busy: try again';
    case 5001: return 'The server is restarting: try again in a moment';
    default: return 'The server failed to do it: try again later';
  }
}
const VERB = { edit: 'Cannot edit', delete: 'Cannot delete', react: 'Cannot react', pin: 'Cannot pin', unpin: 'Cannot unpin' };
const BUSY_RETRIES = 3; // a `busy` (4001) is retried with the same cmid, a second apart
export const describeRefusal = (what, e) => VERB[what] + ': ' + refusal(what, e);

const cmpPos = (a, b) => (a.epoch - b.epoch) || (a.seq - b.seq);
const samePos = (a, b) => !!a && !!b && a.epoch === b.epoch && a.seq === b.seq;
const keyOf = (p) => p.epoch + ':' + p.seq;
const firstLine = (text) => (text || '').split('\n').find((l) => l.trim()) || '';

// `cmd(frame, quiet)` sends a command; `newCmid()` makes a client message id; `me()` is the
// signed-in user; `userName(id)` what the page calls a user; `el` builds an element;
// `refresh(r)` re-renders room `r`; `setStatus(text, isError)` writes the status line;
// `compose` is the message box and `replyBar` the element above it; `pinned(r, entry)` is told
// of one's own pins and unpins once `sent` (the bar of pins follows before the event comes).
export function changes({ cmd, newCmid, me, userName, el, refresh, setStatus, compose, replyBar, pinned }) {
  const replies = new Map(); // room id -> the message being replied to
  // One thing open at a time on a message: the emoji palette, the delete confirmation or the
  // editor. Kept here, as render() rebuilds the message list on every event.
  let open = null; // {room, key, kind: 'palette' | 'confirm' | 'editor'}
  let editor = null; // the editor's textarea, kept across renders so its text and caret survive
  let saving = false;
  // Rooms where the node refused the user a pin (3000). `joined` names the user's role, so Pin
  // is offered to owners and admins only; a node too old to say is told by its refusal.
  const noPins = new Set();
  const moderator = (r) => r.role === 'owner' || r.role === 'admin';
  const mayPin = (r) => (r.role ? moderator(r) : !noPins.has(r.id));

  const find = (r, pos) => {
    for (let i = r.msgs.length - 1; i >= 0; i--) if (samePos(r.msgs[i].pos, pos)) return r.msgs[i];
    return null;
  };
  const mine = (m) => !!me() && m.sender === me().id;
  const isOpen = (r, m, kind) => !!open && open.room === r.id && open.key === keyOf(m.pos) && open.kind === kind;
  function close() { open = null; editor = null; saving = false; }
  // Closes what is open on `m` and gives the focus back to the button that opened it.
  function dismiss(r, m, action) {
    close();
    refresh(r);
    const key = keyOf(m.pos) + ':' + action;
    const back = [...compose.ownerDocument.querySelectorAll('#messages [data-focus]')].find((e) => e.dataset.focus === key);
    if (back) back.focus();
  }

  // An `edited`, `deleted` or `reaction` entry (live, replayed by a resume, or learnt from the
  // `sent` of one's own command) applied to the message it targets, when that one is on screen.
  // `asOf` is the newest entry the message's state includes (for one loaded from history, the
  // room's position when the page read it): an entry at or before it is already counted, so a
  // replay of it, or its event after its `sent`, changes nothing. A target not on screen shows
  // its current state when history loads it. True when something changed.
  function apply(r, f) {
    const m = find(r, f.target);
    if (!m || (m.asOf && cmpPos(f.pos, m.asOf) <= 0)) return false;
    m.asOf = f.pos;
    if (f.type === 'edited') {
      m.text = f.text;
      m.edited = f.ts;
    } else if (f.type === 'deleted') {
      Object.assign(m, { deleted: true, text: '', attachments: undefined, reactions: [], pinned: false });
      if (open && open.room === r.id && open.key === keyOf(m.pos)) close();
      const reply = replies.get(r.id);
      if (reply && samePos(reply.pos, m.pos)) {
        replies.delete(r.id);
        setStatus('The message you were replying to was deleted', true);
      }
    } else if (f.type === 'reaction') {
      const byMe = !!me() && f.sender === me().id;
      const list = (m.reactions || []).map((c) => ({ ...c }));
      let c = list.find((x) => x.emoji === f.emoji);
      if (!f.removed) {
        if (!c) list.push(c = { emoji: f.emoji, count: 0 });
        c.count++;
        if (byMe) c.mine = true;
      } else if (c) {
        c.count = Math.max(0, c.count - 1);
        if (byMe) c.mine = false;
      }
      m.reactions = list.filter((x) => x.count > 0);
    } else if (f.type === 'pinned') {
      m.pinned = !f.removed;
    }
    return true;
  }

  // Sends one change command with a fresh cmid (the same one again on `busy`), and applies its
  // entry at the position `sent` names, in case its event has not come yet.
  async function run(r, frame, what, entry) {
    const full = { ...frame, room: r.id, cmid: newCmid() };
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await cmd(full, true);
        const done = { ...entry, pos: res.pos, sender: me().id, ts: Date.now() };
        if (done.type === 'pinned' && pinned) pinned(r, done);
        if (apply(r, done)) refresh(r);
        return true;
      } catch (e) {
        if (e.code === 4001 && attempt < BUSY_RETRIES) { await new Promise((ok) => setTimeout(ok, 1000)); continue; }
        if (e.code === 3000 && what === 'pin') { noPins.add(r.id); refresh(r); }
        setStatus(describeRefusal(what, e), true);
        return false;
      }
    }
  }

  const react = (r, m, emoji, remove) => run(r, { type: 'react', target: m.pos, emoji, ...(remove ? { remove: true } : {}) },
    'react', { type: 'reaction', target: m.pos, emoji, removed: !!remove });
  const toggle = (r, m, emoji) => {
    const c = (m.reactions || []).find((x) => x.emoji === emoji);
    return react(r, m, emoji, !!(c && c.mine));
  };

  async function save(r, m) {
    const text = editor ? editor.value : '';
    if (saving) return;
    if (text === m.text) { dismiss(r, m, 'edit'); return; }
    if (!text.trim()) { setStatus('A message cannot be empty: delete it instead', true); return; }
    saving = true;
    const ok = await run(r, { type: 'edit', target: m.pos, text }, 'edit', { type: 'edited', target: m.pos, text });
    saving = false;
    if (ok && isOpen(r, m, 'editor')) dismiss(r, m, 'edit');
    else refresh(r);
  }

  const pin = (r, m) => run(r, { type: 'pin', target: m.pos, ...(m.pinned ? { unpin: true } : {}) },
    m.pinned ? 'unpin' : 'pin', { type: 'pinned', target: m.pos, removed: !!m.pinned });

  async function remove(r, m) {
    close();
    refresh(r);
    await run(r, { type: 'delete', target: m.pos }, 'delete', { type: 'deleted', target: m.pos });
  }

  function startReply(r, m) {
    replies.set(r.id, { pos: m.pos, sender: m.sender, text: m.text });
    refresh(r);
    compose.focus();
  }

  function toggleOpen(r, m, kind) {
    if (isOpen(r, m, kind)) close();
    else {
      close();
      open = { room: r.id, key: keyOf(m.pos), kind };
      if (kind === 'editor') {
        editor = el('textarea', { class: 'editor', rows: 2, value: m.text, 'aria-label': 'Edit your message',
          'data-focus': keyOf(m.pos) + ':editor' });
        editor.addEventListener('keydown', (e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); save(r, m); }
          else if (e.key === 'Escape') { e.preventDefault(); dismiss(r, m, 'edit'); }
        });
      }
    }
    refresh(r);
    if (editor) { editor.focus(); editor.setSelectionRange(editor.value.length, editor.value.length); }
    // Keyboard use: the focus moves into what opened (the palette's first emoji, or Cancel).
    const into = open && open.kind !== 'editor' && compose.ownerDocument.querySelector(
      open.kind === 'palette' ? '#messages .palette button' : '#messages .confirm [data-action="cancel-delete"]');
    if (into) into.focus();
  }

  // ------------------------------------------------------------ parts of a message's view
  const button = (label, action, m, onclick, extra) => el('button', { type: 'button', class: 'secondary',
    'data-action': action, 'data-focus': keyOf(m.pos) + ':' + action, onclick, ...(extra || {}) }, label);

  // The quote above a reply: who wrote the quoted message and its first line, as it is on screen
  // when it is loaded (edited or deleted since), else as the node quoted it.
  function quote(r, q) {
    const shown = find(r, q.pos);
    const deleted = shown ? !!shown.deleted : !!q.deleted;
    const text = deleted ? 'deleted message' : firstLine(shown ? shown.text : q.text) || 'attachment';
    return el('button', { type: 'button', class: 'quote' + (deleted ? ' gone' : ''),
      'aria-label': 'Replying to ' + userName(q.sender) + ': ' + text + '. Show that message',
      onclick: () => goTo(r, q.pos) },
    el('span', { class: 'quote-name' }, userName(q.sender)), el('span', { class: 'quote-text' }, text));
  }

  function goTo(r, pos) {
    const box = compose.ownerDocument.getElementById('messages');
    const target = box && box.querySelector(`.msg[data-epoch="${pos.epoch}"][data-seq="${pos.seq}"]`);
    if (!target) { setStatus('The quoted message is further back than what is loaded: press Load older', true); return; }
    target.scrollIntoView({ block: 'center', behavior: 'smooth' });
    target.classList.add('flash');
    setTimeout(() => target.classList.remove('flash'), 1600);
  }

  function chips(r, m) {
    const list = (m.reactions || []).filter((c) => c.count > 0);
    if (!list.length) return null;
    return el('div', { class: 'reactions' }, ...list.map((c) => el('button', { type: 'button',
      class: 'chip' + (c.mine ? ' mine' : ''), 'aria-pressed': String(!!c.mine), 'data-emoji': c.emoji,
      'data-focus': keyOf(m.pos) + ':chip:' + c.emoji,
      'aria-label': c.emoji + ' ' + c.count + (c.mine ? ', yours: remove it' : ': add yours'),
      onclick: () => toggle(r, m, c.emoji) }, el('span', { class: 'emoji' }, c.emoji),
    el('span', { class: 'count' }, String(c.count)))));
  }

  function actions(r, m) {
    const who = userName(m.sender);
    const bar = el('div', { class: 'actions', role: 'toolbar', 'aria-label': 'Message from ' + who },
      button('Reply', 'reply', m, () => startReply(r, m), { 'aria-label': 'Reply to ' + who }),
      button('React', 'react', m, () => toggleOpen(r, m, 'palette'),
        { 'aria-expanded': String(isOpen(r, m, 'palette')), 'aria-label': 'React to this message' }));
    if (mine(m)) bar.append(button('Edit', 'edit', m, () => toggleOpen(r, m, 'editor')));
    // Owners and admins delete anyone's message (PROTOCOL §6.16).
    if (mine(m) || moderator(r)) bar.append(button('Delete', 'delete', m, () => toggleOpen(r, m, 'confirm')));
    if (mayPin(r)) {
      bar.append(button(m.pinned ? 'Unpin' : 'Pin', 'pin', m, () => pin(r, m),
        { 'aria-pressed': String(!!m.pinned), 'aria-label': m.pinned ? 'Unpin this message' : 'Pin this message to the room' }));
    }
    return bar;
  }

  function palette(r, m) {
    const row = el('div', { class: 'palette', role: 'group', 'aria-label': 'Pick a reaction' },
      ...PALETTE.map((emoji) => el('button', { type: 'button', class: 'emoji', 'data-emoji': emoji,
        'data-focus': keyOf(m.pos) + ':pick:' + emoji, 'aria-label': 'React with ' + emoji,
        onclick: () => { close(); toggle(r, m, emoji); refresh(r); } }, emoji)));
    row.addEventListener('keydown', (e) => { if (e.key === 'Escape') dismiss(r, m, 'react'); });
    return row;
  }

  function confirmDelete(r, m) {
    const row = el('div', { class: 'confirm', role: 'group', 'aria-label': 'Delete this message' },
      el('span', {}, 'Delete this message for everyone?'),
      button('Delete', 'confirm-delete', m, () => remove(r, m), { class: 'danger' }),
      button('Cancel', 'cancel-delete', m, () => dismiss(r, m, 'delete')));
    row.addEventListener('keydown', (e) => { if (e.key === 'Escape') dismiss(r, m, 'delete'); });
    return row;
  }

  function editorView(r, m) {
    return el('div', { class: 'editing' }, editor,
      el('div', { class: 'editor-help' }, 'Enter to save · Shift+Enter for a new line · Escape to cancel'),
      button('Save', 'save', m, () => save(r, m)),
      button('Cancel', 'cancel-edit', m, () => dismiss(r, m, 'edit')));
  }

  return {
    apply,
    // Adds (or with `remove`, takes back) one's reaction `emoji` on message `m` of room `r`.
    react,
    // Signed out: nothing of the last user's is kept.
    clear() { replies.clear(); noPins.clear(); close(); },

    // Adds this module's parts to a stored message's view `view` (built by app.js: `.meta`,
    // `.text`, attachments).
    decorate(r, m, view) {
      view.setAttribute('tabindex', '-1'); // a tap or click on it shows its action bar
      view.dataset.focus = keyOf(m.pos) + ':message';
      const text = view.querySelector('.text');
      if (m.reply_to) view.insertBefore(quote(r, m.reply_to), text);
      if (m.deleted) {
        view.classList.add('deleted');
        text.textContent = 'This message was deleted';
        text.classList.add('tombstone');
        return view;
      }
      if (m.edited) {
        view.querySelector('.meta').append(el('span', { class: 'edited',
          title: 'edited ' + new Date(m.edited).toLocaleString() }, ' · (edited)'));
      }
      if (isOpen(r, m, 'editor') && editor) text.replaceWith(editorView(r, m));
      const c = chips(r, m);
      if (c) view.append(c);
      view.append(actions(r, m));
      if (isOpen(r, m, 'palette')) { view.classList.add('menu-open'); view.append(palette(r, m)); }
      if (isOpen(r, m, 'confirm')) { view.classList.add('menu-open'); view.append(confirmDelete(r, m)); }
      return view;
    },

    // The quote of a reply not yet stored (an outbox entry), shown above its text.
    quote,

    // The message `r`'s next send replies to (its position and quote), if any; taken, so the
    // reply bar closes once the reply is in the outbox.
    takeReply(r) {
      const q = replies.get(r.id);
      replies.delete(r.id);
      return q || null;
    },

    describeRefusal,

    // The bar above the compose box while a reply is being written.
    renderReplyBar(r) {
      const q = r && replies.get(r.id);
      replyBar.hidden = !q;
      if (!q) { replyBar.replaceChildren(); return; }
      const shown = find(r, q.pos);
      const text = firstLine(shown ? shown.text : q.text) || 'attachment';
      replyBar.replaceChildren(
        el('span', { class: 'reply-label' }, 'Replying to ', el('strong', {}, userName(q.sender))),
        el('span', { class: 'quote-text' }, text),
        el('button', { type: 'button', class: 'secondary', id: 'cancel-reply', 'aria-label': 'Cancel the reply',
          onclick: () => { replies.delete(r.id); refresh(r); compose.focus(); } }, '×'));
    },

    // Escape in the compose box cancels a reply being written. True when it did.
    cancelReply(r) {
      if (!r || !replies.has(r.id)) return false;
      replies.delete(r.id);
      refresh(r);
      return true;
    },

    // render() rebuilds the message list: what had the focus there gets it back afterwards.
    focused(box) {
      const a = box.ownerDocument.activeElement;
      return a && box.contains(a) && a.dataset ? a.dataset.focus || null : null;
    },
    refocus(box, key) {
      if (!key) return;
      const e = [...box.querySelectorAll('[data-focus]')].find((x) => x.dataset.focus === key);
      if (e) e.focus({ preventScroll: true });
    },
  };
}
