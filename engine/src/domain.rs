//! Domain types shared by the store, the actors and the protocol.

use serde::{Deserialize, Serialize};

use crate::{AttachmentId, Position, RoomId, UserId};

/// What kind of conversation a room is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomKind {
    /// Anyone signed in may join.
    Public,
    /// Only members added by an owner or admin may join.
    Private,
    /// Exactly two users; nobody else can ever join.
    Direct,
}

impl RoomKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RoomKind::Public => "public",
            RoomKind::Private => "private",
            RoomKind::Direct => "direct",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "public" => Some(RoomKind::Public),
            "private" => Some(RoomKind::Private),
            "direct" => Some(RoomKind::Direct),
            _ => None,
        }
    }
}

/// A member's role in a room, from most to least powerful.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }

    /// Owners and admins may add members to private rooms.
    pub fn can_invite(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

/// A user's presence, merged over all of that user's devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceStatus {
    Online,
    Away,
    Offline,
}

/// A user as other users see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub id: UserId,
    pub name: String,
}

/// A room as its members see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    pub id: RoomId,
    pub name: String,
    pub kind: RoomKind,
}

/// A message ready to be stored: its position was assigned by the room's owner.
///
/// An edit, a delete or a reaction is an entry of the room's sequence too (a position of its
/// own, so a resume replays it), stored and carried as a `ChatMessage` whose `change` says
/// what it does to an earlier message; it goes to clients as its own frame (`edited`,
/// `deleted`, `reaction`: [`crate::protocol::event_frame`]), never as a `message`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub room: RoomId,
    pub pos: Position,
    pub sender: UserId,
    /// The client message id: resending it never creates a second message.
    pub cmid: String,
    pub text: String,
    /// Milliseconds since the Unix epoch, from the owner's clock.
    pub ts: u64,
    /// The files the message references, in the order the sender listed them. Omitted on
    /// the wire when empty, so frames without attachments are as before (older clients and
    /// cluster peers read them unchanged).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// The members the text mentions (`@name`, resolved when it was sent; PROTOCOL §6.8).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<UserId>,
    /// The message of the same room this one answers, as much of it as a client needs to
    /// show the quote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Box<Quote>>,
    /// When the text was last edited (ms since the Unix epoch): in history, never live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited: Option<u64>,
    /// Deleted: a tombstone, its text and attachments gone (history only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// Pinned to the room by an owner or an admin (history only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pinned: bool,
    /// Reactions on the message, by emoji in order of first use (history only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<ReactionCount>,
    /// Set on an edit, delete or reaction: what it does to its target. Never on a `message`
    /// frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<Box<Change>>,
}

/// What an entry of a room's sequence does to an earlier message (its `target`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// The target's text becomes this entry's `text` (its sender, within the edit window).
    Edit { target: Position },
    /// The target is deleted (its sender, or an owner or admin of the room).
    Delete { target: Position },
    /// The sender adds `emoji` to the target, or removes it (`removed`).
    React {
        target: Position,
        emoji: String,
        removed: bool,
    },
    /// The target is pinned to the room, or unpinned (`removed`), by an owner or an admin.
    Pin { target: Position, removed: bool },
}

impl Change {
    pub fn target(&self) -> Position {
        match self {
            Change::Edit { target }
            | Change::Delete { target }
            | Change::React { target, .. }
            | Change::Pin { target, .. } => *target,
        }
    }
}

/// The message a reply answers: its position, sender, and the start of its text (at most
/// [`QUOTE_BYTES`]); empty text and `deleted` once it was deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub pos: Position,
    pub sender: UserId,
    pub text: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

/// How much of a quoted message's text a reply carries, in bytes.
pub const QUOTE_BYTES: usize = 200;

impl Quote {
    /// The quote of a message at `pos` by `sender` with `text`, cut at a character boundary.
    pub fn of(pos: Position, sender: UserId, text: &str, deleted: bool) -> Quote {
        let mut end = text.len().min(QUOTE_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        Quote {
            pos,
            sender,
            text: if deleted {
                String::new()
            } else {
                text[..end].to_owned()
            },
            deleted,
        }
    }
}

/// One emoji on a message: how many users put it there, and whether the reader is one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactionCount {
    pub emoji: String,
    pub count: u32,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mine: bool,
}

/// Longest reaction, in bytes: an emoji (with its modifiers and joiners) or a short name.
pub const MAX_EMOJI_BYTES: usize = 32;
/// At most this many different emoji on one message.
pub const MAX_REACTION_KINDS: usize = 20;
/// At most this many of one user's emoji on one message.
pub const MAX_REACTIONS_PER_USER: usize = 10;

/// A reaction as stored: 1 to [`MAX_EMOJI_BYTES`] bytes, no white space or control
/// characters.
pub fn emoji(text: &str) -> Result<&str, &'static str> {
    match !text.is_empty()
        && text.len() <= MAX_EMOJI_BYTES
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        true => Ok(text),
        false => Err("emoji must be 1 to 32 bytes, without spaces or control characters"),
    }
}

