// The client: one socket at a time (connection.ts), replies matched to commands by `rid`,
// authentication, reconnects with jittered backoff, every joined room resumed from its cursor
// (cursors.ts), the outbox (outbox.ts), and the room list and profile cache kept current.

import { Backoff } from "./backoff.js";
import { codecFor, type Codec } from "./codec.js";
import { Commands } from "./commands.js";
import { Connection, type SocketEnd, type WebSocketConstructor } from "./connection.js";
import { RoomCursor } from "./cursors.js";
import { DeliveryMarks } from "./delivery.js";
import {
  AUTH_FAILURE_CODES,
  ClientClosedError,
  type ClosedReason,
  ConnectionClosedError,
  ErrorCode,
  FINAL_CLOSE_CODES,
  OutboxFullError,
  RETRYABLE_SEND_CODES,
  SwitchboardError,
  TimeoutError,
} from "./errors.js";
import type { ClientEvents, ClientOptions, ConnectionState, Token } from "./events.js";
import { newCmid, Outbox, type OutboxEntry, type Pending as PendingSend } from "./outbox.js";
import { People } from "./people.js";
import {
  type AttachmentId,
  type ChatMessage,
  type ClientFrame,
  type Command,
  type EventFrame,
  type HelloFrame,
  type JoinedReply,
  type EntryEvent,
  type Position,
  type ReplyOf,
  type RoomId,
  type SentReply,
  type ServerFrame,
  type UserInfo,
  EVENT_TYPES,
} from "./protocol.js";
import { RoomList } from "./rooms.js";
import { Seen } from "./seen.js";

export type { ClientEvents, ClientOptions, ConnectionState, Token } from "./events.js";
export { httpBase } from "./commands.js";

interface PendingRequest {
  command: string;
  conn: Connection;
  /**
   * Called as the reply is read, before the frames after it: a promise's continuation runs
   * only after the rest of the socket's buffered frames (a `join`'s `resume` among them).
   */
  onReply: ((frame: ServerFrame) => void) | undefined;
  resolve(frame: ServerFrame): void;
  reject(error: unknown): void;
  timer: ReturnType<typeof setTimeout>;
}

/** Pauses between tries when a room's re-join is answered busy (4001) or failed (5000). */
const REJOIN_RETRY_MS = [200, 500, 1_000, 2_000, 5_000];
/** Pauses between tries of a `send` answered busy, rate limited or failed. */
const SEND_RETRY_MS = [250, 500, 1_000, 2_000, 5_000, 10_000];
/** A connection that lived this long resets the reconnect backoff when it ends. */
const STABLE_MS = 10_000;
/** History page size when catching up after `reload` (the protocol's largest, §11). */
const PAGE = 200;

export class SwitchboardClient extends Commands {
  readonly rooms: RoomList;
  readonly people: People;

  protected readonly url: string;
  protected readonly token: Token;
  private readonly WebSocketImpl: WebSocketConstructor;
  private readonly codec: Codec;
  private readonly timeoutMs: number;
  private readonly reloadMode: "replay" | "latest";
  private readonly backoff: Backoff;
  private readonly outboxQueue: Outbox;
  private readonly cursors = new Map<RoomId, RoomCursor>();
  private readonly pending = new Map<number, PendingRequest>();
  private readonly seen = new Seen();
  private readonly delivery: DeliveryMarks;
  private nextRid = 1;
  private conn: Connection | undefined;
  private connState: ConnectionState = "connecting";
  private readySince = 0;
  private closedReason: ClosedReason | undefined;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private outboxTimer: ReturnType<typeof setTimeout> | undefined;
  private readyWaiters: { resolve(): void; reject(e: unknown): void }[] = [];
  private helloFrame: HelloFrame | undefined;
  private me: UserInfo | undefined;
  private started = false;

  constructor(options: ClientOptions) {
    super();
    this.url = options.url;
    this.token = options.token;
    const impl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (impl === undefined) {
      throw new TypeError("no global WebSocket here (Node 20): pass one, e.g. `WebSocket` from the `ws` package");
    }
    this.WebSocketImpl = impl;
    this.codec = codecFor(options.encoding ?? "msgpack");
    this.timeoutMs = options.requestTimeoutMs ?? 15_000;
    this.reloadMode = options.reload ?? "replay";
    this.backoff = new Backoff(options.backoff);
    this.outboxQueue = new Outbox(options.maxOutbox ?? 1_000);
    this.rooms = new RoomList(() => this.me?.id);
    this.people = new People((ids) => this.profiles(ids));
    this.delivery = new DeliveryMarks((room, pos) => this.markDelivered(room, pos), options.delivery);
  }

