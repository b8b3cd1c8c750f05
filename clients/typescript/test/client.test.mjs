// The client against a real node: auth, rooms and messages across two clients, coded errors,
// the outbox across a cut socket, resume (recovered and reload) after a reconnect, a node
// restart (1012), the room list and people. Run after `npm run build`: `node --test`.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { WebSocket } from "ws";

import { ClientClosedError, ErrorCode, SwitchboardClient, SwitchboardError, comparePositions } from "../dist/index.js";
import { Node, faultySocket, next, sleep, until } from "./server.mjs";

let node;
let alice; // { token, user }
let bob;
const clients = [];

/** A client of `who`, on a socket the test can cut; reconnect pauses kept short. */
function client(who, extra = {}) {
  const control = faultySocket();
  const c = new SwitchboardClient({
    url: node.ws,
    token: who.token,
    WebSocket: control.WebSocket,
    backoff: { initialMs: 50, maxMs: 500 },
    requestTimeoutMs: 5000,
    ...extra,
  });
  c.control = control;
  c.seenMessages = [];
  c.on("message", (m) => c.seenMessages.push(m));
  clients.push(c);
  return c;
}

/** The messages `c` was given in `room`, in delivery order. */
const inRoom = (c, room) => c.seenMessages.filter((m) => m.room === room);

before(async () => {
  node = await Node.start();
  alice = await node.signup("alice");
  bob = await node.signup("bob");
});

after(async () => {
  for (const c of clients) c.close();
  await node?.close();
});

test("connects and authenticates with a token", async () => {
  const c = client(alice);
  await c.connect();
  assert.equal(c.state, "ready");
  assert.deepEqual(c.user, alice.user);
  assert.equal(c.hello.protocol, 1);
  await c.ping();
  c.close();
  assert.equal(c.state, "closed");
  await assert.rejects(c.ping(), ClientClosedError);
});

test("a refused token stops the client instead of reconnecting", async () => {
  const c = client({ token: "not-a-token" });
  await assert.rejects(c.connect(), (e) => e instanceof ClientClosedError && e.reason.kind === "auth" && e.reason.code === ErrorCode.InvalidToken);
  assert.equal(c.state, "closed");
  assert.equal(c.control.opened, 1);
});

test("works over the JSON subprotocol too", async () => {
  const c = client(alice, { encoding: "json" });
  await c.connect();
  const room = await c.createRoom("json room");
  await c.join(room.id);
  const sent = await c.send(room.id, "over json");
  assert.equal(sent.duplicate, false);
  c.close();
});

let general; // a public room alice and bob are in

test("creates a room and sends and receives across two clients", async () => {
  const a = client(alice);
  const b = client(bob);
  await Promise.all([a.connect(), b.connect()]);
  general = await a.createRoom("general", "public");
  assert.equal(general.kind, "public");
  await a.join(general.id);
  const joined = await b.join(general.id);
  assert.equal(joined.room.id, general.id);

  const arrives = next(b, "message", (m) => m.room === general.id);
  const sent = await a.send(general.id, "hello bob");
  const m = await arrives;
  assert.equal(m.text, "hello bob");
  assert.equal(m.sender, alice.user.id);
  assert.equal(m.cmid, sent.cmid);
  assert.deepEqual(m.pos, sent.pos);
  assert.equal(sent.duplicate, false);
  assert.equal(a.outbox.length, 0);
  // The sender's own echo came too, at the same position.
  assert.ok(inRoom(a, general.id).some((e) => e.cmid === sent.cmid && comparePositions(e.pos, sent.pos) === 0));
  assert.deepEqual(b.position(general.id), sent.pos);
  a.close();
  b.close();
});

