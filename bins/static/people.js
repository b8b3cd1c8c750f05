// People for the web page: names for user ids and the search for users by name (PROTOCOL §6.15).
// Profiles are cached; ids seen together are looked up together (`profiles`, at most 100 a
// command); `profile_changed` keeps them fresh. Callers put names into the page as text only.

const BATCH = 100; // the most ids one `profiles` command may name
const LOOKUP_DELAY = 50; // ms: ids asked for within this go out in one command
const MATCHES = 8; // users shown for what a person typed

// `cmd(frame, quiet)` sends a command and resolves with its reply; `changed()` is called when
// names became known, so the page can show them.
export function people(cmd, changed) {
  const known = new Map(); // id -> profile
  const missing = new Set(); // ids that name nobody
  const wanted = new Set(); // ids to look up
  const asked = new Set(); // ids looked up, answer not in yet
  let timer = null;

  function want(ids) {
    for (const id of ids) if (!known.has(id) && !missing.has(id) && !asked.has(id)) wanted.add(id);
    if (wanted.size && !timer) timer = setTimeout(lookUp, LOOKUP_DELAY);
  }

  function lookUp() {
    timer = null;
    const ids = [...wanted].slice(0, BATCH);
    for (const id of ids) { wanted.delete(id); asked.add(id); }
    cmd({ type: 'profiles', users: ids }, true).then((res) => {
      for (const p of res.users) known.set(p.id, p);
      for (const id of ids) { asked.delete(id); if (!known.has(id)) missing.add(id); }
      changed();
    }, (e) => {
      for (const id of ids) asked.delete(id);
      // Not connected (code 0): asked again by `flush` once the page is. Other refusals are final.
      if (e.code === 0) for (const id of ids) wanted.add(id);
    });
    if (wanted.size) timer = setTimeout(lookUp, LOOKUP_DELAY);
  }

  // What the page shows for `id`: the display name, else the account name; `fallback` (or
  // "user N") until the profile is in.
  function name(id, fallback) {
    const p = known.get(id);
    if (p) return p.display_name || p.name;
    want([id]);
    return fallback || 'user ' + id;
  }

  return {
    name,
    // The name of `id` once its profile is in (for text written once, like a status line).
    async named(id) {
      if (!known.has(id) && !missing.has(id)) {
        try {
          const res = await cmd({ type: 'profiles', users: [id] }, true);
          for (const p of res.users) known.set(p.id, p);
        } catch (_) { /* "user N" then */ }
      }
      return name(id);
    },
    profile: (id) => known.get(id),
    want,
    // The page (re)connected: look up what could not be looked up before.
    flush() { if (wanted.size && !timer) timer = setTimeout(lookUp, LOOKUP_DELAY); },
    // A `profile_changed` event, or a profile the page learnt otherwise.
    update(p) { known.set(p.id, p); missing.delete(p.id); changed(); },
    // Profiles that came with another answer (a direct room's peer in `rooms`): kept quietly.
    learn(ps) { for (const p of ps) { known.set(p.id, p); missing.delete(p.id); } },
    // Forget one profile, to look it up afresh.
    forget(id) { known.delete(id); want([id]); },
    clear() { known.clear(); missing.clear(); wanted.clear(); asked.clear(); },
    // Users whose account or display name starts with `prefix`.
    async search(prefix) {
      const res = await cmd({ type: 'find_users', prefix, limit: MATCHES }, true);
      for (const p of res.users) known.set(p.id, p);
      return res.users;
    },
  };
}

// How a user is listed among search matches: display name and account name.
export function label(p) {
  return p.display_name ? p.display_name + ' (' + p.name + ')' : p.name;
}

// A name field that lists the users matching what was typed (`search(prefix)`, a while after
// the last keystroke); picking one, or submitting a name only one user matches (or matches
// exactly), hands that user to `act`. Otherwise `refuse(several)` says why nothing happened.
export function finder(form, input, list, search, refuse, act) {
  let timer = null;
  let latest = 0; // the latest search: older answers are dropped
  const show = (users) => list.replaceChildren(...users.map((p) => {
    const button = document.createElement('button');
    Object.assign(button, { type: 'button', className: 'secondary', textContent: label(p), onclick: () => pick(p) });
    button.dataset.userId = p.id;
    const item = document.createElement('li');
    item.append(button);
    return item;
  }));
  const pick = (p) => { input.value = ''; show([]); act(p); };
  const matches = async () => {
    const prefix = input.value.trim();
    const n = ++latest;
    const users = prefix ? await search(prefix) : [];
    if (n === latest) show(users);
    return users;
  };
  input.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(matches, 300); });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearTimeout(timer);
    const typed = input.value.trim().toLowerCase();
    if (!typed) return;
    const users = await matches();
    const exact = users.filter((p) => p.name.toLowerCase() === typed || p.display_name.toLowerCase() === typed);
    if (exact.length === 1 || users.length === 1) pick(exact[0] || users[0]);
    else refuse(users.length > 1);
  });
}
