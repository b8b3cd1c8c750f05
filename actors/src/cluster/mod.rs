//! The cluster: membership and the ring ([`view`]), what nodes send each other ([`wire`]),
//! the per-node forwarding queues ([`forward`]) and routing, forwarding and handoff
//! ([`link`]). A node without `cluster.redis_url` uses none of it.

mod forward;
mod link;
mod view;
pub mod wire;

pub use forward::ForwardLimits;
pub use link::ClusterLink;
pub use view::{ClusterArgs, ClusterTiming, ClusterView, RingWatch, WatchRing};