test("a refused command rejects with the server's code", async () => {
  const c = client(bob);
  await c.connect();
  await assert.rejects(c.join(999_999), (e) => e instanceof SwitchboardError && e.code === ErrorCode.NotFound && e.command === "join");
  await assert.rejects(c.history(general.id, { limit: 0 }), (e) => e instanceof SwitchboardError && e.code === ErrorCode.InvalidArgument);
  const secret = await client(alice).connect().then(() => clients.at(-1).createRoom("secret", "private"));
  await assert.rejects(c.join(secret.id), (e) => e instanceof SwitchboardError && e.code === ErrorCode.Forbidden);
  // A refusal a resend would not change leaves the outbox.
  await assert.rejects(c.send(general.id, ""), (e) => e instanceof SwitchboardError && e.code === ErrorCode.InvalidArgument);
  assert.equal(c.outbox.length, 0);
  assert.deepEqual(c.joinedRooms, []);
  c.close();
});

test("the outbox sends again after a cut socket; the message arrives once, `duplicate`", async () => {
  const a = client(alice);
  const b = client(bob);
  await Promise.all([a.connect(), b.connect()]);
  await a.join(general.id);
  await b.join(general.id);
  const cmid = `cut-${Date.now()}`;
  let settled = false;
  // Cut alice's socket the moment her echo arrives: the message is in the room, `sent` not
  // read yet (it waits for the commit, PROTOCOL §8.2).
  const off = a.on("message", (m) => {
    if (m.cmid === cmid) {
      off();
      if (!settled) a.control.drop();
    }
  });
  const sent = await a.send(general.id, "through the cut", { cmid }).finally(() => (settled = true));
  assert.equal(sent.duplicate, true, "the resend found the stored original");
  assert.ok(a.control.opened >= 2, "alice reconnected");
  // A later message, as a marker: once bob has it, he has everything before it.
  const marker = await a.send(general.id, "marker");
  await until(() => inRoom(b, general.id).some((m) => m.cmid === marker.cmid), 5000, "the marker");
  const copies = inRoom(b, general.id).filter((m) => m.cmid === cmid);
  assert.equal(copies.length, 1, "bob saw the message exactly once");
  assert.deepEqual(copies[0].pos, sent.pos);
  assert.equal(inRoom(a, general.id).filter((m) => m.cmid === cmid).length, 1, "alice's echo once");
  assert.equal(a.earlierPosition(copies[0]), undefined);
  a.close();
  b.close();
});

test("messages sent while disconnected wait in the outbox", async () => {
  const a = client(alice);
  await a.connect();
  await a.join(general.id);
  a.control.offline = true;
  a.control.drop();
  await until(() => a.state === "waiting", 2000, "waiting");
  const pending = [a.send(general.id, "queued 1"), a.send(general.id, "queued 2")];
  assert.equal(a.outbox.length, 2);
  assert.ok(a.outbox.every((e) => e.state === "queued"));
  a.control.offline = false;
  const [s1, s2] = await Promise.all(pending);
  assert.ok(comparePositions(s1.pos, s2.pos) < 0, "written in the order sent");
  assert.equal(a.outbox.length, 0);
  a.close();
});

test("resumes after a reconnect with exactly the missed messages", async () => {
  const a = client(alice);
  const b = client(bob);
  await Promise.all([a.connect(), b.connect()]);
  await a.join(general.id);
  await b.join(general.id);
  await a.send(general.id, "before the cut");
  await until(() => inRoom(b, general.id).some((m) => m.text === "before the cut"), 5000, "the first message");
  const seenBefore = inRoom(b, general.id).length;

  b.control.offline = true;
  b.control.drop();
  const missed = [];
  for (let i = 0; i < 3; i++) missed.push(await a.send(general.id, `missed ${i}`));
  const resumed = next(b, "resume", (r) => r.room === general.id);
  b.control.offline = false;
  const r = await resumed;
  assert.equal(r.outcome, "recovered");
  assert.equal(r.missed, 3);
  await until(() => inRoom(b, general.id).length >= seenBefore + 3, 5000, "the missed messages");
  const live = await a.send(general.id, "after the resume");
  await until(() => inRoom(b, general.id).some((m) => m.cmid === live.cmid), 5000, "the live message");
  const got = inRoom(b, general.id).slice(seenBefore);
  assert.deepEqual(
    got.map((m) => m.cmid),
    [...missed.map((s) => s.cmid), live.cmid],
    "the missed messages in order, none twice, then the live one",
  );
  a.close();
  b.close();
});

