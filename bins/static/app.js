// Switchboard web client: plain ES2020 modules, no dependencies.
import { mpDecode, mpEncode } from './msgpack.js';
import { changes } from './changes.js';
import { composeBox } from './compose.js';
import { completion, mentions } from './mentions.js';
import { finder, label, people } from './people.js';
import { pins } from './pins.js';
import { roomList } from './rooms.js';
import { ticks } from './ticks.js';
import { continues, dayLabel, sameDay, timeOf } from './timeline.js';

const utf8enc = new TextEncoder();

// ---------------------------------------------------------------- state
const $ = (id) => document.getElementById(id);
const TOKEN_KEY = 'switchboard.token';
const USER_KEY = 'switchboard.user';
// With Cognito (GET /api/auth says so): the refresh token, and when the access token expires.
const REFRESH_KEY = 'switchboard.refresh';
const EXPIRES_KEY = 'switchboard.expires';
// The room open last, per user: a reload opens it again.
const openKey = (user) => 'switchboard.room.' + user;
// Phone width (as app.css has it): the room list and the conversation are two views.
const phone = window.matchMedia('(max-width: 640px)');

const state = {
  token: localStorage.getItem(TOKEN_KEY),
  me: JSON.parse(localStorage.getItem(USER_KEY) || 'null'),
  ws: null,
  connected: false,
  hello: null,
  nextRid: 1,
  pending: new Map(), // rid -> {resolve, reject, frame}
  rooms: new Map(), // id -> room
  current: null,
  presence: new Map(), // user id -> status
  subscribed: new Set(),
  backoff: 1000,
  reconnectTimer: null,
  attempt: 0, // reconnection attempts since the connection was lost
  stopped: null, // why the page stopped reconnecting by itself
  farewell: null, // the server's `disconnect` frame, until the close that follows it
  provider: 'local', // how the node signs people in: 'local' accounts or 'cognito'
  refreshTimer: null,
  attaching: [], // files for the next message: {name, attachment, failed}
  links: new Map(), // 'id' or 'id/thumb' -> {url, expires} (signed download URLs)
  profileFilled: false, // the profile form shows the stored profile (once, after sign-in)
};
// Names for user ids, looked up in batches and kept fresh (people.js).
const names = people(cmd, () => render());

// Closes that mean a client bug or a refusal (PROTOCOL §8.10, §10): reconnecting would repeat
// it, so the page stops and offers a Reconnect button instead of looping.
const FINAL_CLOSES = new Set([1002, 1003, 1007, 1008, 1009, 1010, 4001, 4003, 4009]);
// The user's access was revoked (a Cognito user disabled or signed out everywhere): the tokens
// the page holds are refused from now on.
const REVOKED = 4003;

const cmpPos = (a, b) => (a.epoch - b.epoch) || (a.seq - b.seq);
const posKey = (p) => p.epoch + ':' + p.seq;
// What a message is, whatever position it was given: its sender's id and cmid (PROTOCOL §8.2).
const msgId = (sender, cmid) => sender + '/' + cmid;
// A user as the page shows them: display name, else account name (until known: "user N").
const userName = (id) => names.name(id, state.me && id === state.me.id ? state.me.name : null);
// A direct conversation is named "lo:hi" by the node: shown as the other person's name.
function roomLabel(r) {
  const pair = r.kind === 'direct' && /^(\d+):(\d+)$/.exec(r.name);
  if (!pair || !state.me) return r.name;
  const other = Number(pair[1]) === state.me.id ? Number(pair[2]) : Number(pair[1]);
  return userName(other);
}
const newCmid = () => {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
};
// The later of two positions, either of which may be null.
const later = (a, b) => (!a || (b && cmpPos(b, a) > 0) ? b : a);
// The room list (rooms.js); the page joins every room it lists, so their events arrive.
const list = roomList({ cmd, el, me: () => state.me, userName, title: roomLabel, learn: (ps) => names.learn(ps),
  open: (id) => openRoom(id, true), listed: joinListed, list: $('rooms'), more: $('rooms-more'), scroller: $('room-list') });
// Mentions (mentions.js): `@name`s highlighted in messages, and names completed in the message
// box from the open room's members (the `receipts` walk's, and senders and joins seen since).
// Made before the box's own keys (compose.js), which a pick with Enter must not also send.
const highlight = mentions({ profile: (id) => names.profile(id), want: (ids) => names.want(ids), me: () => state.me, el });
const mentionBox = completion({ box: $('compose'), list: $('mention-list'), profile: (id) => names.profile(id),
  want: (ids) => names.want(ids), me: () => state.me, members: () => {
    const r = state.current && room(state.current);
    return r ? [...new Set([...receipts.members(r.id), ...r.members])] : [];
  } });
// The message box (compose.js): Enter sends, Shift+Enter starts a new line.
const compose = composeBox($('compose'), () => $('compose-form').requestSubmit());
// The bar of pinned messages above the conversation (pins.js).
const pinBar = pins({ cmd, userName, el, refresh: (r) => renderIf(r), setStatus, bar: $('pin-bar'), box: $('messages'),
  message: (r, pos) => r.msgs.find((m) => cmpPos(m.pos, pos) === 0) });
// Replies, edits, deletes, reactions and pins (changes.js).
const edits = changes({ cmd, newCmid, me: () => state.me, userName, el, refresh: (r) => renderIf(r), setStatus,
  compose: $('compose'), replyBar: $('reply-bar'), pinned: (r, f) => { if (pinBar.event(r, f)) renderIf(r); } });
// Sent, delivered, read (ticks.js): delivered marks as messages arrive, ticks on one's own.
const receipts = ticks({ cmd, me: () => state.me, el, refresh: (id) => renderIf(state.rooms.get(id)) });

function room(id, info) {
  let r = state.rooms.get(id);
  if (!r) {
    r = { id, name: 'room ' + id, kind: '', joined: false, loaded: false, more: false, last: null,
      msgs: [], keys: new Set(), ids: new Map(), outbox: new Map(), typing: new Map(),
      members: new Set(), marked: null };
    state.rooms.set(id, r);
  }
  if (info) { r.name = info.name; r.kind = info.kind; }
  return r;
}

