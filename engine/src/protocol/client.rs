//! Frames a client sends, each declared once (see [`super::declare`]).

use serde::{Deserialize, Serialize};

use super::declare::{Addresses, InRange};
use crate::domain::{PresenceStatus, RoomCursor};
use crate::{AttachmentId, ErrorCode, Position, RoomId, UserId};

client_frames! {
    /// Authenticate this connection with a token (unless one was given at upgrade).
    "auth" => Auth { token: String },

    /// Create a group room; the creator becomes its owner and a member.
    "create_room" => CreateRoom { name: String, visibility: Visibility },

    /// Subscribe this connection to a room's events. Joining a public room also makes the user
    /// a member. With `resume`, the server first replays every message after that position.
    "join" => Join {
        room: RoomId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<Position>,
    },

    /// Unsubscribe this connection and give up membership of the room.
    "leave" => Leave { room: RoomId },

    /// Add a user to a room (owners and admins of private rooms; any member of a public room).
    "invite" => Invite { room: RoomId, user: UserId },

    /// Find or create the direct conversation between the caller and `user`.
    "open_direct" => OpenDirect { user: UserId },

    /// Post a message. `cmid` (client message id, 1..=64 bytes) makes the send idempotent.
    "send" => Send {
        room: RoomId,
        cmid: String,
        text: String,
        /// Uploads of this room by the sender that the message references (at most
        /// [`MAX_ATTACHMENTS`], each once), each uploaded before the send. Absent: none.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<AttachmentId>,
        /// True on the first attempt of this `cmid`, never on a resend: the server then does
        /// not look for an earlier copy in the store before the room (whose buffer of recent
        /// messages still recognises a repeat). Absent: false, and the store is asked.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        first: bool,
        /// The message of this room it answers: a position the room assigned to a message
        /// (not an edit, delete or reaction) that is not deleted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<Position>,
    },

    /// Replace the text of one's own message (within the room's edit window). Sequenced like
    /// a send: answered `sent` with the edit's own position, `cmid` making it idempotent.
    "edit" => Edit { room: RoomId, cmid: String, target: Position, text: String },

    /// Delete a message: one's own, or any as an owner or admin of the room. Answered `sent`.
    "delete" => Delete { room: RoomId, cmid: String, target: Position },

    /// Add an emoji to a message, or take one's own away (`remove`). Answered `sent`.
    "react" => React {
        room: RoomId,
        cmid: String,
        target: Position,
        emoji: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        remove: bool,
    },

    /// Pin a message to the room, or unpin it (`unpin`): owners and admins. Answered `sent`.
    "pin" => Pin {
        room: RoomId,
        cmid: String,
        target: Position,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        unpin: bool,
    },

    /// The room's pinned messages, the most recently pinned first: at most `limit` (1 to
    /// 100). Answered `pins`.
    "pins" => Pins { room: RoomId, limit: u32 },

    /// Fetch a page of history: messages strictly before `before` (newest first) or strictly
    /// after `after` (oldest first); with neither, the newest page.
    "history" => History {
        room: RoomId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<Position>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<Position>,
        limit: u32,
    },

    /// Full-text search over the messages of the caller's rooms (only `room` when given),
    /// newest first. Words are letters and digits; every word must match.
    "search" => Search {
        query: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<RoomId>,
        limit: u32,
    },

    /// Start (`active: true`) or stop typing in a room.
    "typing" => Typing { room: RoomId, active: bool },

    /// Mark everything up to and including `pos` as read (and so delivered).
    "mark_read" => MarkRead { room: RoomId, pos: Position },

    /// Everything up to and including `pos` reached a device of the caller. Clients send it
    /// as messages arrive (at most a few times a second per room). Answered `done`.
    "mark_delivered" => MarkDelivered { room: RoomId, pos: Position },

    /// The read and delivered watermarks of the room's members, by user id after `after`: at
    /// most `limit` (1 to 500). Answered `receipts`.
    "receipts" => Receipts {
        room: RoomId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<UserId>,
        limit: u32,
    },

    /// Ask for the presence of users who share a room with the caller.
    "presence_query" => PresenceQuery { users: Vec<UserId> },

    /// Receive `presence` events for users who share a room with the caller.
    "presence_subscribe" => PresenceSubscribe { users: Vec<UserId> },

    /// Set this user's presence to `online` or `away` (`offline` is implied by having no
    /// connection).
    "set_presence" => SetPresence { status: PresenceStatus },

    /// Liveness check; answered with `pong`.
    "ping" => Ping {},

    /// Remove a member from a room (owners and admins; an admin only by the owner).
    "kick" => Kick { room: RoomId, user: UserId },

    /// Ask for an upload slot in a room, as `POST /api/rooms/{room}/attachments` does:
    /// answered `attachment_slot` with the attachment-to-be and the signed request that
    /// uploads its file.
    "attachment_slot" => AttachmentSlot {
        room: RoomId,
        /// The file name, for display (1 to 255 bytes, no `/`, `\` or control characters).
        name: String,
        content_type: String,
        /// The file's exact size in bytes.
        size: u64,
    },

    /// The profiles of up to 100 users, by id; unknown users are left out of the reply.
    "profiles" => Profiles { users: Vec<UserId> },

    /// Change the caller's profile: each field given replaces the stored one (empty clears
    /// it), an absent one stays as it is.
    "set_profile" => SetProfile {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        display_name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<String>,
    },

    /// Users whose account name or display name starts with `prefix` (ignoring case), by
    /// account name; at most `limit` (above 20, 20). Rate limited per user.
    "find_users" => FindUsers { prefix: String, limit: u32 },

    /// A page of the caller's rooms, most recently active first: at most `limit` (1 to 100)
    /// after `before` (a cursor taken from the last room of the previous page), each with
    /// its last message, unread count and muted flag. Answered `rooms`.
    "rooms" => Rooms {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<RoomCursor>,
        limit: u32,
    },

    /// Mute (`muted: true`) or unmute a room for the caller: a muted room still counts
    /// unread, but clients do not notify for it. Answered `done`.
    "mute" => Mute { room: RoomId, muted: bool },
}

/// Visibility of a new group room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Public,
    Private,
}

/// The most attachments one message may reference.
pub const MAX_ATTACHMENTS: usize = 10;

/// The most pinned messages one `pins` reply lists.
pub const MAX_PINS_PAGE: u32 = 100;

/// The most members one `receipts` page lists.
pub const MAX_RECEIPTS_PAGE: u32 = 500;
