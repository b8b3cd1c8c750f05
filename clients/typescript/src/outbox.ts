// Messages not yet stored: each is sent, and sent again with the same `cmid` after a busy or
// failed answer, a timeout or a reconnect, until `sent` says it is durable (PROTOCOL §8.2,
// §8.3). The outbox holds the state; the client writes the frames.

import type { AttachmentId, Position, RoomId, SentReply } from "./protocol.js";

export type OutboxState =
  /** Waiting to be written (first, or again after a drop, a timeout or a retryable error). */
  | "queued"
  /** Written; its reply has not come yet. */
  | "sending";

/** A message in the outbox, as the application may show it (pending, with its text). */
export interface OutboxEntry {
  readonly room: RoomId;
  readonly cmid: string;
  readonly text: string;
  readonly attachments: readonly AttachmentId[];
  /** The message it answers, if it is a reply (§6.16). */
  readonly replyTo?: Position;
  readonly state: OutboxState;
  /** Times written so far. */
  readonly attempts: number;
  /** Where its own `message` echo was seen, if it was: shown, but not stored yet (§8.2). */
  readonly echo: Position | undefined;
}

/** An entry with what the client needs to finish it. */
export interface Pending extends OutboxEntry {
  state: OutboxState;
  attempts: number;
  echo: Position | undefined;
  /** True until the first write: marked `first` on the wire only then (§6.8). */
  firstAttempt: boolean;
  /** Not written again before this time (ms since the epoch), after a retryable error. */
  notBefore: number;
  retries: number;
  resolve(sent: SentReply): void;
  reject(error: unknown): void;
}

export class Outbox {
  /** In the order sent: a room's messages are written in the order the application sent them. */
  private readonly entries: Pending[] = [];

  constructor(readonly limit: number) {}

  get size(): number {
    return this.entries.length;
  }

  get full(): boolean {
    return this.entries.length >= this.limit;
  }

  add(entry: Pending): void {
    this.entries.push(entry);
  }

  find(room: RoomId, cmid: string): Pending | undefined {
    return this.entries.find((e) => e.room === room && e.cmid === cmid);
  }

  remove(entry: Pending): void {
    const at = this.entries.indexOf(entry);
    if (at >= 0) this.entries.splice(at, 1);
  }

  /** Entries due to be written now, oldest first. */
  due(now: number): Pending[] {
    return this.entries.filter((e) => e.state === "queued" && e.notBefore <= now);
  }

  /** The earliest time a queued entry becomes due, if one waits. */
  nextDue(): number | undefined {
    let next: number | undefined;
    for (const e of this.entries) {
      if (e.state === "queued" && (next === undefined || e.notBefore < next)) next = e.notBefore;
    }
    return next;
  }

  /** The socket went away: whatever was in flight is written again on the next one. */
  requeueAll(): void {
    for (const e of this.entries) e.state = "queued";
  }

  /** Removes every entry, failing each with `error`. */
  failAll(error: unknown): void {
    for (const e of this.entries.splice(0)) e.reject(error);
  }

  /** A snapshot, oldest first. */
  list(): OutboxEntry[] {
    return this.entries.map(({ room, cmid, text, attachments, replyTo, state, attempts, echo }) => ({
      room,
      cmid,
      text,
      attachments,
      replyTo,
      state,
      attempts,
      echo,
    }));
  }
}

/** A fresh client message id: a UUID where the platform has one. */
export function newCmid(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return c.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
}