function setStatus(text, isError) {
  $('status').textContent = text;
  $('status').classList.toggle('error', !!isError);
}

// ---------------------------------------------------------------- HTTP API
async function api(method, path, body) {
  const headers = { 'Content-Type': 'application/json' };
  if (state.token) headers.Authorization = 'Bearer ' + state.token;
  const res = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  let json = null;
  try { json = await res.json(); } catch (_) { /* empty or not JSON */ }
  if (!res.ok) {
    const e = (json && json.error) || {};
    const err = new Error(e.message || res.status + ' ' + res.statusText);
    err.code = e.code; err.status = res.status;
    throw err;
  }
  return json;
}

// Sign-in and sign-up: the node's own accounts, or (with Cognito) the user pool's through the
// node's /api/cognito routes (PROTOCOL §3.2).
async function authenticate(kind) {
  const name = $('name').value.trim();
  const password = $('password').value;
  if (!name || !password) { setStatus('Enter a name and a password', true); return; }
  if (state.provider === 'cognito') { await cognitoAuthenticate(kind, name, password); return; }
  try {
    const res = await api('POST', '/api/' + kind, { name, password });
    signedIn(res.token, res.user);
    setStatus(kind === 'signup' ? 'Welcome, ' + res.user.name : 'Signed in');
  } catch (e) {
    // Sign-in does not say which of the two was wrong; sign-up names the rule that failed.
    if (kind === 'signin' && e.code === 2001) setStatus('Sign in failed: wrong name or password', true);
    else setStatus((kind === 'signup' ? 'Sign up' : 'Sign in') + ' failed: ' + e.message, true);
  }
}

function signedIn(token, user) {
  state.token = token;
  state.me = user;
  localStorage.setItem(TOKEN_KEY, token);
  localStorage.setItem(USER_KEY, JSON.stringify(user));
  $('password').value = '';
  $('confirm-form').hidden = true;
  start();
}

// ---------------------------------------------------------------- Cognito
async function loadProvider() {
  try {
    state.provider = (await api('GET', '/api/auth')).provider;
  } catch (_) {
    state.provider = 'local'; // a node without the route has local accounts
  }
  document.body.dataset.provider = state.provider;
  for (const e of document.querySelectorAll('.cognito-only')) e.hidden = state.provider !== 'cognito';
}

// Sign-up asks the pool, which may send a confirmation code first; sign-in keeps the access
// token (for /ws and the API: the node can then tell when it is revoked) and the refresh token.
async function cognitoAuthenticate(kind, name, password) {
  const verb = kind === 'signup' ? 'Sign up' : 'Sign in';
  try {
    if (kind === 'signup') {
      const email = $('email').value.trim();
      const res = await api('POST', '/api/cognito/signup', email ? { name, password, email } : { name, password });
      if (!res.confirmed) {
        $('confirm-form').hidden = false;
        $('code').focus();
        setStatus('Enter the confirmation code the user pool sent you');
        return;
      }
    }
    await cognitoSignIn(name, password);
    setStatus(kind === 'signup' ? 'Welcome, ' + state.me.name : 'Signed in');
  } catch (e) {
    if (e.code === 2004) {
      $('confirm-form').hidden = false;
      setStatus(verb + ' failed: confirm the account first (enter the code)', true);
    } else if (e.code === 2001) setStatus(verb + ' failed: wrong name or password', true);
    else setStatus(verb + ' failed: ' + e.message, true);
  }
}

async function cognitoSignIn(name, password) {
  const res = await api('POST', '/api/cognito/signin', { name, password });
  keepRefresh(res.refresh_token, res.expires_in);
  signedIn(res.access_token, res.user);
}

async function confirmAccount() {
  const name = $('name').value.trim();
  const code = $('code').value.trim();
  if (!name || !code) { setStatus('Enter the name and the confirmation code', true); return; }
  try {
    await api('POST', '/api/cognito/confirm', { name, code });
    $('code').value = '';
    if ($('password').value) await cognitoSignIn(name, $('password').value);
    else { $('confirm-form').hidden = true; setStatus('Confirmed: sign in now'); return; }
    setStatus('Welcome, ' + state.me.name);
  } catch (e) {
    setStatus('Confirmation failed: ' + e.message, true);
  }
}

function keepRefresh(refreshToken, expiresIn) {
  if (refreshToken) localStorage.setItem(REFRESH_KEY, refreshToken);
  localStorage.setItem(EXPIRES_KEY, String(Date.now() + expiresIn * 1000));
  scheduleRefresh();
}

// A minute before the access token expires, trade the refresh token for a new one. An open
// connection stays as it is; the next one (and the API) uses the new token.
function scheduleRefresh() {
  clearTimeout(state.refreshTimer);
  const expires = Number(localStorage.getItem(EXPIRES_KEY) || 0);
  if (state.provider !== 'cognito' || !localStorage.getItem(REFRESH_KEY) || !expires) return;
  const delay = Math.max(1000, expires - Date.now() - 60000);
  state.refreshTimer = setTimeout(refreshToken, Math.min(delay, 2 ** 31 - 1));
}

async function refreshToken() {
  try {
    const res = await api('POST', '/api/cognito/refresh', { refresh_token: localStorage.getItem(REFRESH_KEY) });
    state.token = res.access_token;
    localStorage.setItem(TOKEN_KEY, res.access_token);
    keepRefresh(null, res.expires_in);
  } catch (e) {
    if (e.status === 401) signOut('Session expired: sign in again');
    else { setStatus('Could not refresh the session: ' + e.message, true); state.refreshTimer = setTimeout(refreshToken, 30000); }
  }
}

// Signing out of Cognito ends the user's refresh tokens everywhere, then the page forgets them.
async function signOutEverywhere() {
  if (state.provider === 'cognito' && state.token) {
    try { await api('POST', '/api/cognito/signout', {}); } catch (_) { /* signed out locally anyway */ }
  }
  signOut();
}

