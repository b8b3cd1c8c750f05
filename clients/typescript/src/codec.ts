// The one place that chooses the wire encoding (PROTOCOL §2.1, §4): MessagePack in binary
// WebSocket messages, or JSON in text messages for debugging.

import { decode, encode } from "@msgpack/msgpack";
import type { ClientFrame, ServerFrame } from "./protocol.js";

export type Encoding = "msgpack" | "json";

export const SUBPROTOCOL: Record<Encoding, string> = {
  msgpack: "switchboard.v1",
  json: "switchboard.v1.json",
};

export interface Codec {
  readonly encoding: Encoding;
  readonly subprotocol: string;
  encode(frame: ClientFrame): Uint8Array | string;
  /** A frame from one WebSocket message; throws on a payload of the wrong kind or shape. */
  decode(data: unknown): ServerFrame;
}

export function codecFor(encoding: Encoding): Codec {
  return encoding === "json" ? JSON_CODEC : MSGPACK_CODEC;
}

const MSGPACK_CODEC: Codec = {
  encoding: "msgpack",
  subprotocol: SUBPROTOCOL.msgpack,
  // Optional fields are left out, never sent as nil (§4).
  encode: (frame) => encode(frame, { ignoreUndefined: true }),
  decode: (data) => checked(decode(bytes(data))),
};

const JSON_CODEC: Codec = {
  encoding: "json",
  subprotocol: SUBPROTOCOL.json,
  encode: (frame) => JSON.stringify(frame),
  decode: (data) => {
    if (typeof data !== "string") throw new Error("a binary message on a JSON connection");
    return checked(JSON.parse(data));
  },
};

function bytes(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data; // Node's Buffer too
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (Array.isArray(data)) {
    // `ws` hands fragmented messages over as a list of buffers when binaryType is "fragments".
    const parts = data as Uint8Array[];
    const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.byteLength;
    }
    return out;
  }
  throw new Error("a text message on a MessagePack connection");
}

function checked(value: unknown): ServerFrame {
  if (typeof value !== "object" || value === null || typeof (value as { type?: unknown }).type !== "string") {
    throw new Error("a frame that is not a map with a string `type`");
  }
  return value as ServerFrame;
}
