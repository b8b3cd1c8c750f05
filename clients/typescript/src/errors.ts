// Error codes (PROTOCOL §9), close codes (§10), and the errors this library rejects with.

/** The codes of an `error` frame (and of the HTTP API's error bodies), §9. */
export const ErrorCode = {
  BadFrame: 1000,
  InvalidArgument: 1002,
  TooLarge: 1003,
  UnsupportedType: 1004,
  UploadMismatch: 1005,
  NotUploaded: 1006,
  Unauthenticated: 2000,
  InvalidToken: 2001,
  TokenExpired: 2002,
  AlreadyAuthenticated: 2003,
  Unconfirmed: 2004,
  Revoked: 2005,
  Forbidden: 3000,
  NotFound: 3001,
  NotJoined: 3002,
  Conflict: 3003,
  BadSignature: 3004,
  LinkExpired: 3005,
  /** An `edit` after the room's edit window closed (§6.16). */
  EditWindowClosed: 3006,
  /** A `react` beyond a message's bounds (§6.16). */
  TooManyReactions: 3007,
  RateLimited: 4000,
  Busy: 4001,
  QuotaExceeded: 4002,
  Internal: 5000,
  ShuttingDown: 5001,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const ERROR_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(ErrorCode).map(([name, code]) => [code, name]),
);

/** The WebSocket close codes the server uses (§10). */
export const CloseCode = {
  Normal: 1000,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  /** No close frame at all: the socket failed (set by the WebSocket implementation). */
  Abnormal: 1006,
  InvalidPayload: 1007,
  MessageTooBig: 1009,
  ServiceRestart: 1012,
  AuthTimeout: 4001,
  Revoked: 4003,
  SlowConsumer: 4008,
  TooManyErrors: 4009,
} as const;

/**
 * Closes after which reconnecting would only repeat the failure (§8.10, §10): a client bug or
 * a bad token. 1002 and 1007 are protocol violations by this client, so they are final too.
 */
export const FINAL_CLOSE_CODES: ReadonlySet<number> = new Set([
  CloseCode.ProtocolError,
  CloseCode.UnsupportedData,
  CloseCode.InvalidPayload,
  CloseCode.MessageTooBig,
  CloseCode.AuthTimeout,
  CloseCode.Revoked,
  CloseCode.TooManyErrors,
]);

/** `auth` refusals: the token will not work however often it is tried (§2.2, §2.3). */
export const AUTH_FAILURE_CODES: ReadonlySet<number> = new Set([
  ErrorCode.InvalidToken,
  ErrorCode.TokenExpired,
  ErrorCode.Unconfirmed,
  ErrorCode.Revoked,
]);

/** Errors after which a `send` is tried again with the same `cmid` (§8.2, §8.3). */
export const RETRYABLE_SEND_CODES: ReadonlySet<number> = new Set([
  ErrorCode.RateLimited,
  ErrorCode.Busy,
  ErrorCode.Internal,
  ErrorCode.ShuttingDown,
]);

/** The server answered a command with an `error` frame. Act on `code`, not on `message`. */
export class SwitchboardError extends Error {
  override readonly name = "SwitchboardError";
  constructor(
    /** The code of §9, one of {@link ErrorCode}. */
    readonly code: number,
    /** Human-readable detail from the server, for logs. */
    readonly serverMessage: string,
    /** The command's `type`. */
    readonly command: string,
  ) {
    super(`${command}: error ${code} ${ERROR_NAMES[code] ?? "unknown"}: ${serverMessage}`);
  }

  /** The code's name in {@link ErrorCode}, e.g. `"Forbidden"`. */
  get codeName(): string | undefined {
    return ERROR_NAMES[this.code];
  }
}

/** The socket closed before the command's reply came; whether it took effect is unknown. */
export class ConnectionClosedError extends Error {
  override readonly name = "ConnectionClosedError";
  constructor(readonly command: string) {
    super(`${command}: the connection closed before the reply`);
  }
}

/** No reply within the client's `requestTimeoutMs`. */
export class TimeoutError extends Error {
  override readonly name = "TimeoutError";
  constructor(readonly command: string, readonly ms: number) {
    super(`${command}: no reply within ${ms} ms`);
  }
}

/** The client was closed (by `close()`, or for good by the server: see `ClosedReason`). */
export class ClientClosedError extends Error {
  override readonly name = "ClientClosedError";
  constructor(readonly reason: ClosedReason) {
    super(`the client is closed: ${reason.kind}${"code" in reason ? ` ${reason.code}` : ""}`);
  }
}

/** The outbox holds `maxOutbox` unsent messages already; the new one was not taken. */
export class OutboxFullError extends Error {
  override readonly name = "OutboxFullError";
  constructor(readonly limit: number) {
    super(`the outbox holds ${limit} unsent messages`);
  }
}

/** Why a client stopped for good. */
export type ClosedReason =
  /** `close()` was called. */
  | { kind: "closed" }
  /** The server closed with a code that says not to reconnect (§10), or `reconnect: false`. */
  | { kind: "server"; code: number; reason: string }
  /** `auth` was refused: the token is invalid, expired or revoked (sign in again). */
  | { kind: "auth"; code: number; message: string };