function signOut(message) {
  clearTimeout(state.reconnectTimer);
  clearTimeout(state.refreshTimer);
  if (state.ws) { state.ws.onclose = null; state.ws.close(1000); }
  Object.assign(state, { ws: null, connected: false, token: null, me: null, current: null, attempt: 0, stopped: null });
  state.rooms.clear(); state.presence.clear(); state.subscribed.clear();
  names.clear(); edits.clear(); list.clear(); receipts.clear(); pinBar.clear(); mentionBox.close(); state.profileFilled = false;
  for (const id of ['display-name', 'status-text']) { $(id).value = ''; delete $(id).dataset.edited; }
  document.body.dataset.view = 'list';
  failPending('signed out');
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(USER_KEY);
  localStorage.removeItem(REFRESH_KEY);
  localStorage.removeItem(EXPIRES_KEY);
  document.body.dataset.conn = 'closed';
  render();
  setStatus(message || 'Signed out');
}

// A connection the node refused before its `hello`: is the token still good?
async function checkSession() {
  try {
    await api('GET', '/api/rooms');
  } catch (e) {
    if (e.status === 401) signOut('Session expired: sign in again');
  }
}

// ---------------------------------------------------------------- WebSocket
function connect() {
  if (!state.token) return;
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host
    + '/ws?token=' + encodeURIComponent(state.token);
  const ws = new WebSocket(url, ['switchboard.v1']);
  ws.binaryType = 'arraybuffer';
  state.ws = ws;
  state.farewell = null;
  let greeted = false;
  ws.onmessage = (ev) => {
    let frame;
    try { frame = mpDecode(ev.data); } catch (e) { setStatus('Bad frame from server: ' + e.message, true); return; }
    if (frame.type === 'hello') greeted = true;
    onFrame(frame);
  };
  ws.onclose = (ev) => {
    if (state.ws !== ws) return;
    state.ws = null; state.connected = false;
    const farewell = state.farewell;
    state.farewell = null;
    // The `disconnect` frame says more than a close that may have been lost to a reset (1006).
    const [code, reason] = farewell ? [farewell.code, farewell.reason] : [ev.code, ev.reason];
    const why = 'close ' + code + (reason ? ': ' + reason : '');
    const final = farewell ? !farewell.reconnect : FINAL_CLOSES.has(ev.code);
    document.body.dataset.conn = final ? 'stopped' : 'closed';
    failPending('the connection closed (' + why + ')', final);
    for (const r of state.rooms.values()) r.typing.forEach((t) => clearTimeout(t)), r.typing.clear();
    if (code === REVOKED) {
      signOut('Signed out: access was revoked (' + why + ')');
      return;
    }
    if (final) {
      state.stopped = why;
      setStatus('Disconnected (' + why + '). Not reconnecting automatically.', true);
      render();
      return;
    }
    // Jitter (PROTOCOL §8.10): pages dropped together by a node do not all return at once.
    const delay = Math.round(state.backoff * (0.5 + Math.random() / 2));
    state.backoff = Math.min(state.backoff * 2, 10000);
    state.attempt++;
    setStatus('Disconnected (' + why + '), reconnecting in ' + (delay / 1000).toFixed(1) + ' s', true);
    render();
    state.reconnectTimer = setTimeout(async () => {
      if (!greeted) await checkSession(); // a rejected upgrade may mean the token is no longer valid
      if (state.token) connect();
    }, delay);
  };
}

// Code 0: the connection went before the reply. `final`: it will not come back by itself.
function failPending(why, final) {
  for (const p of state.pending.values()) p.reject(Object.assign(new Error(why), { code: 0, final: !!final }));
  state.pending.clear();
}

function reconnect() {
  state.backoff = 1000;
  state.stopped = null;
  state.attempt = 1;
  setStatus('Reconnecting…');
  render();
  if (!state.ws) connect();
}

// The banner over the conversation while the page is not connected: reconnecting (with the
// attempt), or stopped with a Reconnect button. Gone once the connection is back.
function renderBanner() {
  const down = !!state.token && !state.connected && (state.attempt > 0 || !!state.stopped);
  $('conn-banner').hidden = !down;
  $('conn-banner').classList.toggle('stopped', !!state.stopped);
  $('conn-text').textContent = !down ? ''
    : state.stopped ? 'Disconnected (' + state.stopped + ')'
      : 'Reconnecting… (attempt ' + state.attempt + ')';
  $('reconnect').hidden = !(down && state.stopped);
}

const size = (n) => n.toLocaleString('en-US') + ' bytes';
const limit = (n) => size(n) + (n % 1024 === 0 ? ' (' + n / 1024 + ' KiB)' : '');

// Send a command; resolves with its reply, rejects with the error frame. A frame over the
// server's limit is refused here (code null), since the server would close the connection.
function cmd(frame, quiet) {
  return new Promise((resolve, reject) => {
    if (!state.ws || !state.connected) { reject(Object.assign(new Error('not connected'), { code: 0 })); return; }
    const rid = state.nextRid;
    const bytes = mpEncode({ ...frame, rid });
    if (bytes.length > state.hello.max_frame_bytes) {
      const e = new Error('frame too big: ' + size(bytes.length) + ', the limit is '
        + limit(state.hello.max_frame_bytes));
      if (!quiet) setStatus(e.message, true);
      reject(Object.assign(e, { code: null }));
      return;
    }
    state.nextRid++;
    state.pending.set(rid, { resolve, reject, quiet });
    state.ws.send(bytes);
  });
}
const ignore = () => {};

