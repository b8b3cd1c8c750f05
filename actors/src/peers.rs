//! `Peers`: the other nodes of a cluster, as rooms, presence and recipients see them. The
//! cluster link implements it; the layers below the cluster know only this trait, so the
//! modules of this crate depend on each other one way (see ARCHITECTURE §1). A node without a
//! cluster has no `Peers`: every room and every user is served here.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use switchboard_engine::domain::PresenceStatus;
use switchboard_engine::protocol::ServerFrame;
use switchboard_engine::ring::NodeId;
use switchboard_engine::{ConnId, RoomId, UserId};

use crate::outbound::{Event, Outbound};

pub trait Peers: Send + Sync {
    /// This node.
    fn me(&self) -> &NodeId;

    /// Whether `node` is in this node's view of the ring.
    fn is_live(&self, node: &NodeId) -> bool;

    /// The node that serves `room` when it is not this one.
    fn owner(&self, room: RoomId) -> Option<NodeId>;

    /// The home node of `user` when it is not this one.
    fn home(&self, user: UserId) -> Option<NodeId>;

    /// Sends `event` to `conns` on `node` as one envelope. False when that node's queue is
    /// full: the caller drops those subscribers and resets them with [`Peers::reset`].
    fn deliver(&self, node: &NodeId, conns: Arc<[ConnId]>, event: &Event) -> bool;

    /// Sends one frame to one connection on `node`; with `answers`, the answer to the
    /// forwarded command that token names (handed over only while it is awaited).
    fn reply(&self, node: &NodeId, conn: ConnId, answers: Option<u64>, frame: &ServerFrame)
    -> bool;

    /// Makes what goes to `node` next wait (`cluster.reply_hold_ms` at most) for the answer to its
    /// forwarded command `token`, so that they travel together. Called before the frames the
    /// answer should travel with are queued.
    fn hold_for_reply(&self, node: &NodeId, token: u64);

    /// Tells `conns` on `node` that they no longer receive `room`.
    fn reset(&self, node: &NodeId, conns: Arc<[ConnId]>, room: RoomId);

    /// Asks `node`, a room's previous owner, to stop serving `room` and make what it accepted
    /// durable; gives up after a second.
    fn release<'a>(&'a self, node: &'a NodeId, room: RoomId) -> BoxFuture<'a, ()>;

    /// A presence operation for `user`, whose home is `node`, from connection `conn` here.
    fn user_op(&self, node: &NodeId, conn: ConnId, user: UserId, op: UserOp) -> bool;

    /// A presence operation answered with the user's status; `None` when the home node did
    /// not answer within a second.
    fn user_ask<'a>(
        &'a self,
        node: &'a NodeId,
        conn: ConnId,
        user: UserId,
        op: UserOp,
    ) -> BoxFuture<'a, Option<PresenceStatus>>;

    /// Makes a connection of this node known, so frames from other nodes reach it.
    fn register(&self, out: &Outbound);
}

/// What a node asks of a user's home node.
#[derive(Debug, Serialize, Deserialize)]
pub enum UserOp {
    /// The connection is a device of the user.
    Attach,
    /// The connection closed: no longer a device nor a watcher.
    Detach,
    /// The connection, of user `by`, wants the user's presence changes.
    Watch {
        by: UserId,
    },
    SetAway {
        away: bool,
    },
    Query,
    /// A frame for every device of the user (MessagePack).
    Notify {
        frame: Bytes,
    },
    /// News about the user (MessagePack): for every device but the sending connection, and
    /// every watcher.
    Announce {
        frame: Bytes,
    },
}