test("replies, edits, reactions and deletes: live, and replayed once each after a cut", async () => {
  const a = client(alice);
  const b = client(bob);
  await Promise.all([a.connect(), b.connect()]);
  const room = await a.createRoom(`changes ${Date.now()}`, "public");
  await a.join(room.id);
  await b.join(room.id);
  const changes = [];
  for (const kind of ["edited", "deleted", "reaction"]) b.on(kind, (e) => changes.push(e));
  const first = await a.send(room.id, "hello wrld");
  const reply = await b.send(room.id, "it is", { replyTo: first.pos });
  await until(() => inRoom(a, room.id).some((m) => m.cmid === reply.cmid), 5000, "the reply");
  const quoted = inRoom(a, room.id).find((m) => m.cmid === reply.cmid).reply_to;
  assert.deepEqual([quoted.pos, quoted.sender, quoted.text], [first.pos, alice.user.id, "hello wrld"]);

  b.control.offline = true;
  b.control.drop();
  const edit = await a.edit(room.id, first.pos, "hello world");
  const thumbs = await a.react(room.id, first.pos, "👍");
  assert.ok(comparePositions(thumbs.pos, edit.pos) > 0, "each change has its own position");
  const resumed = next(b, "resume", (r) => r.room === room.id);
  b.control.offline = false;
  assert.equal((await resumed).missed, 2);
  await until(() => changes.length === 2, 5000, "the replayed changes");
  assert.deepEqual(
    changes.map((c) => [c.type, c.target, c.text ?? c.emoji]),
    [
      ["edited", first.pos, "hello world"],
      ["reaction", first.pos, "👍"],
    ],
  );
  await assert.rejects(b.edit(room.id, first.pos, "mine"), (e) => e instanceof SwitchboardError && e.code === ErrorCode.Forbidden);
  // Pins: the owner pins the reply; bob (a member) may not; the list and the event say so.
  const pinnedEvent = next(b, "pinned", (e) => e.room === room.id);
  await a.pin(room.id, reply.pos);
  assert.deepEqual((await pinnedEvent).target, reply.pos);
  assert.deepEqual((await b.pins(room.id)).messages.map((m) => m.pos), [reply.pos]);
  await assert.rejects(b.pin(room.id, first.pos), (e) => e instanceof SwitchboardError && e.code === ErrorCode.Forbidden);
  await a.pin(room.id, reply.pos, true);
  assert.equal((await b.pins(room.id)).messages.length, 0);
  await a.delete(room.id, first.pos);
  await until(() => changes.length === 3, 5000, "the delete");
  assert.equal(changes[2].type, "deleted");
  await assert.rejects(a.react(room.id, first.pos, "🎉"), (e) => e instanceof SwitchboardError && e.code === ErrorCode.NotFound);
  const page = await b.history(room.id);
  assert.ok(page.messages[0].deleted, "history shows the tombstone");
  assert.equal(page.messages[1].reply_to.deleted, true, "and the reply's quote says so");
  await sleep(100);
  assert.equal(changes.length, 3, "each change delivered once");
  a.close();
  b.close();
});

test("a reload (too much missed) pages history and delivers every missed message in order", async () => {
  const a = client(alice);
  const b = client(bob);
  await Promise.all([a.connect(), b.connect()]);
  const room = await a.createRoom("busy room");
  await a.join(room.id);
  await b.join(room.id);
  await a.send(room.id, "seen live");
  await until(() => inRoom(b, room.id).length === 1, 5000, "the first message");

  b.control.offline = true;
  b.control.drop();
  // More than the node's resume_limit (5 in these tests): the resume says `reload`.
  const missed = await Promise.all(Array.from({ length: 12 }, (_, i) => a.send(room.id, `many ${i}`)));
  const reloaded = next(b, "reload", (r) => r.room === room.id);
  b.control.offline = false;
  const r = await reloaded;
  assert.equal(r.mode, "replay");
  // Sent while bob pages: held back and delivered after the pages, in order.
  const live = await a.send(room.id, "during or after paging");
  await until(() => inRoom(b, room.id).some((m) => m.cmid === live.cmid), 5000, "the live message");
  const got = inRoom(b, room.id).slice(1);
  const expected = [...missed].sort((x, y) => comparePositions(x.pos, y.pos)).map((s) => s.cmid);
  assert.deepEqual(got.map((m) => m.cmid), [...expected, live.cmid]);
  assert.deepEqual(b.position(room.id), live.pos);
  a.close();
  b.close();
});