/// A file a message references: an upload of the message's room by its sender, checked to be
/// in the media store with this size and type before the message was accepted. Members of the
/// room fetch it through `GET /api/rooms/{room}/attachments/{id}` (`?thumbnail=true` for the
/// preview when `thumbnail` is true).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub id: AttachmentId,
    /// The file name the uploader gave, for display only.
    pub name: String,
    pub content_type: String,
    /// In bytes.
    pub size: u64,
    /// Whether a thumbnail (a PNG preview) was stored beside the file: images only.
    #[serde(default)]
    pub thumbnail: bool,
}

/// A user's plan: what they may do beyond the free limits (today: how large a file they may
/// upload, `media.limits`). Stored with the user, free unless an administrator set it
/// (`switchboard set-plan`); a Cognito token naming the pool's premium group vouches for
/// premium on its own (`cognito.premium_group`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    #[default]
    Free,
    Premium,
}

impl Plan {
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Premium => "premium",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "free" => Some(Plan::Free),
            "premium" => Some(Plan::Premium),
            _ => None,
        }
    }
}

/// A user as people see them: the account `name` (unique, fixed), and what the user chose to
/// show. `display_name` and `status` are always present on the wire, empty when unset (an
/// empty `display_name` means "show `name`").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub id: UserId,
    pub name: String,
    pub display_name: String,
    pub status: String,
}

/// A member's watermarks in a room (`receipts`): everything up to `read` was read, everything
/// up to `delivered` reached one of their devices (never below `read`). Absent: nothing yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberReceipt {
    pub user: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<Position>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered: Option<Position>,
}

impl MemberReceipt {
    /// From stored watermarks, where zero means none yet.
    pub fn from_stored(user: UserId, read: Position, delivered: Position) -> MemberReceipt {
        let some = |p: Position| (p != Position::ZERO).then_some(p);
        MemberReceipt {
            user,
            read: some(read),
            delivered: some(delivered.max(read)),
        }
    }
}

/// One room of a user's room list (`rooms`): what a client shows for it before opening it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSummary {
    pub id: RoomId,
    /// The room's name; for a direct conversation, the other person's display name (or
    /// account name when they set none), never the stored `"lo:hi"`.
    pub name: String,
    pub kind: RoomKind,
    /// A direct conversation's other person, so the client can show and cache their profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<Profile>,
    /// What the list is ordered by (ms since the Unix epoch): the last message's `ts`, else
    /// when the user joined, else when the room was created.
    pub activity: u64,
    /// The room's last message as history shows it now (a tombstone when deleted); absent
    /// when the room has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<ChatMessage>,
    /// Messages of others after the user's read watermark, at most [`MAX_UNREAD`].
    pub unread: u32,
    /// True when more than [`MAX_UNREAD`] are unread (shown as "99+" or the like).
    pub unread_more: bool,
    /// Of the unread messages counted, those that mention the user (absent: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub mentions: u32,
    /// The user muted the room (`mute`): it still counts unread, clients do not notify.
    pub muted: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl RoomSummary {
    /// Where a page that ends with this room continues (`rooms {before}`).
    pub fn cursor(&self) -> RoomCursor {
        RoomCursor {
            activity: self.activity,
            room: self.id,
        }
    }
}

/// The most unread messages a room list counts per room: counting stops there, so a room
/// with a million unread costs what one with a hundred does.
pub const MAX_UNREAD: u32 = 100;

/// A place in a room list, ordered by `activity` then `room`, both descending: a page
/// `before` it holds the rooms after it in the list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomCursor {
    pub activity: u64,
    pub room: RoomId,
}

/// Longest `display_name` in bytes, after trimming.
pub const MAX_DISPLAY_NAME_BYTES: usize = 64;
/// Longest profile `status` in bytes, after trimming.
pub const MAX_STATUS_BYTES: usize = 140;

/// A display name as stored: trimmed, at most [`MAX_DISPLAY_NAME_BYTES`], no control
/// characters (a name is shown on one line, beside other people's text). Empty clears it.
/// The error says which rule failed.
pub fn display_name(text: &str) -> Result<&str, &'static str> {
    profile_text(text, MAX_DISPLAY_NAME_BYTES)
        .ok_or("display_name must be at most 64 bytes, without control characters")
}

/// A profile status as stored: trimmed, at most [`MAX_STATUS_BYTES`], no control characters.
/// Empty clears it.
pub fn profile_status(text: &str) -> Result<&str, &'static str> {
    profile_text(text, MAX_STATUS_BYTES)
        .ok_or("status must be at most 140 bytes, without control characters")
}

fn profile_text(text: &str, max: usize) -> Option<&str> {
    let text = text.trim();
    (text.len() <= max && !text.chars().any(char::is_control)).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_text_is_trimmed_bounded_and_one_line() {
        assert_eq!(display_name("  Ann Lee \t"), Ok("Ann Lee"));
        assert_eq!(display_name(""), Ok(""), "empty clears it");
        assert_eq!(display_name(&"é".repeat(32)).map(str::len), Ok(64));
        assert!(display_name(&"é".repeat(33)).is_err(), "65 bytes");
        assert!(display_name("Ann\nLee").is_err());
        assert!(display_name("Ann\u{7}").is_err());
        assert_eq!(profile_status(&"x".repeat(140)).map(str::len), Ok(140));
        assert!(profile_status(&"x".repeat(141)).is_err());
    }
}
