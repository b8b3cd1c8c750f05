//! Codes a client can act on. Clients never see internal detail, only a code and a short message.

use serde_repr::{Deserialize_repr, Serialize_repr};

/// The `code` of an `error` frame. Grouped by hundreds: 1xxx the frame, 2xxx identity,
/// 3xxx permission and existence, 4xxx load, 5xxx the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize_repr, Deserialize_repr)]
#[repr(u16)]
pub enum ErrorCode {
    /// The frame is not a valid MessagePack/JSON command of this protocol.
    BadFrame = 1000,
    /// A field is out of its documented range (empty text, text too long, bad limit, ...).
    InvalidArgument = 1002,
    /// An upload larger than the caller's plan allows (or than the store takes at all).
    TooLarge = 1003,
    /// An upload of a content type the node does not take.
    UnsupportedType = 1004,
    /// An upload whose `Content-Type` or `Content-Length` is not the one its URL was signed for.
    UploadMismatch = 1005,
    /// A message references an attachment whose file is not in the media store (yet): upload
    /// it through the slot's URL first, then send again with the same `cmid`.
    NotUploaded = 1006,
    /// The command needs an authenticated connection.
    Unauthenticated = 2000,
    /// The token is malformed, forged or not signed by a trusted key.
    InvalidToken = 2001,
    /// The token was valid but has expired.
    TokenExpired = 2002,
    /// The connection is already authenticated.
    AlreadyAuthenticated = 2003,
    /// The account exists but is not confirmed yet (Cognito sign-in): confirm it first.
    Unconfirmed = 2004,
    /// The identity provider revoked the token's access: the user was disabled or deleted by an
    /// administrator, or signed out everywhere, after the token was issued. Sign in again.
    Revoked = 2005,
    /// The caller may not do this (not a member, private room, not an admin, ...).
    Forbidden = 3000,
    /// The room or user does not exist.
    NotFound = 3001,
    /// The connection has not joined that room.
    NotJoined = 3002,
    /// The thing already exists (a taken user name).
    Conflict = 3003,
    /// A signed media URL that this node did not sign, or that was altered.
    BadSignature = 3004,
    /// A signed media URL used after its expiry.
    LinkExpired = 3005,
    /// An edit after the room's edit window closed (`limits.edit_window_secs` after the
    /// message was sent).
    EditWindowClosed = 3006,
    /// A reaction beyond a message's bounds: too many different emoji on it, or too many of
    /// the caller's.
    TooManyReactions = 3007,
    /// Too many commands: slow down.
    RateLimited = 4000,
    /// The server cannot take this now (write-behind queue full, or the node at its connection
    /// cap): retry later, a send with the same `cmid`.
    Busy = 4001,
    /// The caller has used up a quota (uploads per day); the window says when it refills.
    QuotaExceeded = 4002,
    /// An internal failure; the command had no effect unless stated otherwise.
    Internal = 5000,
    /// The server is shutting down: reconnect.
    ShuttingDown = 5001,
}

impl ErrorCode {
    /// The HTTP status that carries this code on the HTTP routes.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadFrame | ErrorCode::InvalidArgument | ErrorCode::UploadMismatch => 400,
            ErrorCode::TooLarge => 413,
            ErrorCode::UnsupportedType => 415,
            ErrorCode::BadSignature | ErrorCode::LinkExpired | ErrorCode::EditWindowClosed => 403,
            ErrorCode::TooManyReactions => 409,
            ErrorCode::Unauthenticated
            | ErrorCode::InvalidToken
            | ErrorCode::TokenExpired
            | ErrorCode::Revoked => 401,
            ErrorCode::Forbidden
            | ErrorCode::NotJoined
            | ErrorCode::AlreadyAuthenticated
            | ErrorCode::Unconfirmed => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict | ErrorCode::NotUploaded => 409,
            ErrorCode::RateLimited | ErrorCode::QuotaExceeded => 429,
            ErrorCode::Busy | ErrorCode::ShuttingDown => 503,
            ErrorCode::Internal => 500,
        }
    }

    /// A short message for this code when the cause needs no more detail.
    pub fn describe(self) -> &'static str {
        match self {
            ErrorCode::BadFrame => "malformed frame",
            ErrorCode::InvalidArgument => "invalid argument",
            ErrorCode::TooLarge => "too large",
            ErrorCode::UnsupportedType => "content type not allowed",
            ErrorCode::UploadMismatch => "content type or length differs from the signed upload",
            ErrorCode::NotUploaded => "attachment not uploaded yet",
            ErrorCode::Unauthenticated => "authenticate first",
            ErrorCode::InvalidToken => "invalid token",
            ErrorCode::TokenExpired => "token expired",
            ErrorCode::AlreadyAuthenticated => "already authenticated",
            ErrorCode::Unconfirmed => "confirm the account first",
            ErrorCode::Revoked => "access revoked; sign in again",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not found",
            ErrorCode::NotJoined => "join the room first",
            ErrorCode::Conflict => "already exists",
            ErrorCode::BadSignature => "bad signature",
            ErrorCode::LinkExpired => "link expired",
            ErrorCode::EditWindowClosed => "too late to edit this message",
            ErrorCode::TooManyReactions => "too many reactions on this message",
            ErrorCode::RateLimited => "rate limited",
            ErrorCode::QuotaExceeded => "quota used up",
            ErrorCode::Busy => "busy; retry",
            ErrorCode::Internal => "internal error",
            ErrorCode::ShuttingDown => "server shutting down; reconnect",
        }
    }
}

/// WebSocket close codes used by Switchboard. 1000-1015 are RFC 6455's; 4000-4999 are ours.
pub mod close {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// The WebSocket layer saw a protocol violation.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A text frame on a MessagePack connection (or binary on a JSON one).
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// A text message (or close reason) that is not valid UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// A frame larger than `max_frame_bytes`.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The server is restarting or shutting down: reconnect (to any node) and resume.
    pub const SERVICE_RESTART: u16 = 1012;
    /// No valid `auth` within the authentication timeout.
    pub const AUTH_TIMEOUT: u16 = 4001;
    /// The identity provider revoked the user's access (disabled, deleted or signed out
    /// everywhere): do not reconnect with the same token; sign in again.
    pub const REVOKED: u16 = 4003;
    /// The connection could not keep up with its events; reconnect and resume.
    pub const SLOW_CONSUMER: u16 = 4008;
    /// Too many malformed frames in a row.
    pub const TOO_MANY_ERRORS: u16 = 4009;
}