test("a node restart (1012) reconnects and resumes every room", async () => {
  const a = client(alice);
  const b = client(bob);
  await Promise.all([a.connect(), b.connect()]);
  await a.join(general.id);
  await b.join(general.id);
  const before = await a.send(general.id, "before the restart");
  await until(() => inRoom(b, general.id).some((m) => m.cmid === before.cmid), 5000, "the first message");
  const seen = inRoom(b, general.id).length;
  const told = next(b, "disconnect", () => true, 10_000);
  const waiting = next(b, "state", (s) => s.state === "waiting", 10_000);
  await node.restart();
  assert.equal((await told).code, 1012);
  assert.equal((await told).reconnect, true);
  assert.equal((await waiting).code, 1012);
  await until(() => a.state === "ready" && b.state === "ready", 10_000, "both ready again");
  const afterRestart = await a.send(general.id, "after the restart");
  await until(() => inRoom(b, general.id).some((m) => m.cmid === afterRestart.cmid), 5000, "the new message");
  assert.deepEqual(inRoom(b, general.id).slice(seen).map((m) => m.cmid), [afterRestart.cmid]);
  assert.ok(afterRestart.pos.epoch > before.pos.epoch, "the room restarted in a new epoch");
  a.close();
  b.close();
});

test("the room list follows invites, messages and reads", async () => {
  const a = client(alice);
  const b = client(bob);
  await Promise.all([a.connect(), b.connect()]);
  await b.loadRooms();
  assert.ok(b.rooms.has(general.id), "GET /api/rooms filled the list");
  assert.ok(b.rooms.get(general.id).last !== undefined, "with the room's last message");
  const changes = [];
  b.rooms.subscribe((list) => changes.push(list));

  const room = await a.createRoom("team", "private");
  const added = next(b, "room_added", (e) => e.room.id === room.id);
  await a.invite(room.id, bob.user.id);
  assert.equal((await added).by, alice.user.id);
  assert.ok(b.rooms.has(room.id), "room_added put the room in the list");
  assert.equal(b.rooms.get(room.id).unread, 0);

  await b.join(room.id);
  await a.join(room.id);
  await a.send(room.id, "one");
  const two = await a.send(room.id, "two");
  await until(() => b.rooms.get(room.id).unread === 2, 5000, "two unread");
  assert.equal(b.rooms.get(room.id).mentions, 0);
  assert.equal(b.rooms.get(room.id).last.text, "two");
  assert.equal(b.rooms.list()[0].room.id, room.id, "the newest activity first");
  // Alice's own messages are not unread for her.
  await until(() => a.rooms.get(room.id)?.last?.text === "two", 5000, "alice's list");
  assert.equal(a.rooms.get(room.id).unread, 0);

  // A mention of bob counts apart, live and in the server's list.
  const named = await a.send(room.id, "@bob see this");
  await until(() => b.rooms.get(room.id).mentions === 1, 5000, "one mention");
  const listed = (await b.listRooms()).find((r) => r.id === room.id);
  assert.deepEqual([listed.unread, listed.mentions], [3, 1]);
  assert.deepEqual(b.rooms.get(room.id).last.mentions, [bob.user.id]);

  await b.markRead(room.id, named.pos);
  assert.equal(b.rooms.get(room.id).unread, 0);
  assert.equal(b.rooms.get(room.id).mentions, 0);
  assert.ok(changes.length > 0);
  // Bob's other device hears the read mark.
  const b2 = client(bob);
  await b2.connect();
  await b2.loadRooms();
  await b2.join(room.id);
  await a.send(room.id, "three");
  await until(() => b2.rooms.get(room.id).unread === 1, 5000, "unread on the other device");
  const three = b2.rooms.get(room.id).last;
  await b.markRead(room.id, three.pos);
  await until(() => b2.rooms.get(room.id).unread === 0, 5000, "the read mark on the other device");

  await b.leave(room.id);
  assert.ok(!b.rooms.has(room.id), "left rooms leave the list");
  a.close();
  b.close();
  b2.close();
});

