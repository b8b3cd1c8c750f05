//! Durable state behind one trait, and the write-behind journal that batches history into it.
//!
//! # Layout
//! - [`store`]: the `Store` trait (users, rooms, memberships, messages, read watermarks, upload
//!   records) and `StoreError`; [`store::sqlite`] is the embedded implementation,
//!   [`store::postgres`] the production one.
//! - [`write_behind`]: `WriteBehind`, a kameo actor that batches message inserts, commits them off
//!   the runtime threads and acknowledges each message only after its batch commits.
//! - `conformance`: one suite of store cases, run against every implementation.
//! - [`cluster`]: node membership with leases (`Membership`): in-process and Redis.
//!
//! Test support (this crate's conformance suites) exists only with the `testing` cargo
//! feature, which only tests enable. `store::scratch::ScratchDatabase` (a database for one
//! run) is not behind it: the load harness uses it, and a feature it turned on would be unified
//! into the node by `cargo build --workspace`.

pub mod cluster;
#[cfg(feature = "testing")]
pub mod conformance;
pub mod store;
pub mod write_behind;

pub use store::{HistoryQuery, Revocation, Store, StoreError, Target, Upload};
pub use write_behind::{Busy, Outcome, WriteBehind, WriteBehindConfig};