function onFrame(f) {
  if (f.rid !== undefined && f.rid !== null && state.pending.has(f.rid)) {
    const p = state.pending.get(f.rid);
    state.pending.delete(f.rid);
    if (f.type === 'error') {
      if (!p.quiet) setStatus('Error ' + f.code + ': ' + f.message, true);
      p.reject(Object.assign(new Error(f.message), { code: f.code }));
    } else p.resolve(f);
    return;
  }
  const r = f.room !== undefined && typeof f.room === 'number' ? room(f.room) : null;
  switch (f.type) {
    case 'hello': onHello(f); break;
    case 'error': setStatus('Error ' + f.code + ': ' + f.message, true); break;
    case 'message':
      addMessage(r, f);
      list.message(f, r.id === state.current && reading());
      renderIf(r); break;
    // Entries of the room's sequence like messages: a resume starts after the last one seen.
    case 'edited':
    case 'deleted':
    case 'reaction':
    case 'pinned': {
      seen(r, f.pos);
      list.change(f);
      const bar = f.type === 'edited' ? pinBar.edited(r, f) : pinBar.event(r, f);
      if (edits.apply(r, f) || bar) renderIf(r); else list.render();
      break;
    }
    case 'room_added':
      room(f.room.id, f.room);
      list.added(f.room);
      joinRoom(room(f.room.id)).catch(ignore);
      list.render(); break;
    case 'member_joined':
    case 'member_left':
      if (f.type === 'member_joined') r.members.add(f.user); else r.members.delete(f.user);
      if (f.type === 'member_left' && state.me && f.user === state.me.id) { r.joined = false; list.remove(r.id); }
      watchUsers([f.user]);
      names.named(f.user).then((who) => setStatus(who + (f.type === 'member_joined' ? ' joined ' : ' left ') + roomLabel(r)));
      renderIf(r); break;
    case 'typing': onTyping(r, f); break;
    case 'presence_changed': state.presence.set(f.user, f.status); render(); break;
    case 'profile_changed': names.update(f.user); break;
    case 'read_receipt':
    case 'delivery_receipt': if (receipts.receipt(f)) renderIf(r); break;
    case 'resume':
      if (f.outcome === 'reload') {
        r.msgs = []; r.keys.clear(); r.ids.clear(); r.loaded = false;
        if (f.head) seen(r, f.head); // the history read next shows every change up to here
        if (r.id === state.current) loadNewest(r);
      }
      break;
    case 'room_reset': r.joined = false; joinRoom(r).catch(ignore); break;
    case 'disconnect':
      for (const rp of f.resume || []) seen(room(rp.room), rp.pos);
      setStatus('Server disconnect ' + f.code + ': ' + f.reason, true);
      state.farewell = f;
      break;
    default: break; // a late reply or an unknown event
  }
}

async function onHello(f) {
  state.hello = f;
  state.connected = true;
  state.backoff = 1000;
  state.attempt = 0;
  state.stopped = null;
  if (f.user) { state.me = f.user; localStorage.setItem(USER_KEY, JSON.stringify(f.user)); }
  document.body.dataset.conn = 'open';
  setStatus('Connected');
  state.subscribed.clear();
  render();
  watchUsers(state.me ? [state.me.id] : []);
  if (state.me) names.want([state.me.id]);
  names.flush();
  const rejoin = [...state.rooms.values()].filter((r) => r.joined);
  for (const r of rejoin) { r.joined = false; joinRoom(r).catch(ignore); }
  if (state.current && !rejoin.includes(room(state.current))) openRoom(state.current);
  await list.refresh();
  if (state.current === null && state.connected) landOn();
}

// After a (re)load: the room open last, else (on a wide screen) the first of the list. On a
// phone without a room to return to, the list itself is the place to land.
function landOn() {
  const saved = Number(localStorage.getItem(openKey(state.me && state.me.id)) || 0);
  const ids = list.ids();
  if (saved && ids.includes(saved)) openRoom(saved, true);
  else if (ids.length && !phone.matches) openRoom(ids[0], false);
}

// Joins the rooms a page of the list brought, in the background: their events keep the list
// live. History is read only for the room that is open.
function joinListed(ids) {
  for (const id of ids) {
    const r = room(id);
    const s = list.get(id);
    if (s && !r.kind) { r.kind = s.kind; if (s.kind !== 'direct') r.name = s.name; }
    if (!r.joined && !r.joining) joinRoom(r).catch(ignore);
  }
}

// ---------------------------------------------------------------- rooms
function seen(r, pos) { if (!r.last || cmpPos(pos, r.last) > 0) r.last = pos; }

// Shows a message once, by position and by (sender, cmid). `stored`: known to be in the store (a
// history page, or the sender's `sent`); a live copy may not be. A copy delivered live whose write
// was lost comes again at a new position when its sender resends it (PROTOCOL §8.2): the copy
// shown moves there, unless it is the stored one. Only a stored copy of one's own message ends
// its pending state: the echo does not, since the write may still be lost (§8.2). `asOf`: the
// newest entry of the room its state includes (changes.js), for a copy read from history.
function addMessage(r, m, stored, asOf) {
  const key = posKey(m.pos);
  seen(r, m.pos);
  if (state.me && m.sender !== state.me.id) receipts.arrived(r, m.pos);
  r.members.add(m.sender);
  watchUsers([m.sender]);
  const t = r.typing.get(m.sender);
  if (t) { clearTimeout(t); r.typing.delete(m.sender); }
  if (stored && state.me && m.sender === state.me.id) r.outbox.delete(m.cmid);
  const shown = r.ids.get(msgId(m.sender, m.cmid));
  if (shown && cmpPos(shown.pos, m.pos) === 0) { shown.stored = shown.stored || !!stored; return; }
  if (shown && (shown.stored || (!stored && cmpPos(m.pos, shown.pos) < 0))) return;
  if (r.keys.has(key)) return;
  if (shown) unshow(r, shown);
  r.keys.add(key);
  r.ids.set(msgId(m.sender, m.cmid), { ...m, stored: !!stored, asOf: later(asOf, m.pos) });
  let i = r.msgs.length;
  while (i > 0 && cmpPos(r.msgs[i - 1].pos, m.pos) > 0) i--;
  r.msgs.splice(i, 0, r.ids.get(msgId(m.sender, m.cmid)));
}

function unshow(r, m) {
  const i = r.msgs.indexOf(m);
  if (i >= 0) r.msgs.splice(i, 1);
  r.keys.delete(posKey(m.pos));
  r.ids.delete(msgId(m.sender, m.cmid));
}