test("ticks: a direct message goes sent → delivered (on its own) → read; a group's marks are in `receipts`", async () => {
  const a = client(alice);
  const b = client(bob, { delivery: { groupDelayMs: 200 } });
  await Promise.all([a.connect(), b.connect()]);
  const direct = await a.openDirect(bob.user.id);
  await a.join(direct.id);
  await b.join(direct.id);
  const delivered = next(a, "delivery_receipt", (e) => e.room === direct.id);
  const sent = await a.send(direct.id, "tick tock");
  // Bob's client marks it delivered by itself, as it arrives.
  const tick = await delivered;
  assert.deepEqual([tick.user, tick.pos], [bob.user.id, sent.pos]);
  const read = next(a, "read_receipt", (e) => e.room === direct.id);
  await b.markRead(direct.id, sent.pos);
  assert.deepEqual((await read).pos, sent.pos);
  const { members, more } = await a.receipts(direct.id);
  assert.equal(more, false);
  const bobs = members.find((m) => m.user === bob.user.id);
  assert.deepEqual([bobs.read, bobs.delivered], [sent.pos, sent.pos]);

  // A group: the mark goes out after the group pause, tells nobody, and shows in `receipts`.
  const room = await a.createRoom("ticks", "private");
  await a.invite(room.id, bob.user.id);
  await a.join(room.id);
  await b.join(room.id);
  let told = 0;
  a.on("delivery_receipt", (e) => (told += e.room === room.id ? 1 : 0));
  const news = await a.send(room.id, "news");
  const deadline = Date.now() + 5000;
  let mark;
  while (Date.now() < deadline) {
    mark = (await a.receipts(room.id)).members.find((m) => m.user === bob.user.id);
    if (mark.delivered !== undefined) break;
    await sleep(50);
  }
  assert.deepEqual(mark.delivered, news.pos, "bob's device marked it delivered");
  assert.equal(mark.read, undefined);
  assert.equal(told, 0, "no delivery_receipt in a group");
  await assert.rejects(a.receipts(room.id, undefined, 501), (e) => e instanceof SwitchboardError && e.code === ErrorCode.InvalidArgument);
  a.close();
  b.close();
});

test("people: profiles, set_profile, find_users, profile_changed", async () => {
  const a = client(alice);
  const b = client(bob);
  await Promise.all([a.connect(), b.connect()]);
  // Bob watches alice (they share `general`), so he hears her profile change.
  await b.presenceSubscribe([alice.user.id]);
  const changed = next(b, "profile_changed", (e) => e.user.id === alice.user.id);
  await a.setProfile({ display_name: "Alice A.", status: "busy" });
  const e = await changed;
  assert.equal(e.user.display_name, "Alice A.");
  assert.equal(b.people.displayName(alice.user.id), "Alice A.");

  const [p] = await b.profiles([alice.user.id, 987_654]);
  assert.deepEqual(p, { id: alice.user.id, name: "alice", display_name: "Alice A.", status: "busy" });
  const found = await b.findUsers("ali");
  assert.deepEqual(found.map((u) => u.id), [alice.user.id]);
  const resolved = await b.people.resolve([alice.user.id, bob.user.id]);
  assert.equal(resolved.get(bob.user.id).name, "bob");
  await assert.rejects(a.setProfile({ display_name: "x".repeat(65) }), (err) => err.code === ErrorCode.InvalidArgument);
  await assert.rejects(b.findUsers(" "), (err) => err.code === ErrorCode.InvalidArgument);
  a.close();
  b.close();
});

test("the global WebSocket is used when none is given (Node ≥ 22) and refused clearly without one", () => {
  if (globalThis.WebSocket !== undefined) return;
  assert.throws(() => new SwitchboardClient({ url: node.ws, token: "t" }), /no global WebSocket/);
  assert.ok(WebSocket);
});
