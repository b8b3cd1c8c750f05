// Where to resume each joined room from, in every case PROTOCOL §8.4 names. A room's cursor is
// the highest position received *contiguously*: live and replayed messages, and history pages
// read forward while catching up after a `reload`. The client asks it what to do with each
// message, and where to resume after a drop, a `disconnect` or a `room_reset`.

import { comparePositions, maxPosition, POSITION_ZERO, type EntryEvent, type Position, type RoomId } from "./protocol.js";

/** Live messages held per room while history is paged after a `reload`. */
export const HELD_WHILE_PAGING = 5_000;

export type Verdict =
  /** Hand it to the application; the cursor has moved to it. */
  | "deliver"
  /** Held until paging after a `reload` has caught up (then delivered in order). */
  | "hold"
  /** At or before the cursor: already delivered. */
  | "drop"
  /** Held messages overflowed: the room must be joined again from the cursor. */
  | "rejoin";

export class RoomCursor {
  /** The highest position received contiguously; undefined before the first join's reply. */
  last: Position | undefined;
  /** Set while paging history forward after a `reload`: live messages wait here. */
  paging: { held: EntryEvent[]; overflowed: boolean } | undefined;

  constructor(readonly room: RoomId) {}

  /** The position to send in `join {resume}`. */
  resumeFrom(): Position {
    return this.last ?? POSITION_ZERO;
  }

  /**
   * A join answered. Without a resume, nothing before `head` was asked for: the cursor starts
   * at the room's head (or before every message), so a reconnect replays only what came after.
   */
  joined(head: Position | undefined, resumed: boolean): void {
    if (!resumed) this.last = maxPosition(this.last, head) ?? POSITION_ZERO;
    this.paging = undefined;
  }

  /** A live or replayed entry of this room arrived (a message, or a change to one). */
  accept(m: EntryEvent): Verdict {
    if (this.paging !== undefined) {
      if (this.paging.overflowed) return "drop"; // the re-join asked for will bring it again
      if (this.paging.held.length >= HELD_WHILE_PAGING) {
        this.paging.overflowed = true;
        return "rejoin";
      }
      this.paging.held.push(m);
      return "hold";
    }
    if (this.last !== undefined && comparePositions(m.pos, this.last) <= 0) return "drop";
    this.last = m.pos;
    return "deliver";
  }

  /** `resume` said `reload`: page history forward from `last`, holding live messages. */
  startPaging(): void {
    this.paging = { held: [], overflowed: false };
  }

  /** A history page read forward: the messages after the cursor, which moves to the last. */
  page(messages: EntryEvent[]): EntryEvent[] {
    const fresh = messages.filter((m) => this.last === undefined || comparePositions(m.pos, this.last) > 0);
    const newest = fresh[fresh.length - 1];
    if (newest !== undefined) this.last = newest.pos;
    return fresh;
  }

  /** Paging caught up (`more: false`): the held live messages beyond the cursor, in order. */
  finishPaging(): EntryEvent[] {
    const held = this.paging?.held ?? [];
    this.paging = undefined;
    const out: EntryEvent[] = [];
    for (const m of held) if (this.accept(m) === "deliver") out.push(m);
    return out;
  }

  /**
   * The socket closed. Live messages held while paging are dropped: they come again from the
   * cursor, which stays at the last page's last position (§8.4). With a `disconnect` (4008,
   * 1012), the server's last written position counts too, unless the room was paging: its
   * live messages are past a gap the pages had not closed yet.
   */
  socketClosed(written: Position | undefined): void {
    const wasPaging = this.paging !== undefined;
    this.paging = undefined;
    if (!wasPaging && written !== undefined) this.last = maxPosition(this.last, written);
  }

  /** `resume` said `reload` and the application wants only the newest messages from `head` on. */
  skipTo(head: Position | undefined): void {
    this.paging = undefined;
    this.last = maxPosition(this.last, head) ?? this.last;
  }
}
