//! `Recipient`: where a room sends one connection's frames: straight into its queue when the
//! connection is on this node, or through the forwarder of the node it is on.

use std::sync::Arc;

use switchboard_engine::ConnId;
use switchboard_engine::protocol::ServerFrame;
use switchboard_engine::ring::NodeId;

use crate::outbound::{Event, Outbound};
use crate::peers::Peers;

#[derive(Clone)]
pub enum Recipient {
    Local(Outbound),
    Remote(Remote),
}

/// A connection on another node.
#[derive(Clone)]
pub struct Remote {
    pub node: NodeId,
    pub conn: ConnId,
    /// The token of the forwarded command this recipient answers (0: none); its reply
    /// carries it back, so the connection's node hands over exactly one reply.
    pub token: u64,
    pub peers: Arc<dyn Peers>,
}

impl From<Outbound> for Recipient {
    fn from(out: Outbound) -> Self {
        Recipient::Local(out)
    }
}

impl Recipient {
    pub fn conn(&self) -> ConnId {
        match self {
            Recipient::Local(out) => out.conn(),
            Recipient::Remote(r) => r.conn,
        }
    }

    /// The node of a connection on another node; `None` for one of this node.
    pub fn node(&self) -> Option<&NodeId> {
        match self {
            Recipient::Local(_) => None,
            Recipient::Remote(r) => Some(&r.node),
        }
    }

    /// Queues a shared event. False when a local connection is gone or slow, or a remote
    /// node's forwarder is full.
    pub fn event(&self, event: &Arc<Event>) -> bool {
        match self {
            Recipient::Local(out) => out.event(event),
            Recipient::Remote(r) => r.peers.deliver(&r.node, Arc::from([r.conn]), event),
        }
    }

    /// Queues a frame for this connection only.
    pub fn frame(&self, frame: &ServerFrame) -> bool {
        match self {
            Recipient::Local(out) => out.frame(frame),
            Recipient::Remote(r) => r.peers.reply(&r.node, r.conn, None, frame),
        }
    }

    /// Queues the answer to the command this recipient sent: on another node it is handed to
    /// the connection only while that node still awaits it (exactly one answer per command).
    pub fn answer(&self, frame: &ServerFrame) -> bool {
        match self {
            Recipient::Local(out) => out.frame(frame),
            Recipient::Remote(r) => r.peers.reply(&r.node, r.conn, Some(r.token), frame),
        }
    }
}
