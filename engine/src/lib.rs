//! Switchboard's core vocabulary: everything both ends of a connection agree on, and nothing
//! that touches a socket, a database or a clock of its own.
//!
//! # Layout
//! - [`ids`]: `UserId`, `RoomId`, `ConnId`, `AttachmentId` newtypes.
//! - [`position`]: `Position` (epoch, seq), the order of a room's messages.
//! - [`domain`]: rooms, roles, presence, stored chat messages.
//! - [`protocol`]: the wire frames, `ClientFrame` and `ServerFrame`, enums of structs.
//! - [`codec`]: `Codec`, the one type that chooses MessagePack or JSON on the wire.
//! - [`error`]: `ErrorCode` sent to clients and the WebSocket close codes.
//! - [`auth`]: `TokenVerifier`, the seam for identity, `LocalTokens` (HS256) for the embedded
//!   default, and the checks of Cognito's RS256 tokens against a pool's keys.
//! - [`limits`]: protocol limits and the token-bucket `RateLimiter`.
//! - [`ring`]: `Ring`, rendezvous hashing of rooms onto live nodes (for the cluster).
//! - [`settings`]: serde helpers for settings: durations as whole milliseconds or seconds.
//! - [`metrics`]: the metric catalogue: every metric's name, type, help text and label values.

pub mod auth;
pub mod codec;
pub mod domain;
pub mod error;
pub mod ids;
pub mod limits;
pub mod mentions;
pub mod metrics;
pub mod position;
pub mod protocol;
pub mod ring;
pub mod settings;

pub use codec::Codec;
pub use error::{ErrorCode, close};
pub use ids::{AttachmentId, ConnId, RoomId, UserId};
pub use position::Position;

/// The protocol version spoken by this build; sent in `hello` and named by the subprotocols.
pub const PROTOCOL_VERSION: u32 = 1;
