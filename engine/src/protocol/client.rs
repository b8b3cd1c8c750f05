//! Frames a client sends.

use serde::{Deserialize, Serialize};

use crate::domain::PresenceStatus;
use crate::{AttachmentId, ErrorCode, Position, RoomId, UserId};

/// A command from a client. `type` names the variant in snake_case.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    Auth(Auth),
    CreateRoom(CreateRoom),
    Join(Join),
    Leave(Leave),
    Invite(Invite),
    Kick(Kick),
    OpenDirect(OpenDirect),
    Send(Send),
    History(History),
    Search(Search),
    Typing(Typing),
    MarkRead(MarkRead),
    PresenceQuery(PresenceQuery),
    PresenceSubscribe(PresenceSubscribe),
    SetPresence(SetPresence),
    Ping(Ping),
    AttachmentSlot(AttachmentSlot),
}

impl ClientFrame {
    /// The request id this command carries.
    pub fn rid(&self) -> u64 {
        match self {
            ClientFrame::Auth(c) => c.rid,
            ClientFrame::CreateRoom(c) => c.rid,
            ClientFrame::Join(c) => c.rid,
            ClientFrame::Leave(c) => c.rid,
            ClientFrame::Invite(c) => c.rid,
            ClientFrame::Kick(c) => c.rid,
            ClientFrame::OpenDirect(c) => c.rid,
            ClientFrame::Send(c) => c.rid,
            ClientFrame::History(c) => c.rid,
            ClientFrame::Search(c) => c.rid,
            ClientFrame::Typing(c) => c.rid,
            ClientFrame::MarkRead(c) => c.rid,
            ClientFrame::PresenceQuery(c) => c.rid,
            ClientFrame::PresenceSubscribe(c) => c.rid,
            ClientFrame::SetPresence(c) => c.rid,
            ClientFrame::Ping(c) => c.rid,
            ClientFrame::AttachmentSlot(c) => c.rid,
        }
    }

    /// The room this command addresses, if any: a connection runs its commands for one room
    /// one at a time, in arrival order. No catch-all arm, so a new command must say.
    pub fn room(&self) -> Option<RoomId> {
        match self {
            ClientFrame::Join(c) => Some(c.room),
            ClientFrame::Leave(c) => Some(c.room),
            ClientFrame::Invite(c) => Some(c.room),
            ClientFrame::Kick(c) => Some(c.room),
            ClientFrame::Send(c) => Some(c.room),
            ClientFrame::History(c) => Some(c.room),
            ClientFrame::Search(c) => c.room,
            ClientFrame::Typing(c) => Some(c.room),
            ClientFrame::MarkRead(c) => Some(c.room),
            ClientFrame::AttachmentSlot(c) => Some(c.room),
            ClientFrame::Auth(_)
            | ClientFrame::CreateRoom(_)
            | ClientFrame::OpenDirect(_)
            | ClientFrame::PresenceQuery(_)
            | ClientFrame::PresenceSubscribe(_)
            | ClientFrame::SetPresence(_)
            | ClientFrame::Ping(_) => None,
        }
    }

    /// Every command's `type`, in [`ClientFrame::ordinal`] order (metric labels).
    pub const NAMES: [&'static str; 17] = [
        "auth",
        "create_room",
        "join",
        "leave",
        "invite",
        "open_direct",
        "send",
        "history",
        "search",
        "typing",
        "mark_read",
        "presence_query",
        "presence_subscribe",
        "set_presence",
        "ping",
        "kick",
        "attachment_slot",
    ];

    /// This command's index in [`ClientFrame::NAMES`].
    pub fn ordinal(&self) -> usize {
        match self {
            ClientFrame::Auth(_) => 0,
            ClientFrame::CreateRoom(_) => 1,
            ClientFrame::Join(_) => 2,
            ClientFrame::Leave(_) => 3,
            ClientFrame::Invite(_) => 4,
            ClientFrame::OpenDirect(_) => 5,
            ClientFrame::Send(_) => 6,
            ClientFrame::History(_) => 7,
            ClientFrame::Search(_) => 8,
            ClientFrame::Typing(_) => 9,
            ClientFrame::MarkRead(_) => 10,
            ClientFrame::PresenceQuery(_) => 11,
            ClientFrame::PresenceSubscribe(_) => 12,
            ClientFrame::SetPresence(_) => 13,
            ClientFrame::Ping(_) => 14,
            ClientFrame::Kick(_) => 15,
            ClientFrame::AttachmentSlot(_) => 16,
        }
    }

