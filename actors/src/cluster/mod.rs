//! The cluster: membership and the ring (`view`), what nodes send each other ([`wire`]),
//! the per-node forwarding queues (`forward`), the forwarded commands awaiting their reply
//! (`awaited`), routing, forwarding and handoff (`link`, the
//! sending side; `inbox`, the receiving side and the ring follower). A node without
//! `cluster.redis_url` uses none of it.

mod awaited;
mod forward;
mod inbox;
mod link;
mod view;
pub mod wire;

pub use link::ClusterLink;
pub use view::{ClusterArgs, ClusterView, RingWatch, WatchRing};
