// Delivered marks (PROTOCOL §6.18): as messages of other people arrive, the client tells the
// server the newest position per room that reached this device. A direct conversation's mark
// goes out at once (the sender watches its ticks); a group's at most every `groupDelayMs`, so
// a busy room costs one mark per member every few seconds, not one per message.

import { comparePositions } from "./protocol.js";
import type { Position, RoomId, RoomKind } from "./protocol.js";

export interface DeliveryOptions {
  /** Send delivered marks on their own (default true). */
  auto?: boolean;
  /** The pause before a direct conversation's mark (default 100 ms: a burst costs one). */
  directDelayMs?: number;
  /** The pause before a group's mark (default 5 s). */
  groupDelayMs?: number;
}

type Send = (room: RoomId, pos: Position) => Promise<void>;

export class DeliveryMarks {
  private readonly kinds = new Map<RoomId, RoomKind>();
  /** Per room: the newest position not marked yet, and its timer. */
  private readonly waiting = new Map<RoomId, { pos: Position; timer: ReturnType<typeof setTimeout> }>();
  /** Per room: the newest position marked (or being marked). */
  private readonly marked = new Map<RoomId, Position>();
  private readonly auto: boolean;
  private readonly directDelayMs: number;
  private readonly groupDelayMs: number;

  constructor(private readonly send: Send, options: DeliveryOptions = {}) {
    this.auto = options.auto ?? true;
    this.directDelayMs = options.directDelayMs ?? 100;
    this.groupDelayMs = options.groupDelayMs ?? 5_000;
  }

  /** A room joined (its kind decides the pause). */
  noteRoom(room: RoomId, kind: RoomKind): void {
    this.kinds.set(room, kind);
  }

  /** A message of someone else reached this device at `pos`. */
  noteArrival(room: RoomId, pos: Position): void {
    if (!this.auto) return;
    const done = this.marked.get(room);
    if (done !== undefined && comparePositions(pos, done) <= 0) return;
    const waiting = this.waiting.get(room);
    if (waiting !== undefined) {
      if (comparePositions(pos, waiting.pos) > 0) waiting.pos = pos;
      return;
    }
    const delay = this.kinds.get(room) === "direct" ? this.directDelayMs : this.groupDelayMs;
    const timer = setTimeout(() => this.flush(room), delay);
    this.waiting.set(room, { pos, timer });
  }

  /** Forgets a room left (and its pending mark). */
  forget(room: RoomId): void {
    const waiting = this.waiting.get(room);
    if (waiting !== undefined) clearTimeout(waiting.timer);
    this.waiting.delete(room);
    this.marked.delete(room);
    this.kinds.delete(room);
  }

  /** Drops every pending mark (the client closed). */
  clear(): void {
    for (const room of [...this.waiting.keys()]) this.forget(room);
  }

  private flush(room: RoomId): void {
    const waiting = this.waiting.get(room);
    if (waiting === undefined) return;
    this.waiting.delete(room);
    this.marked.set(room, waiting.pos);
    // A mark that does not go through (offline, refused) is not retried: the next message's
    // mark covers it, and reading it delivers it too.
    this.send(room, waiting.pos).catch(() => {
      const marked = this.marked.get(room);
      if (marked !== undefined && comparePositions(marked, waiting.pos) === 0) this.marked.delete(room);
    });
  }
}