  // ---- Lifecycle ---------------------------------------------------------------------------

  /**
   * Opens the first connection and resolves once it is authenticated. Failed tries are
   * repeated with backoff; it rejects only when the client stops for good (a refused token).
   */
  connect(): Promise<void> {
    if (!this.started) {
      this.started = true;
      this.open();
    }
    return this.whenReady(Infinity);
  }

  /** Closes the socket and stops: pending commands and unsent messages fail with `ClientClosedError`. */
  close(): void {
    this.stop({ kind: "closed" });
  }

  get state(): ConnectionState {
    return this.connState;
  }

  /** The signed-in user, once authenticated. */
  get user(): UserInfo | undefined {
    return this.me;
  }

  /** The current connection's `hello` (protocol version and limits, §7.1). */
  get hello(): HelloFrame | undefined {
    return this.helloFrame;
  }

  /** Why the client stopped, once it has. */
  get closed(): ClosedReason | undefined {
    return this.closedReason;
  }

  /** Rooms joined (resumed after every reconnect). */
  get joinedRooms(): RoomId[] {
    return [...this.cursors.keys()];
  }

  /** The last position received contiguously in `room` (what a resume starts after). */
  position(room: RoomId): Position | undefined {
    return this.cursors.get(room)?.last;
  }

  /**
   * Where `m` (same room, sender and `cmid`) was first delivered, when that was at another
   * position: the first copy was lost before it was stored and the sender sent it again
   * (§8.2). Show it once: move the copy shown there to `m.pos`.
   */
  earlierPosition(m: ChatMessage): Position | undefined {
    return this.seen.earlier(m);
  }

  /** Messages not stored yet, oldest first. */
  get outbox(): OutboxEntry[] {
    return this.outboxQueue.list();
  }

  private open(): void {
    if (this.closedReason !== undefined) return;
    this.setState({ state: "connecting", attempt: this.backoff.attempts });
    const conn = new Connection(this.WebSocketImpl, this.url, this.codec, {
      frame: (frame) => this.onFrame(conn, frame),
      malformed: (error) => this.emit("error", error),
      end: (end) => this.onEnd(conn, end),
    });
    this.conn = conn;
    this.helloFrame = undefined;
  }

  /** After `hello`: authenticate, re-join every room from its cursor, then send the outbox. */
  private async establish(conn: Connection, hello: HelloFrame): Promise<void> {
    try {
      let user = hello.user;
      if (user === undefined) {
        user = (await this.requestOn(conn, { type: "auth", token: await this.currentToken() })).user;
      }
      if (conn !== this.conn) return;
      this.me = user;
      // Joins go out before the outbox: a connection's commands for one room take effect in
      // the order sent (§8.6), so resent messages echo on the resumed subscription.
      for (const cursor of this.cursors.values()) void this.rejoin(conn, cursor);
      this.readySince = Date.now();
      this.setState({ state: "ready" });
      for (const w of this.readyWaiters.splice(0)) w.resolve();
      this.pumpOutbox();
    } catch (error) {
      if (conn !== this.conn) return;
      if (error instanceof SwitchboardError && AUTH_FAILURE_CODES.has(error.code)) {
        this.stop({ kind: "auth", code: error.code, message: error.serverMessage });
      } else {
        conn.close(1000, "auth failed");
      }
    }
  }

