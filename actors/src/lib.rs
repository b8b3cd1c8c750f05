//! The actor tree of one Switchboard node (kameo on tokio).
//!
//! ```text
//! Hub (the handle: authenticator, router → rooms, presence, the cluster link once joined)
//! ├── RoomSupervisor ── RoomActor × active rooms    (restarted on panic, rebuilt from the store)
//! ├── UserActor × users with 2+ devices or watched  (presence over all their devices)
//! └── ConnectionActor × sockets                     (one per WebSocket; a panic ends only it)
//! ```
//!
//! # Layout
//! - [`attachments`]: `Attachments`, the node's media as the actors see it (upload slots, the
//!   check of a message's attachments), a trait the binary implements over its media store.
//! - [`config`]: `HubConfig` (the `[engine]` section) and `ClusterConfig` (`[cluster]`), the
//!   settings of a node's actors, deserialised straight from the configuration.
//! - [`hub`]: `Hub`, the handle the binary holds: it builds the parts below, joins them to a
//!   cluster, counts connections and shuts them down.
//! - [`identity`]: `Authenticator`, a token checked for its signature and its user (a Cognito
//!   subject linked to its user, created on first sight).
//! - [`outbound`]: `Outbound`, a connection's bounded send queue, and `Event`, a frame encoded
//!   once and shared by every recipient.
//! - [`revocation`]: `Revocations`, the identity-provider users whose access was revoked (their
//!   older tokens refused at `auth`) and the ones connected here (what the binary's checks
//!   need, and their connections' queues, to close them with 4003).
//! - [`transport`]: the socket seen as a `Stream`/`Sink` of frames, so tests can use channels.
//! - [`cluster`]: `ClusterView` (this node's lease and its view of the `Ring`) and
//!   `ClusterLink` (routing rooms to their owner node, forwarding fan-out once per node,
//!   handoff between owners).
//! - [`peers`]: `Peers`, the other nodes as rooms, presence and recipients see them (the
//!   cluster link implements it, so no module below the cluster imports it).
//! - [`recipient`]: `Recipient`, a connection here or on another node, as rooms see it.
//! - [`presence`]: `Presence`, presence across nodes, at each user's home node.
//! - [`connection`]: `ConnectionActor`, one socket: reads commands, writes frames, enforces limits.
//! - [`queries`]: history pages and search, shared by WebSocket commands and HTTP routes.
//! - [`people`]: profiles, names for ids and the search for users by name (bounded, rate
//!   limited), shared by WebSocket commands and HTTP routes; `profile_changed` to watchers.
//! - [`room_list`]: the room list a client opens with (a page of the caller's rooms by
//!   activity, bounded) and a member's muted flag, shared by WebSocket commands and HTTP routes.
//! - [`room`]: `RoomActor` (positions, fan-out, recent buffer, resume), its commands
//!   (`RoomCommand`), `Rooms` (what rooms share), `RoomSupervisor` and the directory of
//!   active rooms.
//! - [`router`]: `Router`, the one way a room command reaches its room, here or on another
//!   node.
//! - [`error`]: `Refused`, why the actors did not do what a command asked; the wire code is
//!   chosen there.
//! - [`user`]: the user directory (a single unwatched device costs no actor) and `UserActor`,
//!   presence across devices.
//! - [`metrics`]: metric names and recorders.
//! - [`refusal`]: refusals (auth failures, rate limits, slow consumers, ...) logged at a
//!   bounded rate per class.
//! - [`supervised`]: `Supervisor`, the node's long-lived tasks, each restarted or failing the
//!   node (`/readyz` 503) by its policy when it dies.
//!
//! Modules depend on each other one way (ARCHITECTURE §1): leaves ← `peers` ← `recipient` ←
//! `user` ← `presence` ← `room` ← `router` ← `cluster` ← `hub` ← `connection`, `queries`, `people`,
//! `room_list`.
//!
//! Fault injection (`faults`, `Hub::inject_room_panic`, `Hub::inject_connection_panic`, the
//! `fault_injection` setting) exists only with the `testing` cargo feature, which this crate's
//! dependents enable for their tests; release builds carry none of it.

pub mod attachments;
pub mod cluster;
pub mod config;
pub mod connection;
pub mod error;
#[cfg(feature = "testing")]
pub mod faults;
pub mod hub;
pub mod identity;
pub mod metrics;
pub mod outbound;
pub mod peers;
pub mod people;
pub mod presence;
pub mod queries;
pub mod recipient;
pub mod refusal;
pub mod revocation;
pub mod room;
pub mod room_list;
pub mod router;
pub mod socket;
pub mod supervised;
pub mod transport;
pub mod user;

pub use config::{ClusterConfig, HubConfig};
pub use connection::ConnectionActor;
pub use hub::Hub;
pub use transport::{Inbound, OutFrame, Transport, TransportError};