async function joinRoom(r) {
  const resume = r.last || undefined;
  let res;
  r.joining = true;
  try {
    res = await cmd({ type: 'join', room: r.id, resume });
  } finally {
    r.joining = false;
  }
  room(r.id, res.room);
  r.joined = true;
  r.role = res.role; // absent from an older node: then the page learns from refusals
  list.ensure(res.room);
  // The list row's last message reached the page too (it shows it): delivered, if another's.
  const s = list.get(r.id);
  if (s && s.last && state.me && s.last.sender !== state.me.id) receipts.arrived(r, s.last.pos);
  // The open room's ticks and pins start from the node's, also after a reconnect.
  if (r.id === state.current) { receipts.load(r); pinBar.load(r); }
  // History is read for the open room; another one's waits until it is opened.
  const load = r.id === state.current && (!r.loaded || !r.last);
  // Without a resume, the history read next shows every change up to the room's head.
  if (!resume && res.head) seen(r, res.head);
  if (load) await loadNewest(r);
  // A failed message waits for Retry: resending it by itself could repeat the failure forever.
  for (const [cmid, o] of r.outbox) if (!o.inFlight && !o.failed) sendOutboxed(r, cmid);
  renderRooms(); renderIf(r);
  return r;
}

async function loadNewest(r) {
  const res = await cmd({ type: 'history', room: r.id, limit: 50 });
  const asOf = r.last;
  for (const m of res.messages) addMessage(r, m, true, asOf);
  if (!r.loaded) r.more = res.more;
  r.loaded = true;
  renderIf(r);
}

// The page of messages before the oldest one shown, when the conversation is scrolled to its
// top; what was on screen stays where it was.
async function loadOlder() {
  const r = state.current && room(state.current);
  if (!r || !r.msgs.length || !r.more || r.loadingOlder || !state.connected) return;
  r.loadingOlder = true;
  renderIf(r);
  try {
    const res = await cmd({ type: 'history', room: r.id, before: r.msgs[0].pos, limit: 50 });
    const asOf = r.last;
    for (const m of res.messages) addMessage(r, m, true, asOf);
    r.more = res.more;
  } catch (_) { /* shown in status */ }
  r.loadingOlder = false;
  if (r.id !== state.current) return;
  const box = $('messages'), h = box.scrollHeight, top = box.scrollTop;
  render();
  box.scrollTop = top + box.scrollHeight - h;
  fillBack();
}

// Scrolled near the top, or a conversation too short to scroll: older messages are read.
function fillBack() {
  const box = $('messages');
  if (box.scrollTop < 150 || box.scrollHeight <= box.clientHeight) loadOlder();
}

// Whether the user sees the open room's newest messages now: its reads count as read.
const reading = () => document.visibilityState === 'visible' && (!phone.matches || document.body.dataset.view === 'chat');

// `shown`: the user asked for it (the list, a reload): on a phone the conversation takes the
// screen, and a reload comes back to it.
async function openRoom(id, shown = true) {
  const known = state.rooms.has(id);
  const previous = state.current;
  const r = room(id);
  state.current = id;
  if (shown) document.body.dataset.view = 'chat';
  if (state.me) localStorage.setItem(openKey(state.me.id), String(id));
  render();
  if (!state.connected) return;
  try {
    if (!r.joined) await joinRoom(r);
    else {
      receipts.load(r);
      pinBar.load(r);
      if (!r.loaded) await loadNewest(r);
    }
    render();
    fillBack();
    if (!phone.matches) $('compose').focus();
  } catch (e) {
    // The error is in the status line; forget a room we could not join and knew nothing of.
    if (!known && !r.joined && e.code !== 0) {
      state.rooms.delete(id);
      if (state.current === id) state.current = previous;
      if (state.me) localStorage.setItem(openKey(state.me.id), String(previous || ''));
      render();
    }
  }
}

// ---------------------------------------------------------------- sending, typing, reads
function sendMessage() {
  const r = state.current && room(state.current);
  const text = $('compose').value;
  const files = state.attaching.filter((a) => a.attachment);
  if (!r || (!text.trim() && !files.length)) return;
  if (state.attaching.some((a) => !a.attachment && !a.failed)) { setStatus('Wait for the uploads to finish', true); return; }
  const cmid = newCmid();
  const attachments = files.map((a) => a.attachment);
  // A message needs text: a message of files alone is sent with their names.
  const body = text.trim() ? text : attachments.map((a) => a.name).join(', ');
  const replyTo = edits.takeReply(r); // {pos, sender, text} of the message answered, or null
  r.outbox.set(cmid, { cmid, text: body, attachments, replyTo, sender: state.me.id, failed: null, inFlight: false });
  compose.clear();
  state.attaching = [];
  renderAttaching();
  stopTyping();
  sendOutboxed(r, cmid);
  renderIf(r);
}

// Why `text` cannot be sent, checked against `hello`'s limit in UTF-8 bytes; null when it can.
function tooLong(text) {
  const bytes = utf8enc.encode(text).length;
  const max = state.hello ? state.hello.max_text_bytes : Infinity;
  return bytes > max ? 'too long: ' + size(bytes) + ', the limit is ' + limit(max) : null;
}

// Sends an outbox entry now, or leaves it queued for the next join when not connected. An entry
// stays in the outbox, and is sent again with its cmid after a reconnect, until its `sent`.
function sendOutboxed(r, cmid) {
  const o = r.outbox.get(cmid);
  if (!o) return;
  o.failed = tooLong(o.text);
  if (o.failed || !state.connected) return;
  o.inFlight = true;
  const frame = { type: 'send', room: r.id, cmid, text: o.text };
  if (o.attachments.length) frame.attachments = o.attachments.map((a) => a.id);
  if (o.replyTo) frame.reply_to = o.replyTo.pos;
  // Its first attempt has no earlier copy to look for; every later one is a resend.
  if (!o.tried) frame.first = true;
  o.tried = true;
  cmd(frame, true).then((res) => {
    if (r.outbox.has(cmid)) {
      // The echo, when it came, is the node's own copy; `sent` says where it is stored.
      const echo = r.ids.get(msgId(state.me.id, cmid));
      // The node makes thumbnails of images; the page's guess is checked when it asks for one.
      const attachments = o.attachments.map((a) => ({ ...a, thumbnail: a.content_type.startsWith('image/') }));
      addMessage(r, echo ? { ...echo, pos: res.pos }
        : { room: r.id, pos: res.pos, sender: state.me.id, cmid, text: o.text, attachments, ts: Date.now(),
          reply_to: o.replyTo || undefined }, true);
    }
    renderIf(r);
  }, (e) => {
    o.inFlight = false;
    if (e.code === 4001) setTimeout(() => sendOutboxed(r, cmid), 1000); // busy: retry, same cmid
    else if (o.replyTo && e.code === 3001) o.failed = 'the message it replies to was deleted';
    // Code 0: the connection dropped; resent on re-join unless it will not come back by itself.
    else if (e.code !== 0 || e.final) o.failed = e.message + (e.code ? ' (error ' + e.code + ')' : '');
    renderIf(r);
  });
}

