//! Sent, delivered and read marks (PROTOCOL §6.18): a device says what reached it, and
//! anyone in the room reads every member's watermarks.

use switchboard_engine::domain::MemberReceipt;
use switchboard_engine::protocol::{self as p, ClientFrame, ServerFrame};
use switchboard_engine::{Position, RoomId, UserId};

use crate::{Client, ClientError};

impl Client {
    /// Everything up to `pos` in `room` reached this device (in a direct conversation the
    /// other member sees `delivery_receipt`).
    pub async fn mark_delivered(&self, room: RoomId, pos: Position) -> Result<(), ClientError> {
        self.request(|rid| ClientFrame::MarkDelivered(p::MarkDelivered { rid, room, pos }))
            .await
            .map(drop)
    }

    /// A page of the room's members with their read and delivered watermarks, by user id
    /// after `after` (at most `limit`, 1 to 500), and whether more follow.
    pub async fn receipts(
        &self,
        room: RoomId,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<(Vec<MemberReceipt>, bool), ClientError> {
        let frame = |rid| {
            ClientFrame::Receipts(p::Receipts {
                rid,
                room,
                after,
                limit,
            })
        };
        match self.request(frame).await? {
            ServerFrame::Receipts(page) => Ok((page.members, page.more)),
            other => Err(ClientError::Unexpected(Box::new(other))),
        }
    }
}