  private onEnd(conn: Connection, end: SocketEnd): void {
    if (conn !== this.conn) return;
    this.conn = undefined;
    for (const [rid, p] of this.pending) {
      if (p.conn !== conn) continue;
      this.pending.delete(rid);
      clearTimeout(p.timer);
      p.reject(new ConnectionClosedError(p.command));
    }
    const written = new Map((end.disconnect?.resume ?? []).map((r) => [r.room, r.pos]));
    for (const cursor of this.cursors.values()) cursor.socketClosed(written.get(cursor.room));
    this.outboxQueue.requeueAll();
    if (this.closedReason !== undefined) return;
    const final = end.disconnect?.reconnect === false || FINAL_CLOSE_CODES.has(end.code);
    if (final) {
      this.stop({ kind: "server", code: end.disconnect?.code ?? end.code, reason: end.disconnect?.reason ?? end.reason });
      return;
    }
    if (this.readySince > 0 && Date.now() - this.readySince >= STABLE_MS) this.backoff.reset();
    this.readySince = 0;
    const delayMs = this.backoff.next();
    this.setState({ state: "waiting", attempt: this.backoff.attempts, delayMs, code: end.code });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.open();
    }, delayMs);
  }

  private stop(reason: ClosedReason): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.outboxTimer);
    const conn = this.conn;
    this.conn = undefined;
    conn?.close(1000, "client closed");
    const error = new ClientClosedError(reason);
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(error);
    }
    this.pending.clear();
    for (const w of this.readyWaiters.splice(0)) w.reject(error);
    this.outboxQueue.failAll(error);
    this.delivery.clear();
    this.setState({ state: "closed" });
    this.emit("closed", reason);
  }

  private setState(s: ClientEvents["state"]): void {
    this.connState = s.state;
    this.emit("state", s);
  }

  /** Resolves once the client is ready; rejects after `ms`, or when it closes for good. */
  private whenReady(ms: number): Promise<void> {
    if (this.closedReason !== undefined) return Promise.reject(new ClientClosedError(this.closedReason));
    if (this.connState === "ready") return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = { resolve: () => (clearTimeout(timer), resolve()), reject: (e: unknown) => (clearTimeout(timer), reject(e)) };
      const timer =
        ms === Infinity
          ? undefined
          : setTimeout(() => {
              this.readyWaiters = this.readyWaiters.filter((w) => w !== waiter);
              reject(new TimeoutError("connect", ms));
            }, ms);
      this.readyWaiters.push(waiter);
    });
  }

  // ---- Frames in ---------------------------------------------------------------------------

  private onFrame(conn: Connection, frame: ServerFrame): void {
    if (frame.type === "hello") {
      this.helloFrame = frame;
      void this.establish(conn, frame);
      return;
    }
    // Replies carry their command's `rid`; events never do (§7.3).
    const rid = (frame as { rid?: unknown }).rid;
    if (typeof rid === "number") {
      const p = this.pending.get(rid);
      if (p !== undefined && p.conn === conn) {
        this.pending.delete(rid);
        clearTimeout(p.timer);
        if (frame.type === "error") {
          p.reject(new SwitchboardError(frame.code, frame.message, p.command));
        } else {
          p.onReply?.(frame);
          p.resolve(frame);
        }
        return;
      }
      // A reply whose command timed out already: nothing waits for it.
      if (frame.type !== "error") return;
    }
    this.emit("frame", frame);
    switch (frame.type) {
      case "message":
      case "edited":
      case "deleted":
      case "reaction":
      case "pinned":
        this.onEntry(conn, frame);
        return;
      case "resume":
        this.onResume(conn, frame);
        break;
      case "room_reset": {
        const cursor = this.cursors.get(frame.room);
        if (cursor !== undefined) void this.rejoin(conn, cursor);
        break;
      }
      case "room_added":
        this.rooms.noteRoom(frame.room);
        break;
      case "member_left":
        if (frame.user === this.me?.id) {
          // Left or removed on some connection: every connection of the user stops receiving.
          this.cursors.delete(frame.room);
          this.rooms.remove(frame.room);
          this.delivery.forget(frame.room);
        }
        break;
      case "read_receipt":
        if (frame.user === this.me?.id) this.rooms.noteRead(frame.room, frame.pos);
        break;
      case "profile_changed":
        this.people.store(frame.user);
        break;
      case "error":
        this.emit("error", new SwitchboardError(frame.code, frame.message, "unknown"));
        return;
    }
    if (EVENT_TYPES.has(frame.type)) this.emit(frame.type as keyof ClientEvents, frame as never);
  }

  /** An entry of a room (a message, or a change to one), live or replayed: once each, in order. */
  private onEntry(conn: Connection, e: EntryEvent): void {
    const cursor = this.cursors.get(e.room);
    if (cursor !== undefined) {
      const verdict = cursor.accept(e);
      if (verdict === "rejoin") void this.rejoin(conn, cursor);
      if (verdict !== "deliver") return;
    }
    this.deliver(e);
  }

  /** Hands an entry to the application; a message also to the room list and the outbox. */
  private deliver(e: EntryEvent): void {
    if (e.type !== "message") {
      this.emit(e.type, e as never);
      return;
    }
    const m = e;
    this.seen.note(m);
    this.rooms.noteMessage(m);
    if (m.sender !== this.me?.id) this.delivery.noteArrival(m.room, m.pos);
    if (m.sender === this.me?.id) {
      const entry = this.outboxQueue.find(m.room, m.cmid);
      if (entry !== undefined && entry.echo === undefined) {
        entry.echo = m.pos;
        this.emit("outbox", this.outboxQueue.list());
      }
    }
    this.emit("message", m);
  }

  private onResume(conn: Connection, r: Extract<EventFrame, { type: "resume" }>): void {
    const cursor = this.cursors.get(r.room);
    if (cursor === undefined || r.outcome !== "reload") return;
    const from = cursor.resumeFrom();
    if (this.reloadMode === "latest") {
      cursor.skipTo(r.head);
    } else {
      cursor.startPaging();
      void this.catchUp(conn, cursor);
    }
    this.emit("reload", { room: r.room, from, head: r.head, mode: this.reloadMode });
  }

  /** Pages history forward from the cursor until caught up, then lets the held live ones go. */
  private async catchUp(conn: Connection, cursor: RoomCursor): Promise<void> {
    const paging = cursor.paging;
    try {
      for (;;) {
        const page = await this.requestOn(conn, { type: "history", room: cursor.room, after: cursor.resumeFrom(), limit: PAGE });
        if (cursor.paging !== paging) return; // the room was joined again meanwhile
        const fresh = cursor.page(page.messages.map((m) => ({ ...m, type: "message" as const })));
        for (const m of fresh) this.deliver(m);
        if (!page.more) break;
      }
      for (const m of cursor.finishPaging()) this.deliver(m);
    } catch (error) {
      // The socket went away: the next one resumes from the last page's last position.
      if (!(error instanceof ConnectionClosedError) && conn === this.conn) void this.rejoin(conn, cursor);
    }
  }

  /** Joins `cursor`'s room again from its position, retrying while the room is busy. */
  private async rejoin(conn: Connection, cursor: RoomCursor): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (conn !== this.conn || this.cursors.get(cursor.room) !== cursor) return;
      try {
        await this.joinOn(conn, cursor, true);
        return;
      } catch (error) {
        if (error instanceof ConnectionClosedError || error instanceof ClientClosedError) return;
        const retry = error instanceof TimeoutError || (error instanceof SwitchboardError && RETRYABLE_SEND_CODES.has(error.code));
        const pause = REJOIN_RETRY_MS[attempt];
        if (!retry || pause === undefined) {
          if (this.cursors.get(cursor.room) === cursor) this.cursors.delete(cursor.room);
          if (error instanceof SwitchboardError && (error.code === ErrorCode.Forbidden || error.code === ErrorCode.NotFound)) {
            this.rooms.remove(cursor.room);
          }
          this.emit("room_lost", { room: cursor.room, error });
          return;
        }
        await sleep(pause);
      }
    }
  }

  private async joinOn(conn: Connection, cursor: RoomCursor, resume: boolean): Promise<JoinedReply> {
    const cmd: Command = resume ? { type: "join", room: cursor.room, resume: cursor.resumeFrom() } : { type: "join", room: cursor.room };
    return (await this.requestOn(conn, cmd, this.timeoutMs, (reply) => {
      const joined = reply as JoinedReply;
      cursor.joined(joined.head, resume);
      this.rooms.noteRoom(joined.room);
      this.delivery.noteRoom(joined.room.id, joined.room.kind);
    })) as JoinedReply;
  }

  // ---- Commands ----------------------------------------------------------------------------

  /**
   * Sends any command and resolves with its reply, or rejects with `SwitchboardError` (the
   * server's code), `TimeoutError`, `ConnectionClosedError` (the socket went away first) or
   * `ClientClosedError`. Waits for the connection to be ready, within the request timeout.
   */
  async request<C extends Command>(cmd: C): Promise<ReplyOf[C["type"]]> {
    const started = Date.now();
    await this.whenReady(this.timeoutMs);
    const conn = this.conn;
    if (conn === undefined) throw new ConnectionClosedError(cmd.type);
    return this.requestOn(conn, cmd, this.timeoutMs - (Date.now() - started));
  }

  private requestOn<C extends Command>(
    conn: Connection,
    cmd: C,
    timeoutMs = this.timeoutMs,
    onReply?: (frame: ServerFrame) => void,
  ): Promise<ReplyOf[C["type"]]> {
    if (this.closedReason !== undefined) return Promise.reject(new ClientClosedError(this.closedReason));
    const rid = this.nextRid++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        reject(new TimeoutError(cmd.type, timeoutMs));
      }, Math.max(timeoutMs, 1));
      this.pending.set(rid, { command: cmd.type, conn, onReply, resolve: resolve as (f: ServerFrame) => void, reject, timer });
      if (!conn.write({ ...cmd, rid } as ClientFrame)) {
        this.pending.delete(rid);
        clearTimeout(timer);
        reject(new ConnectionClosedError(cmd.type));
      }
    });
  }

  /**
   * Subscribes to `room` and keeps it subscribed across reconnects, resuming from its cursor.
   * A room joined before is resumed from its cursor; a new one starts at its head.
   */
  async join(room: RoomId): Promise<JoinedReply> {
    await this.whenReady(this.timeoutMs);
    const conn = this.conn;
    if (conn === undefined) throw new ConnectionClosedError("join");
    const known = this.cursors.get(room);
    const cursor = known ?? new RoomCursor(room);
    this.cursors.set(room, cursor);
    try {
      return await this.joinOn(conn, cursor, known !== undefined);
    } catch (error) {
      if (known === undefined && this.cursors.get(room) === cursor && error instanceof SwitchboardError) this.cursors.delete(room);
      throw error;
    }
  }

  /** Gives up membership of `room` (§6.5). */
  async leave(room: RoomId): Promise<void> {
    await this.request({ type: "leave", room });
    this.cursors.delete(room);
    this.rooms.remove(room);
    this.delivery.forget(room);
  }

  /**
   * Posts a message through the outbox: written now or as soon as the client is ready, and
   * written again with the same `cmid` after a drop, a timeout or a busy answer, until `sent`
   * (resolved with it; `duplicate` is true when an earlier attempt had been stored). Rejects
   * with `SwitchboardError` for a refusal that a resend would not change (1002, 3000, ...),
   * `OutboxFullError`, or `ClientClosedError`. Give `cmid` to send again a message that failed.
   */
  send(room: RoomId, text: string, options: { attachments?: AttachmentId[]; cmid?: string; replyTo?: Position } = {}): Promise<SentReply> {
    if (this.closedReason !== undefined) return Promise.reject(new ClientClosedError(this.closedReason));
    if (this.outboxQueue.full) return Promise.reject(new OutboxFullError(this.outboxQueue.limit));
    const cmid = options.cmid ?? newCmid();
    return new Promise((resolve, reject) => {
      this.outboxQueue.add({
        room,
        cmid,
        text,
        attachments: options.attachments ?? [],
        replyTo: options.replyTo,
        state: "queued",
        attempts: 0,
        echo: undefined,
        firstAttempt: options.cmid === undefined,
        notBefore: 0,
        retries: 0,
        resolve,
        reject,
      });
      this.emit("outbox", this.outboxQueue.list());
      this.pumpOutbox();
    });
  }

  /** Writes every due outbox entry on the current connection, oldest first. */
  private pumpOutbox(): void {
    clearTimeout(this.outboxTimer);
    this.outboxTimer = undefined;
    const conn = this.conn;
    if (conn === undefined || this.connState !== "ready") return;
    const now = Date.now();
    for (const entry of this.outboxQueue.due(now)) this.writeSend(conn, entry);
    const next = this.outboxQueue.nextDue();
    if (next !== undefined) this.outboxTimer = setTimeout(() => this.pumpOutbox(), Math.max(next - now, 1));
  }

  private writeSend(conn: Connection, entry: PendingSend): void {
    const cmd: Command = { type: "send", room: entry.room, cmid: entry.cmid, text: entry.text };
    if (entry.attachments.length > 0) cmd.attachments = [...entry.attachments];
    if (entry.replyTo !== undefined) cmd.reply_to = entry.replyTo;
    if (entry.firstAttempt) cmd.first = true;
    entry.firstAttempt = false;
    entry.state = "sending";
    entry.attempts += 1;
    this.emit("outbox", this.outboxQueue.list());
    this.requestOn(conn, cmd).then(
      (sent) => {
        this.outboxQueue.remove(entry);
        this.emit("outbox", this.outboxQueue.list());
        entry.resolve(sent as SentReply);
      },
      (error: unknown) => {
        if (error instanceof ClientClosedError) return; // failed with the rest by stop()
        if (error instanceof SwitchboardError && !RETRYABLE_SEND_CODES.has(error.code)) {
          this.outboxQueue.remove(entry);
          this.emit("outbox", this.outboxQueue.list());
          entry.reject(error);
          return;
        }
        // Busy, failed, timed out or cut off: again with the same cmid (§8.3). After a drop
        // the next connection writes it once ready; otherwise after a growing pause.
        entry.state = "queued";
        if (!(error instanceof ConnectionClosedError)) {
          entry.notBefore = Date.now() + (SEND_RETRY_MS[entry.retries] ?? SEND_RETRY_MS[SEND_RETRY_MS.length - 1]!);
          entry.retries += 1;
        }
        this.emit("outbox", this.outboxQueue.list());
        this.pumpOutbox();
      },
    );
  }

}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