    /// Refuses ids and positions no store can hold (above `i64::MAX`), before they reach one:
    /// an id that cannot exist is 3001 `not_found`, such a position 1002 `invalid_argument`.
    pub fn check_range(&self) -> Result<(), ErrorCode> {
        let room = |r: RoomId| r.can_exist().then_some(()).ok_or(ErrorCode::NotFound);
        let user = |u: UserId| u.can_exist().then_some(()).ok_or(ErrorCode::NotFound);
        let users = |us: &[UserId]| us.iter().try_for_each(|&u| user(u));
        let pos = |p: Option<Position>| {
            p.is_none_or(Position::in_range)
                .then_some(())
                .ok_or(ErrorCode::InvalidArgument)
        };
        match self {
            ClientFrame::Auth(_)
            | ClientFrame::CreateRoom(_)
            | ClientFrame::SetPresence(_)
            | ClientFrame::Ping(_) => Ok(()),
            ClientFrame::Join(c) => pos(c.resume).and(room(c.room)),
            ClientFrame::Leave(c) => room(c.room),
            ClientFrame::Invite(c) => room(c.room).and(user(c.user)),
            ClientFrame::Kick(c) => room(c.room).and(user(c.user)),
            ClientFrame::OpenDirect(c) => user(c.user),
            ClientFrame::Send(c) => room(c.room).and(
                c.attachments
                    .iter()
                    .all(|a| a.can_exist())
                    .then_some(())
                    .ok_or(ErrorCode::NotFound),
            ),
            ClientFrame::AttachmentSlot(c) => room(c.room),
            ClientFrame::History(c) => pos(c.before).and(pos(c.after)).and(room(c.room)),
            ClientFrame::Search(c) => c.room.map_or(Ok(()), room),
            ClientFrame::Typing(c) => room(c.room),
            ClientFrame::MarkRead(c) => pos(Some(c.pos)).and(room(c.room)),
            ClientFrame::PresenceQuery(c) => users(&c.users),
            ClientFrame::PresenceSubscribe(c) => users(&c.users),
        }
    }
}

/// Authenticate this connection with a token (unless one was given at upgrade).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Auth {
    pub rid: u64,
    pub token: String,
}

/// Visibility of a new group room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Public,
    Private,
}

/// Create a group room; the creator becomes its owner and a member.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreateRoom {
    pub rid: u64,
    pub name: String,
    pub visibility: Visibility,
}

/// Subscribe this connection to a room's events. Joining a public room also makes the user a
/// member. With `resume`, the server first replays every message after that position.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Join {
    pub rid: u64,
    pub room: RoomId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<Position>,
}

/// Unsubscribe this connection and give up membership of the room.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Leave {
    pub rid: u64,
    pub room: RoomId,
}

/// Add a user to a room (owners and admins of private rooms; any member of a public room).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Invite {
    pub rid: u64,
    pub room: RoomId,
    pub user: UserId,
}

/// Remove a member from a room (owners and admins; an admin only by the owner).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Kick {
    pub rid: u64,
    pub room: RoomId,
    pub user: UserId,
}

/// Find or create the direct conversation between the caller and `user`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpenDirect {
    pub rid: u64,
    pub user: UserId,
}

/// Post a message. `cmid` (client message id, 1..=64 bytes) makes the send idempotent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Send {
    pub rid: u64,
    pub room: RoomId,
    pub cmid: String,
    pub text: String,
    /// Uploads of this room by the sender that the message references (at most
    /// [`MAX_ATTACHMENTS`], each once), each uploaded before the send. Absent: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentId>,
    /// True on the first attempt of this `cmid`, never on a resend: the server then does not
    /// look for an earlier copy in the store before the room (whose buffer of recent messages
    /// still recognises a repeat). Absent: false, and the store is asked.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub first: bool,
}

/// The most attachments one message may reference.
pub const MAX_ATTACHMENTS: usize = 10;

/// Ask for an upload slot in a room, as `POST /api/rooms/{room}/attachments` does: answered
/// `attachment_slot` with the attachment-to-be and the signed request that uploads its file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttachmentSlot {
    pub rid: u64,
    pub room: RoomId,
    /// The file name, for display (1 to 255 bytes, no `/`, `\` or control characters).
    pub name: String,
    pub content_type: String,
    /// The file's exact size in bytes.
    pub size: u64,
}

/// Fetch a page of history: messages strictly before `before` (newest first) or strictly after
/// `after` (oldest first); with neither, the newest page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub rid: u64,
    pub room: RoomId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Position>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Position>,
    pub limit: u32,
}

/// Full-text search over the messages of the caller's rooms (only `room` when given), newest
/// first. Words are letters and digits; every word must match.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Search {
    pub rid: u64,
    pub query: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<RoomId>,
    pub limit: u32,
}

/// Start (`active: true`) or stop typing in a room.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Typing {
    pub rid: u64,
    pub room: RoomId,
    pub active: bool,
}

/// Mark everything up to and including `pos` as read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MarkRead {
    pub rid: u64,
    pub room: RoomId,
    pub pos: Position,
}

/// Ask for the presence of users who share a room with the caller.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PresenceQuery {
    pub rid: u64,
    pub users: Vec<UserId>,
}

/// Receive `presence` events for users who share a room with the caller.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PresenceSubscribe {
    pub rid: u64,
    pub users: Vec<UserId>,
}

/// Set this user's presence to `online` or `away` (`offline` is implied by having no connection).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetPresence {
    pub rid: u64,
    pub status: PresenceStatus,
}

/// Liveness check; answered with `pong`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ping {
    pub rid: u64,
}
