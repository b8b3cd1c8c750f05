// Where each recent message was first seen, by (room, sender, cmid), so that a message that
// comes again at a new position after its first copy was lost unstored (PROTOCOL §8.2) is
// shown once: the application moves the first copy instead of adding a second.

import type { ChatMessage, Position } from "./protocol.js";

/** How many messages are remembered, as the Rust client does (the oldest are forgotten first). */
export const REMEMBERED = 4096;

export class Seen {
  private readonly first = new Map<string, Position>();

  constructor(private readonly capacity = REMEMBERED) {}

  /** Records `m`; the first position recorded for its (room, sender, cmid) is kept. */
  note(m: ChatMessage): void {
    const key = keyOf(m);
    if (this.first.has(key)) return;
    this.first.set(key, m.pos);
    if (this.first.size > this.capacity) {
      const oldest = this.first.keys().next().value;
      if (oldest !== undefined) this.first.delete(oldest);
    }
  }

  /** Where `m` was first seen, when that was at another position than `m.pos`. */
  earlier(m: ChatMessage): Position | undefined {
    const first = this.first.get(keyOf(m));
    if (first === undefined || (first.epoch === m.pos.epoch && first.seq === m.pos.seq)) return undefined;
    return first;
  }
}

function keyOf(m: ChatMessage): string {
  return `${m.room}\u0000${m.sender}\u0000${m.cmid}`;
}
