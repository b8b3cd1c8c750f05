// Unit tests without a node: where rooms resume from (PROTOCOL §8.4), backoff, the room list.

import assert from "node:assert/strict";
import { test } from "node:test";

import { Backoff, RoomList } from "../dist/index.js";
import { RoomCursor } from "../dist/cursors.js";

const msg = (epoch, seq, sender = 2) => ({ type: "message", room: 1, pos: { epoch, seq }, sender, cmid: `c${epoch}.${seq}`, text: "t", ts: Date.now() + seq });

test("a fresh join starts at the room's head; a resume keeps the cursor", () => {
  const c = new RoomCursor(1);
  c.joined({ epoch: 3, seq: 7 }, false);
  assert.deepEqual(c.resumeFrom(), { epoch: 3, seq: 7 });
  assert.equal(c.accept(msg(3, 8)), "deliver");
  assert.equal(c.accept(msg(3, 8)), "drop");
  c.joined({ epoch: 3, seq: 9 }, true);
  assert.deepEqual(c.resumeFrom(), { epoch: 3, seq: 8 });
  const empty = new RoomCursor(2);
  empty.joined(undefined, false);
  assert.deepEqual(empty.resumeFrom(), { epoch: 0, seq: 0 });
});

test("after 4008 or 1012 the later of our position and the server's counts, but not while paging", () => {
  const c = new RoomCursor(1);
  c.joined({ epoch: 1, seq: 2 }, false);
  c.socketClosed({ epoch: 1, seq: 5 });
  assert.deepEqual(c.resumeFrom(), { epoch: 1, seq: 5 });
  c.socketClosed({ epoch: 1, seq: 3 });
  assert.deepEqual(c.resumeFrom(), { epoch: 1, seq: 5 });
  c.startPaging();
  assert.equal(c.accept(msg(1, 40)), "hold");
  c.socketClosed({ epoch: 1, seq: 40 });
  assert.deepEqual(c.resumeFrom(), { epoch: 1, seq: 5 }, "a gap the pages had not closed stays open");
});

test("paging after reload: pages move the cursor, held live messages follow once caught up", () => {
  const c = new RoomCursor(1);
  c.joined({ epoch: 1, seq: 1 }, false);
  c.startPaging();
  assert.equal(c.accept(msg(1, 5)), "hold");
  assert.equal(c.accept(msg(1, 6)), "hold");
  assert.deepEqual(c.page([msg(1, 2), msg(1, 3)]).map((m) => m.pos.seq), [2, 3]);
  assert.deepEqual(c.resumeFrom(), { epoch: 1, seq: 3 });
  // The last page overlaps the held live ones.
  assert.deepEqual(c.page([msg(1, 4), msg(1, 5)]).map((m) => m.pos.seq), [4, 5]);
  assert.deepEqual(c.finishPaging().map((m) => m.pos.seq), [6]);
  assert.equal(c.paging, undefined);
  assert.equal(c.accept(msg(1, 7)), "deliver");
});

test("backoff grows with jitter up to its ceiling and resets", () => {
  const b = new Backoff({ initialMs: 100, maxMs: 1000 }, () => 1);
  assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()], [100, 200, 400, 800, 1000, 1000]);
  b.reset();
  const low = new Backoff({ initialMs: 100 }, () => 0);
  assert.equal(low.next(), 50);
  assert.equal(b.next(), 100);
});

test("the room list counts others' messages after the read mark, once each", () => {
  const list = new RoomList(() => 9);
  list.noteRoom({ id: 1, name: "r", kind: "public" });
  list.noteRoom({ id: 2, name: "s", kind: "public" });
  list.noteMessage(msg(1, 1));
  list.noteMessage(msg(1, 1));
  list.noteMessage(msg(1, 2, 9));
  list.noteMessage(msg(1, 3));
  assert.equal(list.get(1).unread, 2);
  assert.equal(list.get(1).last.pos.seq, 3);
  assert.equal(list.list()[0].room.id, 1);
  list.noteRead(1, { epoch: 1, seq: 3 });
  assert.equal(list.get(1).unread, 0);
  list.fill([{ room: { id: 3, name: "t", kind: "private" }, unread: 4 }], true);
  assert.deepEqual(list.list().map((r) => [r.room.id, r.unread]), [[3, 4]]);
});

test("held messages past the bound ask for one re-join, then are dropped until it comes", async () => {
  const { HELD_WHILE_PAGING } = await import("../dist/cursors.js");
  const c = new RoomCursor(1);
  c.joined({ epoch: 1, seq: 0 }, false);
  c.startPaging();
  for (let i = 1; i <= HELD_WHILE_PAGING; i++) assert.equal(c.accept(msg(1, i)), "hold");
  assert.equal(c.accept(msg(1, HELD_WHILE_PAGING + 1)), "rejoin");
  assert.equal(c.accept(msg(1, HELD_WHILE_PAGING + 2)), "drop");
  c.joined({ epoch: 1, seq: HELD_WHILE_PAGING + 2 }, true);
  assert.deepEqual(c.resumeFrom(), { epoch: 1, seq: 0 }, "resumes from the last contiguous position");
});

test("every frame type in docs/PROTOCOL.md has a type here", async () => {
  const { readFile } = await import("node:fs/promises");
  const { COMMAND_TYPES, REPLY_TYPES, EVENT_TYPES } = await import("../dist/index.js");
  const doc = await readFile(new URL("../../../docs/PROTOCOL.md", import.meta.url), "utf8");
  // The first column of each table row in a section: | `name` | ...
  const names = (from, to) => {
    const section = doc.slice(doc.indexOf(from), doc.indexOf(to, doc.indexOf(from)));
    return [...section.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]).filter((n) => n !== "type"); // not the header
  };
  const commands = names("### 6.1 Summary", "**General errors**");
  const replies = names("### 7.2 Replies", "### 7.3 Events");
  const events = names("### 7.3 Events", "### 7.4");
  assert.ok(commands.length >= 20 && replies.length >= 15 && events.length >= 11, "the tables were found");
  assert.deepEqual(commands.filter((c) => !COMMAND_TYPES.has(c)), [], "commands without a type: add them to clients/typescript/src/protocol.ts");
  assert.deepEqual(replies.filter((r) => !REPLY_TYPES.has(r)), [], "replies without a type: add them to clients/typescript/src/protocol.ts");
  assert.deepEqual(events.filter((e) => !EVENT_TYPES.has(e)), [], "events without a type: add them to clients/typescript/src/protocol.ts");
});
