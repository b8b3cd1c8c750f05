//! What nodes say to each other over the bus. One bus message is a [`Batch`]: the sender,
//! its sequence number on the way to this receiver, and some [`Envelope`]s, in MessagePack
//! with named fields like the client protocol. A receiver that sees a sequence number skip
//! knows it lost a batch (Redis pub/sub drops rather than waits) and makes its connections
//! resume their rooms from that sender by position.

use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use switchboard_engine::domain::PresenceStatus;
use switchboard_engine::ring::NodeId;
use switchboard_engine::{ConnId, Position, RoomId, UserId};

use crate::peers::UserOp;
use crate::room::RoomCommand;

#[derive(Debug, Serialize, Deserialize)]
pub enum Envelope {
    /// A client command from a connection on `from`, for a room the receiver owns.
    Command(Forwarded),
    /// One frame for some connections of the receiving node: the owner's fan-out (one copy
    /// per node, whatever the number of its members there) or a reply to one connection.
    Deliver {
        conns: Arc<[ConnId]>,
        /// Set on room messages, for the connections' resume bookkeeping.
        room_pos: Option<(RoomId, Position)>,
        /// The frame, MessagePack-encoded once by the owner.
        frame: Bytes,
        /// Set on a `joined` reply: from here on the connection receives this room's
        /// messages from the sender (until then, after a reset, they are dropped).
        #[serde(default)]
        joined: Option<RoomId>,
        /// Set on the reply to a forwarded command: the token the command carried. The
        /// receiver hands it over only while it still awaits that reply (`Awaited`).
        #[serde(default)]
        answers: Option<u64>,
        /// Set on a `resume`: it reaches the connection only while the connection is
        /// subscribed to this room at the sender (not after a late `joined` was dropped).
        #[serde(default)]
        if_subscribed: Option<RoomId>,
    },
    /// `from` is taking `room`: stop serving it, make what it accepted durable, then answer
    /// `Released` with the same token.
    Release {
        from: NodeId,
        room: RoomId,
        token: u64,
    },
    Released {
        token: u64,
    },
    /// A presence operation for a user whose home is the receiver, from a connection on
    /// `from`. With a non-zero `token` the home answers `Status`.
    User {
        from: NodeId,
        conn: ConnId,
        user: UserId,
        token: u64,
        op: UserOp,
    },
    Status {
        token: u64,
        status: PresenceStatus,
    },
}

/// A room command from a connection on `from`, for a room the receiver owns.
#[derive(Debug, Serialize, Deserialize)]
pub struct Forwarded {
    /// The node of the connection, where replies and events go.
    pub from: NodeId,
    pub conn: ConnId,
    pub user: UserId,
    pub rid: u64,
    /// Names the command in the sending node's table of awaited replies; its reply carries it
    /// back (`Deliver::answers`). 0 for commands that get no reply.
    #[serde(default)]
    pub token: u64,
    /// How often it was passed on already: a node that does not own the room passes a
    /// command on to the owner it knows once, then answers `busy`.
    pub hops: u8,
    pub room: RoomId,
    pub cmd: RoomCommand,
}

#[derive(Debug, Deserialize)]
pub struct Batch {
    pub from: NodeId,
    /// 1, 2, 3… per (sender, receiver) for the sender's lifetime.
    pub seq: u64,
    pub envelopes: Vec<Envelope>,
}

#[derive(Serialize)]
struct BatchRef<'a> {
    from: &'a NodeId,
    seq: u64,
    envelopes: &'a [Envelope],
}

pub fn encode(from: &NodeId, seq: u64, envelopes: &[Envelope]) -> Bytes {
    rmp_serde::to_vec_named(&BatchRef {
        from,
        seq,
        envelopes,
    })
    .map(Bytes::from)
    .unwrap_or_else(|e| {
        tracing::error!(error = %e, "bus batch failed to encode");
        Bytes::new()
    })
}

pub fn decode(bytes: &[u8]) -> Result<Batch, rmp_serde::decode::Error> {
    rmp_serde::from_slice(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_round_trips() {
        let batch = vec![
            Envelope::Deliver {
                conns: Arc::from(vec![ConnId(1), ConnId(2)]),
                room_pos: Some((RoomId(7), Position::new(3, 4))),
                frame: Bytes::from_static(b"\x81\xa1t\xa1m"),
                joined: None,
                answers: Some(3),
                if_subscribed: None,
            },
            Envelope::Command(Forwarded {
                from: NodeId("a".into()),
                conn: ConnId(9),
                user: UserId(5),
                rid: 11,
                token: 3,
                hops: 0,
                room: RoomId(7),
                cmd: RoomCommand::Post {
                    cmid: "c".into(),
                    text: "hi".into(),
                    attachments: vec![switchboard_engine::AttachmentId(12)],
                    reply_to: Some(switchboard_engine::Position::new(1, 2)),
                    mentions: vec![UserId(6)],
                },
            }),
        ];
        let back = decode(&encode(&NodeId("b".into()), 42, &batch)).unwrap();
        assert_eq!((back.from.0.as_str(), back.seq), ("b", 42));
        assert_eq!(format!("{batch:?}"), format!("{:?}", back.envelopes));
    }
}
