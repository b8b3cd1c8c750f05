// The client's options, states and events: the vocabulary client.ts and commands.ts share.

import type { BackoffOptions } from "./backoff.js";
import type { DeliveryOptions } from "./delivery.js";
import type { Encoding } from "./codec.js";
import type { WebSocketConstructor } from "./connection.js";
import type { ClosedReason } from "./errors.js";
import type { OutboxEntry } from "./outbox.js";
import type { EventFrame, MessageEvent, Position, RoomId, ServerFrame } from "./protocol.js";

export type Token = string | (() => string | Promise<string>);

export interface ClientOptions {
  /** The node's WebSocket endpoint, `ws://host:port/ws` (or `wss://`). */
  url: string;
  /** The token to authenticate with, or a function that returns a fresh one for each connection. */
  token: Token;
  /** A WebSocket class; defaults to the global `WebSocket` (browsers, Node ≥ 22). */
  WebSocket?: WebSocketConstructor;
  /** `msgpack` (default) or `json` (for debugging). */
  encoding?: Encoding;
  /** How long a command waits for its reply (default 15 s). */
  requestTimeoutMs?: number;
  /** Reconnect pauses. */
  backoff?: BackoffOptions;
  /**
   * After a `resume` of outcome `reload` (too much missed): `"replay"` (default) pages history
   * forward from the cursor and delivers every missed message in order before the live ones;
   * `"latest"` skips to the room's head (show the newest page with `history`).
   */
  reload?: "replay" | "latest";
  /** The most unsent messages the outbox holds (default 1,000); `send` refuses more. */
  maxOutbox?: number;
  /** Delivered marks sent as messages arrive (§6.18): on by default. */
  delivery?: DeliveryOptions;
}

export type ConnectionState =
  /** Opening a socket or authenticating. */
  | "connecting"
  /** Authenticated; joined rooms are being (or have been) resumed, commands go out. */
  | "ready"
  /** The socket went away; the next try waits `delayMs`. */
  | "waiting"
  /** Stopped for good: `close()` was called, or the server or `auth` said not to come back. */
  | "closed";

/** Events of the client itself, besides the server's events (which come by their `type`). */
export interface ClientEvents {
  message: MessageEvent;
  edited: Extract<EventFrame, { type: "edited" }>;
  deleted: Extract<EventFrame, { type: "deleted" }>;
  reaction: Extract<EventFrame, { type: "reaction" }>;
  pinned: Extract<EventFrame, { type: "pinned" }>;
  member_joined: Extract<EventFrame, { type: "member_joined" }>;
  member_left: Extract<EventFrame, { type: "member_left" }>;
  typing: Extract<EventFrame, { type: "typing" }>;
  read_receipt: Extract<EventFrame, { type: "read_receipt" }>;
  delivery_receipt: Extract<EventFrame, { type: "delivery_receipt" }>;
  presence_changed: Extract<EventFrame, { type: "presence_changed" }>;
  resume: Extract<EventFrame, { type: "resume" }>;
  room_reset: Extract<EventFrame, { type: "room_reset" }>;
  room_added: Extract<EventFrame, { type: "room_added" }>;
  profile_changed: Extract<EventFrame, { type: "profile_changed" }>;
  disconnect: Extract<EventFrame, { type: "disconnect" }>;
  /** Every server frame that is not a matched reply, as it arrives (unknown types included). */
  frame: ServerFrame;
  state: { state: ConnectionState; attempt?: number; delayMs?: number; code?: number };
  /** A room's resume said `reload`: missed messages follow from history (`replay`) or not. */
  reload: { room: RoomId; from: Position; head: Position | undefined; mode: "replay" | "latest" };
  /** A joined room could not be joined again (no longer a member, or gone); it is dropped. */
  room_lost: { room: RoomId; error: unknown };
  /** The outbox changed (an entry added, written, echoed, stored or failed). */
  outbox: OutboxEntry[];
  /** An `error` frame without `rid`, or a frame this client could not read. */
  error: unknown;
  /** The client stopped for good. */
  closed: ClosedReason;
}
