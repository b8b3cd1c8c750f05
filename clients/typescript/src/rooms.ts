// The room list: the rooms the user is in, each with its last message and unread count, newest
// activity first, kept live from the frames the client sees. The client fills it from the
// `rooms` command (§6.17, every page), then keeps it with `joined`, `room_added`, `message`,
// `mark_read` and `read_receipt`; `fill` takes whole summaries. Unread messages that mention
// the user are counted apart (`mentions`, an `@` badge).

import { comparePositions, type ChatMessage, type Position, type Profile, type RoomId, type RoomInfo } from "./protocol.js";

export interface RoomSummary {
  readonly room: RoomInfo;
  /** The newest message this client knows of in the room. */
  readonly last: ChatMessage | undefined;
  /**
   * Messages of other users after `readPos` that this client has seen since the list was
   * filled (the server does not tell unread counts yet; a `fill` can set them).
   */
  readonly unread: number;
  /** Of those, the ones that mention the user (§6.8). */
  readonly mentions: number;
  /** The user's read watermark, as far as this client knows (its marks, its other devices'). */
  readonly readPos: Position | undefined;
  /** For ordering: the last message's `ts`, or the server's `activity`, or when the room entered the list. */
  readonly activity: number;
  /** The user muted the room: count unread, do not notify. */
  readonly muted: boolean;
  /** A direct room's other person, when the server said. */
  readonly peer: Profile | undefined;
}

/** What `fill` takes for one room; absent fields keep what the list knows. */
export interface RoomSummaryInit {
  room: RoomInfo;
  last?: ChatMessage;
  unread?: number;
  mentions?: number;
  readPos?: Position;
  activity?: number;
  muted?: boolean;
  peer?: Profile;
}

type Entry = { -readonly [K in keyof RoomSummary]: RoomSummary[K] };

export class RoomList {
  private readonly rooms = new Map<RoomId, Entry>();
  private readonly listeners = new Set<(rooms: RoomSummary[]) => void>();
  private sorted: RoomSummary[] | undefined;

  /** `me` names the signed-in user (undefined before `authed`): their own messages are read. */
  constructor(private readonly me: () => number | undefined) {}

  /** Every room, newest activity first. The array is fresh after each change. */
  list(): RoomSummary[] {
    this.sorted ??= [...this.rooms.values()]
      .map((e) => Object.freeze({ ...e }))
      .sort((a, b) => b.activity - a.activity || b.room.id - a.room.id);
    return this.sorted;
  }

  get(room: RoomId): RoomSummary | undefined {
    const e = this.rooms.get(room);
    return e === undefined ? undefined : Object.freeze({ ...e });
  }

  has(room: RoomId): boolean {
    return this.rooms.has(room);
  }

  /** Calls `listener` with the list after every change, until the returned function is called. */
  subscribe(listener: (rooms: RoomSummary[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Adds or updates rooms from whole summaries (the pages of the `rooms` command). With `replace`, rooms not named are removed: the given list is all of them.
   */
  fill(summaries: RoomSummaryInit[], replace = false): void {
    if (replace) {
      const keep = new Set(summaries.map((s) => s.room.id));
      for (const id of [...this.rooms.keys()]) if (!keep.has(id)) this.rooms.delete(id);
    }
    for (const s of summaries) {
      const e = this.entry(s.room);
      if (s.readPos !== undefined) e.readPos = s.readPos;
      if (s.last !== undefined) this.setLast(e, s.last);
      if (s.unread !== undefined) e.unread = s.unread;
      if (s.mentions !== undefined) e.mentions = s.mentions;
      if (s.activity !== undefined) e.activity = s.activity;
      if (s.muted !== undefined) e.muted = s.muted;
      if (s.peer !== undefined) e.peer = s.peer;
    }
    this.changed();
  }

  /** The user is in `room` (joined, created, added, or a direct conversation opened). */
  noteRoom(room: RoomInfo): void {
    this.entry(room);
    this.changed();
  }

  /** The user is no longer in `room` (left, or removed). */
  remove(room: RoomId): void {
    if (this.rooms.delete(room)) this.changed();
  }

  /**
   * A message seen live or replayed: newer than the last known one, it becomes the last, and
   * counts as unread when another user sent it after the read watermark. A message seen
   * again (the same position or older) changes nothing.
   */
  noteMessage(m: ChatMessage): void {
    const e = this.rooms.get(m.room);
    if (e === undefined) return; // a room the list does not hold (e.g. one being left)
    if (e.last !== undefined && comparePositions(m.pos, e.last.pos) <= 0) return;
    this.setLast(e, m);
    const read = e.readPos !== undefined && comparePositions(m.pos, e.readPos) <= 0;
    const me = this.me();
    if (m.sender !== me && !read) {
      e.unread += 1;
      if (me !== undefined && m.mentions?.includes(me)) e.mentions += 1;
    }
    this.changed();
  }

  /** Messages read from history: the newest may become the last; unread counts are untouched. */
  noteHistory(room: RoomId, messages: ChatMessage[]): void {
    const e = this.rooms.get(room);
    const newest = messages[messages.length - 1];
    if (e === undefined || newest === undefined) return;
    if (e.last !== undefined && comparePositions(newest.pos, e.last.pos) <= 0) return;
    this.setLast(e, newest);
    this.changed();
  }

  /**
   * The user read up to `pos` (on this device, or another: a `read_receipt` of their own).
   * Everything the list counted up to its last message is read once `pos` reaches it.
   */
  noteRead(room: RoomId, pos: Position): void {
    const e = this.rooms.get(room);
    if (e === undefined) return;
    if (e.readPos !== undefined && comparePositions(pos, e.readPos) <= 0) return;
    e.readPos = pos;
    if (e.last === undefined || comparePositions(pos, e.last.pos) >= 0) {
      e.unread = 0;
      e.mentions = 0;
    }
    this.changed();
  }

  private entry(room: RoomInfo): Entry {
    let e = this.rooms.get(room.id);
    if (e === undefined) {
      e = { room, last: undefined, unread: 0, mentions: 0, readPos: undefined, activity: Date.now(), muted: false, peer: undefined };
      this.rooms.set(room.id, e);
    } else {
      e.room = room;
    }
    return e;
  }

  private setLast(e: Entry, m: ChatMessage): void {
    e.last = m;
    e.activity = m.ts;
  }

  private changed(): void {
    this.sorted = undefined;
    if (this.listeners.size === 0) return;
    const rooms = this.list();
    for (const listener of [...this.listeners]) listener(rooms);
  }
}
