// @switchboard/client: a TypeScript client for the Switchboard chat engine (docs/PROTOCOL.md).
//
// Layout
// - client.ts: `SwitchboardClient`: replies by `rid`, auth, reconnect, resume, `join`, `leave`,
//   and `send` through the outbox.
// - commands.ts: the other commands, each a frame and its typed reply.
// - events.ts: the client's options, connection states and events.
// - connection.ts: one WebSocket, frames in and out; knows no commands.
// - codec.ts: MessagePack or JSON, the one place that chooses the encoding.
// - protocol.ts: the types of every frame, positions.
// - errors.ts: error and close codes, and the errors commands reject with.
// - cursors.ts: where each joined room resumes from (§8.4), what to do with each message.
// - outbox.ts: messages not stored yet, resent with the same `cmid` until `sent`.
// - rooms.ts: the room list (last message, unread count), kept live.
// - people.ts: profiles by id, cached.
// - seen.ts: where a message was first seen, by (room, sender, cmid) (§8.2).
// - delivery.ts: delivered marks sent as messages arrive (§6.18).
// - backoff.ts: jittered exponential reconnect pauses.
// - emitter.ts: the typed event emitter the client extends.

export * from "./protocol.js";
export * from "./errors.js";
export { SwitchboardClient, httpBase } from "./client.js";
export type { ClientEvents, ClientOptions, ConnectionState, Token } from "./client.js";
export type { WebSocketConstructor, WebSocketLike } from "./connection.js";
export type { Encoding } from "./codec.js";
export type { OutboxEntry, OutboxState } from "./outbox.js";
export type { RoomSummary, RoomSummaryInit } from "./rooms.js";
export { RoomList } from "./rooms.js";
export { People } from "./people.js";
export { Backoff } from "./backoff.js";
export type { BackoffOptions } from "./backoff.js";
export type { DeliveryOptions } from "./delivery.js";