// ---------------------------------------------------------------- attachments
// A file goes straight to the media store through a signed upload URL (PROTOCOL §3.3); the
// message then references it by id, and members fetch it through a short-lived signed URL.
async function attachFiles(files) {
  const r = state.current && room(state.current);
  if (!r) return;
  for (const file of files) {
    const item = { name: file.name, attachment: null, failed: null };
    state.attaching.push(item);
    renderAttaching();
    try {
      const slot = await cmd({ type: 'attachment_slot', room: r.id, name: file.name,
        content_type: file.type || 'application/octet-stream', size: file.size }, true);
      // The browser sets Content-Length from the body itself.
      const headers = Object.fromEntries(slot.upload.headers.filter(([k]) => k.toLowerCase() !== 'content-length'));
      const res = await fetch(slot.upload.url, { method: slot.upload.method, headers, body: file });
      if (!res.ok) throw new Error('the upload was refused (' + res.status + ')');
      item.attachment = slot.attachment;
    } catch (e) {
      item.failed = e.message + (e.code ? ' (error ' + e.code + ')' : '');
    }
    renderAttaching();
  }
}

function renderAttaching() {
  $('attaching').replaceChildren(...state.attaching.map((a, i) => el('li', { class: a.failed ? 'failed' : '' },
    a.name + ' · ' + (a.failed ? 'not attached: ' + a.failed : a.attachment ? 'ready' : 'uploading…') + ' ',
    el('button', { type: 'button', class: 'secondary', 'aria-label': 'Remove ' + a.name,
      onclick: () => { state.attaching.splice(i, 1); renderAttaching(); } }, '×'))));
}

// A signed download URL for an attachment (or its thumbnail), asked for once and kept until
// shortly before it expires.
async function attachmentLink(roomId, a, thumb) {
  const key = a.id + (thumb ? '/thumb' : '');
  const known = state.links.get(key);
  if (known && known.expires * 1000 > Date.now() + 5000) return known.url;
  const link = await api('GET', '/api/rooms/' + roomId + '/attachments/' + a.id + '?link=true'
    + (thumb ? '&thumbnail=true' : ''));
  // Expired links are of no use: dropped here, so the map holds only what is still valid.
  for (const [k, l] of state.links) if (l.expires * 1000 <= Date.now()) state.links.delete(k);
  state.links.set(key, link);
  return link.url;
}

function attachmentView(roomId, a) {
  const label = a.name + ' (' + size(a.size) + ')';
  const open = el('a', { href: '#', class: 'file', onclick: async (e) => {
    e.preventDefault();
    try { location.assign(await attachmentLink(roomId, a, false)); } catch (err) { setStatus('Cannot fetch ' + a.name + ': ' + err.message, true); }
  } }, label);
  if (!a.thumbnail) return el('div', { class: 'attachment' }, open);
  const img = el('img', { class: 'preview', alt: a.name });
  attachmentLink(roomId, a, true).then((url) => { img.src = url; }, () => img.remove());
  return el('div', { class: 'attachment' }, img, open);
}

function retry(r, cmid) {
  sendOutboxed(r, cmid);
  renderIf(r);
}

// Forgets a message that was not sent, with the copy of it shown live, if any, whose write was
// never confirmed.
function discard(r, cmid) {
  r.outbox.delete(cmid);
  const shown = r.ids.get(msgId(state.me.id, cmid));
  if (shown && !shown.stored) unshow(r, shown);
  renderIf(r);
}

let typingSentAt = 0;
let typingRoom = null;
function onInput() {
  const r = state.current && room(state.current);
  if (!r || !r.joined || !$('compose').value) return;
  const now = Date.now();
  if (typingRoom === r.id && now - typingSentAt < 3000) return;
  typingSentAt = now; typingRoom = r.id;
  cmd({ type: 'typing', room: r.id, active: true }, true).catch(ignore);
}
function stopTyping() {
  if (typingRoom === null) return;
  cmd({ type: 'typing', room: typingRoom, active: false }, true).catch(ignore);
  typingRoom = null; typingSentAt = 0;
}

function onTyping(r, f) {
  if (state.me && f.user === state.me.id) return;
  clearTimeout(r.typing.get(f.user));
  r.typing.delete(f.user);
  if (f.active) r.typing.set(f.user, setTimeout(() => { r.typing.delete(f.user); renderIf(r); }, 5000));
  watchUsers([f.user]);
  renderIf(r);
}

let markTimer = null;
function scheduleMarkRead() {
  clearTimeout(markTimer);
  markTimer = setTimeout(() => {
    const r = state.current && room(state.current);
    if (!r || !r.joined || !r.last || !reading()) return;
    if (r.marked && cmpPos(r.last, r.marked) <= 0) { clearUnread(r); return; }
    const pos = r.last;
    r.marked = pos;
    cmd({ type: 'mark_read', room: r.id, pos }, true).then(() => clearUnread(r), () => { r.marked = null; });
  }, 300);
}

// The room is read to its end: its badge goes.
function clearUnread(r) {
  const s = list.get(r.id);
  if (!s || (!s.unread && !s.unread_more)) return;
  list.read(r.id);
  list.render();
}

