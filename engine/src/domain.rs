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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
