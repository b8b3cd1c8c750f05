//! The cluster: membership and the ring (`view`), what nodes send each other ([`wire`]),
//! the per-node forwarding queues (`forward`), routing, forwarding and handoff (`link`, the
//! sending side; `inbox`, the receiving side and the ring follower). A node without
//! `cluster.redis_url` uses none of it.

mod forward;
mod inbox;
mod link;
mod view;
pub mod wire;

pub use forward::ForwardLimits;
pub use link::ClusterLink;
pub use view::{ClusterArgs, ClusterTiming, ClusterView, RingWatch, WatchRing};