// Subscribe to the presence of users we see, in small batches.
let watchQueue = new Set();
let watchTimer = null;
function watchUsers(ids) {
  for (const id of ids) if (!state.subscribed.has(id)) watchQueue.add(id);
  if (!watchQueue.size || watchTimer || !state.connected) return;
  watchTimer = setTimeout(() => {
    const users = [...watchQueue].slice(0, 100);
    users.forEach((u) => { watchQueue.delete(u); state.subscribed.add(u); });
    watchTimer = null;
    subscribe(users);
    if (watchQueue.size) watchUsers([]);
  }, 200);
}
// One user we may not watch fails the whole batch: retry those one by one (and then give up).
function subscribe(users) {
  cmd({ type: 'presence_subscribe', users }, true).then((res) => {
    for (const p of res.users || []) state.presence.set(p.user, p.status);
    renderPresence();
  }, (e) => { if (e.code !== 0 && users.length > 1) users.forEach((u) => subscribe([u])); });
}

// ---------------------------------------------------------------- rendering
function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-') || k.startsWith('aria-')) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c);
  return e;
}
const dot = (user) => el('span', { class: 'dot ' + (state.presence.get(user) || 'offline'),
  title: state.presence.get(user) || 'offline', 'aria-label': state.presence.get(user) || 'offline' });

// Re-renders what room `r` changed: the whole page when it is open (the list too), else the list.
function renderIf(r) { if (r && r.id === state.current) render(); else renderRooms(); }

function renderRooms() { list.render(state.current); }

function renderPresence() {
  const r = state.current && room(state.current);
  const users = new Set(r ? r.members : []);
  for (const u of state.subscribed) users.add(u);
  $('presence').replaceChildren(...[...users].sort((a, b) => a - b).map((u) =>
    el('li', { 'data-user-id': u }, dot(u), userName(u) + ' (' + (state.presence.get(u) || 'offline') + ')'
      + (names.profile(u) && names.profile(u).status ? ' · ' + names.profile(u).status : ''))));
}

// The open room's messages, oldest first: what is above them (older ones loading, or the
// beginning), a separator where a day starts, then the outbox entries not echoed yet.
function conversation(r) {
  const items = [el('div', { class: 'history-top' + (r.loadingOlder ? ' spinner' : ''), 'aria-live': 'polite' },
    r.loadingOlder ? 'Loading older messages…' : r.loaded && !r.more ? 'Beginning of conversation' : '')];
  let prev = null;
  const day = (ts) => {
    if (!prev || !sameDay(prev.ts, ts)) items.push(el('div', { class: 'day', role: 'separator' }, el('span', {}, dayLabel(ts))));
  };
  // One's own message shown at its position (the echo came) is still pending until `sent`.
  for (const m of r.msgs) {
    day(m.ts);
    const o = state.me && m.sender === state.me.id ? r.outbox.get(m.cmid) : null;
    if (o) items.push(pendingView(r, o, m));
    else items.push(messageView(r, m, continues(prev, m)));
    prev = m;
  }
  for (const o of r.outbox.values()) {
    if (r.ids.has(msgId(o.sender, o.cmid))) continue;
    day(Date.now());
    items.push(pendingView(r, o, null));
    prev = { sender: o.sender, ts: Date.now() };
  }
  return items;
}

// A message's header: its sender, its time, then (`extra`) how its sending goes, or (`mark`)
// what became of it once sent (ticks.js). On a message that continues the one before (`.cont`),
// app.css shows only the time, on hover.
function meta(sender, ts, extra, mark) {
  return el('div', { class: 'meta' }, el('span', { class: 'sender' }, dot(sender), userName(sender)),
    el('time', { class: 'time', dateTime: new Date(ts).toISOString(), title: new Date(ts).toLocaleString() }, timeOf(ts)),
    extra ? el('span', { class: 'progress' }, ' · ' + extra) : '', mark || '');
}

// A message that mentions the user is marked (`.mentioned`), its `@name`s highlighted.
function messageView(r, m, cont) {
  const mentioned = highlight.mentionsMe(m) ? ' mentioned' : '';
  return edits.decorate(r, m, el('div', { class: 'msg' + (cont ? ' cont' : '') + mentioned, 'data-epoch': m.pos.epoch,
    'data-seq': m.pos.seq, 'data-cmid': m.cmid, 'data-sender': m.sender },
  meta(m.sender, m.ts, '', receipts.mark(r, m)),
  el('div', { class: 'text' }, ...highlight.text(m)),
  ...(m.attachments || []).map((a) => attachmentView(r.id, a))));
}

// An outbox entry, at the position of its echo `m` when one came (else after the room's messages).
function pendingView(r, o, m) {
  const progress = o.failed ? 'not sent' : o.inFlight ? 'sending…' : 'waiting for the connection';
  const at = m ? { 'data-epoch': m.pos.epoch, 'data-seq': m.pos.seq, 'data-sender': m.sender } : {};
  return el('div', { class: 'msg pending' + (o.failed ? ' failed' : ''), 'data-cmid': o.cmid, 'data-pending': '1', ...at },
    meta(o.sender, m ? m.ts : Date.now(), progress),
    (m && m.reply_to) || o.replyTo ? edits.quote(r, (m && m.reply_to) || o.replyTo) : '',
    el('div', { class: 'text' }, ...(m ? highlight.text(m) : [o.text])),
    ...(m ? (m.attachments || []).map((a) => attachmentView(r.id, a)) : []),
    o.failed ? el('div', { class: 'failure' },
      el('span', { class: 'reason' }, o.failed),
      el('button', { type: 'button', class: 'secondary retry', onclick: () => retry(r, o.cmid) }, 'Retry'),
      el('button', { type: 'button', class: 'secondary delete', onclick: () => discard(r, o.cmid) }, 'Delete'))
      : '');
}

