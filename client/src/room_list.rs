//! The room list a client opens with, and muting a room (PROTOCOL §6.17).

use switchboard_engine::RoomId;
use switchboard_engine::domain::{RoomCursor, RoomSummary};
use switchboard_engine::protocol::{self as p, ClientFrame, ServerFrame};

use crate::{Client, ClientError};

impl Client {
    /// A page of this user's rooms, most recently active first: at most `limit` (1 to 100)
    /// after `before` (the [`RoomSummary::cursor`] of the previous page's last room), and
    /// whether more follow.
    pub async fn rooms(
        &self,
        before: Option<RoomCursor>,
        limit: u32,
    ) -> Result<(Vec<RoomSummary>, bool), ClientError> {
        match self
            .request(|rid| ClientFrame::Rooms(p::Rooms { rid, before, limit }))
            .await?
        {
            ServerFrame::Rooms(page) => Ok((page.rooms, page.more)),
            other => Err(ClientError::Unexpected(Box::new(other))),
        }
    }

    /// Mutes (`true`) or unmutes a room for this user: it still counts unread, but a client
    /// does not notify for it.
    pub async fn mute(&self, room: RoomId, muted: bool) -> Result<(), ClientError> {
        self.request(|rid| ClientFrame::Mute(p::Mute { rid, room, muted }))
            .await
            .map(drop)
    }
}
