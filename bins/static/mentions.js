// Mentions on the web page (PROTOCOL §6.8): `@name`s in a message's text shown highlighted, and
// the completion of a name being typed in the compose box from the open room's members.
//
// The node decides who a message mentions (`mentions`, user ids, resolved when it was sent);
// the page finds the `@name`s in the text the way the node does (engine::mentions) and
// highlights those whose name is the account name of one of those users. A name that names
// nobody in the room stays plain text. What users wrote goes into the page as text only.

const MATCHES = 8; // names the completion list offers at a time
const MAX_NAME = 32; // account names are 1 to 32 characters

const nameChar = (c) => /^[A-Za-z0-9_.-]$/.test(c);

// The `@name`s of `text` as the node reads them: [{start, end, name}], `start` at the `@`, `end`
// after the name (its final dots, the sentence's, left out), `name` lower-cased.
export function mentionedNames(text) {
  const found = [];
  let afterNameChar = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== '@' || afterNameChar) { afterNameChar = nameChar(c); continue; }
    let end = i + 1;
    while (end < text.length && nameChar(text[end])) end++;
    afterNameChar = end > i + 1;
    let cut = end;
    while (cut > i + 1 && text[cut - 1] === '.') cut--;
    const length = cut - i - 1;
    if (length > 0 && length <= MAX_NAME) found.push({ start: i, end: cut, name: text.slice(i + 1, cut).toLowerCase() });
    i = end - 1;
  }
  return found;
}

// The name being typed just before the caret, `@` included: {start, prefix}, or null. The `@`
// must start a name as the node reads it (not `ann@ex` of an address).
export function typedName(text, caret) {
  const m = /(^|[^A-Za-z0-9_.-])@([A-Za-z0-9_.-]*)$/.exec(text.slice(0, caret));
  return m ? { start: caret - m[2].length - 1, prefix: m[2] } : null;
}

// `profile(id)` is a cached profile (or nothing), `want(ids)` asks for the missing ones (the
// page re-renders once they are in), `me()` the signed-in user, `el` builds an element.
export function mentions({ profile, want, me, el }) {
  // The pieces of message `m`'s text: strings, and a `.mention` span for each `@name` that is
  // the account name of a user the message mentions.
  function text(m) {
    const ids = m.mentions || [];
    if (!ids.length || !m.text) return [m.text || ''];
    const byName = new Map();
    for (const id of ids) {
      const p = profile(id);
      if (p) byName.set(p.name.toLowerCase(), id);
    }
    if (byName.size < ids.length) want(ids);
    const pieces = [];
    let at = 0;
    for (const { start, end, name } of mentionedNames(m.text)) {
      const id = byName.get(name);
      if (id === undefined) continue;
      if (start > at) pieces.push(m.text.slice(at, start));
      const mine = !!me() && id === me().id;
      pieces.push(el('span', { class: 'mention' + (mine ? ' me' : ''), 'data-user-id': id }, m.text.slice(start, end)));
      at = end;
    }
    if (at < m.text.length) pieces.push(m.text.slice(at));
    return pieces;
  }

  return {
    text,
    // Message `m` mentions the signed-in user.
    mentionsMe: (m) => !!me() && (m.mentions || []).includes(me().id),
  };
}

// The completion list under the compose box `box`: while the caret follows `@` and at least one
// name character, `list` offers up to MATCHES of `members()` (user ids; the signed-in user left
// out) whose account name or display name starts with what was typed, ignoring case. ArrowUp
// and ArrowDown move, Enter or Tab picks, Escape closes; picking writes `@accountname `.
// `update()` recomputes it (the members or their profiles became known).
export function completion({ box, list, members, profile, want, me }) {
  let shown = []; // the profiles offered
  let active = 0;
  let closedAt = null; // where the name whose list Escape closed starts: it stays closed

  function candidates(prefix) {
    const ids = members().filter((id) => !me() || id !== me().id);
    want(ids);
    const p = prefix.toLowerCase();
    return ids.map(profile).filter((u) => u && (u.name.toLowerCase().startsWith(p)
      || (u.display_name || '').toLowerCase().startsWith(p)))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .slice(0, MATCHES);
  }

  function render() {
    list.hidden = !shown.length;
    if (!shown.length) { box.removeAttribute('aria-activedescendant'); list.replaceChildren(); return; }
    list.replaceChildren(...shown.map((u, i) => {
      const item = document.createElement('li');
      item.id = 'mention-option-' + i;
      item.setAttribute('role', 'option');
      item.setAttribute('aria-selected', String(i === active));
      item.dataset.userId = u.id;
      item.dataset.name = u.name;
      const name = document.createElement('span');
      name.className = 'mention-name';
      name.textContent = u.display_name || u.name;
      const account = document.createElement('span');
      account.className = 'mention-account';
      account.textContent = '@' + u.name;
      item.append(name, account);
      // A press on an option must not take the focus from the box (its caret says where to write).
      item.addEventListener('mousedown', (e) => e.preventDefault());
      item.addEventListener('click', () => pick(u));
      return item;
    }));
    box.setAttribute('aria-activedescendant', 'mention-option-' + active);
  }

  function update() {
    const typed = box.selectionStart === box.selectionEnd ? typedName(box.value, box.selectionStart) : null;
    if (!typed || !typed.prefix || typed.start === closedAt) {
      if (!typed || typed.start !== closedAt) closedAt = null;
      if (shown.length) { shown = []; render(); }
      return;
    }
    closedAt = null;
    const before = shown[active];
    shown = candidates(typed.prefix);
    const again = before ? shown.findIndex((u) => u.id === before.id) : -1;
    active = again >= 0 ? again : 0;
    render();
  }

  function pick(u) {
    const typed = typedName(box.value, box.selectionStart);
    if (!typed) return;
    const insert = '@' + u.name + ' ';
    box.value = box.value.slice(0, typed.start) + insert + box.value.slice(box.selectionStart);
    const caret = typed.start + insert.length;
    box.setSelectionRange(caret, caret);
    shown = [];
    render();
    box.focus();
    // The box grows, and others see typing, as for a keystroke.
    box.dispatchEvent(new Event('input', { bubbles: true }));
  }

  box.setAttribute('aria-autocomplete', 'list');
  box.setAttribute('aria-controls', list.id);
  box.addEventListener('input', update);
  box.addEventListener('click', update);
  box.addEventListener('keyup', (e) => { if (e.key === 'ArrowLeft' || e.key === 'ArrowRight' || e.key === 'Home' || e.key === 'End') update(); });
  box.addEventListener('blur', () => { if (shown.length) { shown = []; render(); } });
  // In the capture phase: at the box itself capture listeners run first, so while the list is
  // open Enter picks instead of sending (compose.js) and Escape closes it instead of the reply.
  box.addEventListener('keydown', (e) => {
    if (!shown.length || e.isComposing) return;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      active = (active + (e.key === 'ArrowDown' ? 1 : shown.length - 1)) % shown.length;
      render();
    } else if ((e.key === 'Enter' && !e.shiftKey) || (e.key === 'Tab' && !e.shiftKey)) {
      pick(shown[active]);
    } else if (e.key === 'Escape') {
      const typed = typedName(box.value, box.selectionStart);
      closedAt = typed ? typed.start : null;
      shown = [];
      render();
    } else return;
    e.preventDefault();
    e.stopImmediatePropagation();
  }, { capture: true });

  return {
    update() { if (document.activeElement === box) update(); },
    close() { closedAt = null; if (shown.length) { shown = []; render(); } },
  };
}
