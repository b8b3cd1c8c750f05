// One WebSocket: frames in and out through the codec, and how it ended. It knows no commands,
// rooms or reconnects; the client (client.ts) decides what a frame or a close means.

import type { Codec } from "./codec.js";
import type { ClientFrame, DisconnectEvent, ServerFrame } from "./protocol.js";

/**
 * What this library needs of a WebSocket: the browser's and Node ≥ 22's global `WebSocket`,
 * or the `ws` package's class on Node 20.
 */
export interface WebSocketLike {
  readonly readyState: number;
  binaryType: string;
  // `any` events: each implementation declares its own event classes, and a handler typed
  // with ours would not accept theirs. This file reads only `data`, `code` and `reason`.
  /* eslint-disable @typescript-eslint/no-explicit-any */
  onmessage: ((ev: any) => void) | null;
  onclose: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
  /* eslint-enable @typescript-eslint/no-explicit-any */
  send(data: Uint8Array | string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

const OPEN = 1;

/** How a socket ended: its close code and, when the server said why first, its `disconnect`. */
export interface SocketEnd {
  code: number;
  reason: string;
  /** The server's last frame, when it closed for a reason of its own (§7.4, §10). */
  disconnect?: DisconnectEvent;
}

export interface ConnectionHandlers {
  frame(frame: ServerFrame): void;
  /** A message that could not be decoded; the socket stays open. */
  malformed(error: unknown): void;
  /** Called once, when the socket has closed or failed (also when it never opened). */
  end(end: SocketEnd): void;
}

export class Connection {
  private readonly socket: WebSocketLike;
  private disconnect: DisconnectEvent | undefined;
  private ended = false;

  constructor(
    WebSocketImpl: WebSocketConstructor,
    url: string,
    private readonly codec: Codec,
    private readonly handlers: ConnectionHandlers,
  ) {
    this.socket = new WebSocketImpl(url, codec.subprotocol);
    this.socket.binaryType = "arraybuffer";
    this.socket.onmessage = (ev: { data: unknown }) => {
      // Frames that were already read when the socket was dropped are not handed on: the
      // client has moved on (and a reconnect will bring them again from its positions).
      if (this.ended || this.socket.readyState !== OPEN) return;
      let frame: ServerFrame;
      try {
        frame = this.codec.decode(ev.data);
      } catch (error) {
        this.handlers.malformed(error);
        return;
      }
      if (frame.type === "disconnect") this.disconnect = frame;
      this.handlers.frame(frame);
    };
    this.socket.onclose = (ev: { code: number; reason: string }) => this.finish(ev.code, ev.reason);
    // An error is always followed by a close event; the close says how it ended.
    this.socket.onerror = () => {};
  }

  /** Whether frames can be written now. */
  get open(): boolean {
    return !this.ended && this.socket.readyState === OPEN;
  }

  /** Writes one frame; false when the socket is not open (the frame is dropped). */
  write(frame: ClientFrame): boolean {
    if (!this.open) return false;
    this.socket.send(this.codec.encode(frame));
    return true;
  }

  /**
   * Closes the socket and reports its end at once, without waiting for the close handshake:
   * the client is done with it.
   */
  close(code = 1000, reason = ""): void {
    try {
      this.socket.close(code, reason);
    } catch {
      // Already closing, or a code the implementation refuses: the socket is going anyway.
    }
    this.finish(code, reason);
  }

  private finish(code: number, reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.socket.onmessage = null;
    const end: SocketEnd = { code, reason };
    if (this.disconnect !== undefined) end.disconnect = this.disconnect;
    this.handlers.end(end);
  }
}
