//! The `switchboard` server: configuration, the HTTP routes and `/ws`, and the node's
//! start-up and graceful shutdown. Business rules live in the actors; this crate wires them to
//! sockets.
//!
//! # Layout
//! - [`config`]: `Config`, layered defaults → file → environment.
//! - [`server`]: `Node::start` builds the store, write-behind, hub and listener; shutdown.
//! - [`listener`]: the accept loop: `TCP_NODELAY`, the connection cap, HTTP timeouts.
//! - [`accounts`]: local accounts: argon2id password hashes and the token key.
//! - [`passwords`]: argon2id hashing with bounded concurrency, queue and memory.
//! - [`cognito`]: Amazon Cognito as identity provider: `[cognito]`, the pool's keys, the
//!   token verifier.
//! - [`ecs`]: the ECS task metadata endpoint: the task's private IP, advertised on ECS.
//! - [`data_lock`]: one node per data directory (an exclusive lock naming its holder).
//! - [`keyfile`]: generated secrets kept under the data directory (token and media keys).
//! - [`media`]: the media store `[media]` chooses (local files or S3), the thumbnailer and the
//!   sweep of unattached uploads.
//! - [`attachments`]: `NodeAttachments`, the node's media as the actors see it (upload slots,
//!   the check of a message's attachments), handed to the hub at start-up.
//! - [`http`]: the axum router: `/`, `/ws`, `/healthz`, `/readyz`, `/metrics`, `/dashboard`,
//!   `/api/*`.
//! - [`telemetry`]: the Prometheus recorder, every metric registered at start-up, process stats.
//! - [`dashboard`]: `Reporter`, each node's snapshot shared through the cluster for the page.

pub mod accounts;
pub mod attachments;
pub mod cognito;
pub mod config;
pub mod dashboard;
pub mod data_lock;
pub mod ecs;
pub mod http;
pub mod keyfile;
pub mod listener;
pub mod media;
pub mod passwords;
pub mod server;
pub mod telemetry;

pub use config::Config;
pub use server::Node;