function render() {
  const signedIn = !!state.token;
  $('auth').hidden = signedIn;
  $('account').hidden = !signedIn;
  $('app').hidden = !signedIn;
  const shown = state.me && userName(state.me.id);
  $('whoami').textContent = !state.me ? ''
    : shown === state.me.name ? shown + ' (#' + state.me.id + ')' : shown + ' (' + state.me.name + ', #' + state.me.id + ')';
  fillProfile();
  renderRooms();
  renderPresence();
  renderBanner();
  const r = state.current && room(state.current);
  const chat = $('chat');
  chat.dataset.roomId = r ? r.id : '';
  chat.dataset.ready = r && r.joined && r.loaded ? '1' : '0';
  const s = r && list.get(r.id);
  const name = r && (s && s.kind === 'direct' && s.peer ? userName(s.peer.id) : roomLabel(r));
  $('room-title').textContent = r ? name + (r.kind ? ' (' + r.kind + ')' : '') + ' #' + r.id : 'No room open';
  $('mute').hidden = !s;
  $('mute').textContent = s && s.muted ? 'Unmute' : 'Mute';
  $('mute').setAttribute('aria-pressed', String(!!(s && s.muted)));
  $('compose').disabled = $('send').disabled = $('attach').disabled = !(r && r.joined && state.connected);
  const box = $('messages');
  // A room just opened (or its history just read) shows its end; otherwise the view follows new
  // messages only while it is at the end.
  const view = r ? r.id + ':' + r.loaded : '';
  const atBottom = box.dataset.view !== view || box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  box.dataset.view = view;
  const focused = edits.focused(box);
  box.replaceChildren(...(r ? conversation(r) : []));
  edits.refocus(box, focused);
  if (atBottom) box.scrollTop = box.scrollHeight;
  edits.renderReplyBar(r);
  pinBar.render(r);
  const typers = r ? [...r.typing.keys()].map(userName) : [];
  $('typing').textContent = typers.length
    ? typers.join(', ') + (typers.length === 1 ? ' is' : ' are') + ' typing…' : '';
  mentionBox.update();
  if (r) scheduleMarkRead();
}

// ---------------------------------------------------------------- wiring
function start() {
  render();
  if (!state.ws) connect();
}

$('auth').addEventListener('submit', (e) => { e.preventDefault(); authenticate('signin'); });
$('signup').addEventListener('click', () => authenticate('signup'));
$('signout').addEventListener('click', signOutEverywhere);
$('confirm-form').addEventListener('submit', (e) => { e.preventDefault(); confirmAccount(); });
$('reconnect').addEventListener('click', reconnect);
$('create-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const name = $('room-name').value.trim();
  if (!name) return;
  try {
    const res = await cmd({ type: 'create_room', name, visibility: $('room-private').checked ? 'private' : 'public' });
    room(res.room.id, res.room);
    $('room-name').value = '';
    setStatus('Created room ' + res.room.name + ' (#' + res.room.id + ')');
    openRoom(res.room.id);
  } catch (_) { /* shown in status */ }
});
$('join-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const id = Number($('join-id').value);
  if (Number.isInteger(id) && id > 0) { $('join-id').value = ''; openRoom(id); }
});
// ---------------------------------------------------------------- people by name
// One's own display name and status, as stored, in the profile form (until edited there).
// The form shows the stored profile once it is read, but never over what the person typed
// meanwhile (a display name typed right after signing up is theirs to save).
function fillProfile() {
  const mine = state.me && names.profile(state.me.id);
  if (!mine || state.profileFilled) return;
  state.profileFilled = true;
  for (const [id, value] of [['display-name', mine.display_name], ['status-text', mine.status]]) {
    if (!$(id).dataset.edited) $(id).value = value;
  }
}
for (const id of ['display-name', 'status-text']) {
  $(id).addEventListener('input', () => { $(id).dataset.edited = '1'; });
}

$('profile-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  try {
    await cmd({ type: 'set_profile', display_name: $('display-name').value, status: $('status-text').value });
    names.forget(state.me.id);
    setStatus('Profile saved');
  } catch (_) { /* shown in status */ }
});

// Users other than oneself matching `prefix`; a failed search is said in the status line.
async function othersNamed(prefix) {
  try {
    return (await names.search(prefix)).filter((p) => !state.me || p.id !== state.me.id);
  } catch (err) {
    setStatus('Cannot search for people: ' + err.message + (err.code ? ' (error ' + err.code + ')' : ''), true);
    return [];
  }
}
const finderStatus = (several) => setStatus(several ? 'Several people match: pick one' : 'Nobody found by that name', true);

finder($('direct-form'), $('direct-name'), $('direct-matches'), othersNamed, finderStatus, async (p) => {
  try {
    const res = await cmd({ type: 'open_direct', user: p.id });
    room(res.room.id, res.room);
    openRoom(res.room.id);
  } catch (_) { /* shown in status */ }
});
finder($('invite-form'), $('invite-name'), $('invite-matches'), othersNamed, finderStatus, async (p) => {
  if (!state.current) { setStatus('Open a room first', true); return; }
  try {
    await cmd({ type: 'invite', room: state.current, user: p.id });
    setStatus('Invited ' + label(p) + ' into ' + roomLabel(room(state.current)));
  } catch (_) { /* shown in status */ }
});
$('compose-form').addEventListener('submit', (e) => { e.preventDefault(); sendMessage(); });
$('attach').addEventListener('change', (e) => { attachFiles([...e.target.files]); e.target.value = ''; });
$('compose').addEventListener('input', onInput);
$('compose').addEventListener('blur', stopTyping);
$('compose').addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && edits.cancelReply(state.current && room(state.current))) e.preventDefault();
});
$('messages').addEventListener('scroll', fillBack, { passive: true });
$('back').addEventListener('click', () => { document.body.dataset.view = 'list'; render(); });
$('mute').addEventListener('click', async () => {
  const s = state.current && list.get(state.current);
  if (!s) return;
  try { await list.mute(s.id, !s.muted); } catch (_) { /* shown in status */ }
  render();
});
phone.addEventListener('change', () => { render(); list.fill(); });
document.addEventListener('visibilitychange', () => {
  if (state.connected) {
    cmd({ type: 'set_presence', status: document.visibilityState === 'visible' ? 'online' : 'away' }, true)
      .catch(ignore);
  }
  if (state.current) scheduleMarkRead();
});

window.switchboard = { state, changes: edits, rooms: list };
loadProvider().then(() => {
  if (state.token) { scheduleRefresh(); start(); } else render();
});
