//! Replies, edits, deletes, reactions and pins (PROTOCOL §6.16). Each is an entry of its room's
//! sequence, answered `sent` once stored, and idempotent by `cmid` like a send: resending one
//! with the same `cmid` is safe.

use switchboard_engine::domain::ChatMessage;
use switchboard_engine::protocol::{self as p, ClientFrame, ServerFrame};
use switchboard_engine::{Position, RoomId};

use crate::{Client, ClientError};

impl Client {
    /// Sends `text` answering the message at `to`, and waits until it is stored.
    pub async fn reply(
        &self,
        room: RoomId,
        cmid: &str,
        text: &str,
        to: Position,
    ) -> Result<p::Sent, ClientError> {
        let (cmid, text) = (cmid.to_owned(), text.to_owned());
        self.entry(|rid| {
            ClientFrame::Send(p::Send {
                rid,
                room,
                cmid,
                text,
                attachments: Vec::new(),
                first: false,
                reply_to: Some(to),
            })
        })
        .await
    }

    /// Replaces the text of this user's message at `target` (within the edit window).
    pub async fn edit(
        &self,
        room: RoomId,
        cmid: &str,
        target: Position,
        text: &str,
    ) -> Result<p::Sent, ClientError> {
        let (cmid, text) = (cmid.to_owned(), text.to_owned());
        self.entry(|rid| {
            ClientFrame::Edit(p::Edit {
                rid,
                room,
                cmid,
                target,
                text,
            })
        })
        .await
    }

    /// Deletes the message at `target` (this user's, or any as an owner or admin).
    pub async fn delete(
        &self,
        room: RoomId,
        cmid: &str,
        target: Position,
    ) -> Result<p::Sent, ClientError> {
        let cmid = cmid.to_owned();
        self.entry(|rid| {
            ClientFrame::Delete(p::Delete {
                rid,
                room,
                cmid,
                target,
            })
        })
        .await
    }

    /// Adds `emoji` to the message at `target`, or takes this user's away (`remove`).
    pub async fn react(
        &self,
        room: RoomId,
        cmid: &str,
        target: Position,
        emoji: &str,
        remove: bool,
    ) -> Result<p::Sent, ClientError> {
        let (cmid, emoji) = (cmid.to_owned(), emoji.to_owned());
        self.entry(|rid| {
            ClientFrame::React(p::React {
                rid,
                room,
                cmid,
                target,
                emoji,
                remove,
            })
        })
        .await
    }

    /// Pins the message at `target` to the room, or unpins it (`unpin`): owners and admins.
    pub async fn pin(
        &self,
        room: RoomId,
        cmid: &str,
        target: Position,
        unpin: bool,
    ) -> Result<p::Sent, ClientError> {
        let cmid = cmid.to_owned();
        self.entry(|rid| {
            ClientFrame::Pin(p::Pin {
                rid,
                room,
                cmid,
                target,
                unpin,
            })
        })
        .await
    }

    /// The room's pinned messages, the most recently pinned first (at most `limit`, 1 to
    /// 100), and whether more are pinned.
    pub async fn pins(
        &self,
        room: RoomId,
        limit: u32,
    ) -> Result<(Vec<ChatMessage>, bool), ClientError> {
        match self
            .request(|rid| ClientFrame::Pins(p::Pins { rid, room, limit }))
            .await?
        {
            ServerFrame::Pins(page) => Ok((page.messages, page.more)),
            other => Err(ClientError::Unexpected(Box::new(other))),
        }
    }

    /// Sends an entry of a room (a message or a change to one) and waits for its `sent`.
    pub(crate) async fn entry(
        &self,
        build: impl FnOnce(u64) -> ClientFrame,
    ) -> Result<p::Sent, ClientError> {
        match self.request(build).await? {
            ServerFrame::Sent(s) => Ok(s),
            other => Err(ClientError::Unexpected(Box::new(other))),
        }
    }
}
