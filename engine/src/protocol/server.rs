//! Frames the server sends: replies (with the command's `rid`) and events (without).

use serde::{Deserialize, Serialize};

use crate::domain::{
    Change, ChatMessage, MemberReceipt, PresenceStatus, Profile, Role, RoomInfo, RoomSummary,
    UserInfo,
};
use crate::{AttachmentId, ErrorCode, Position, RoomId, UserId};

/// A frame from the server. `type` names the variant in snake_case.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    // Sent once, first, on every connection.
    Hello(Hello),
    // Replies.
    Authed(Authed),
    RoomCreated(RoomReply),
    Joined(Joined),
    Left(RoomAck),
    Invited(RoomAck),
    DirectOpened(RoomReply),
    Sent(Sent),
    History(HistoryPage),
    SearchResults(SearchResults),
    Presence(PresenceReply),
    Done(Done),
    Pong(Done),
    AttachmentSlot(UploadSlot),
    Profiles(ProfilesReply),
    Rooms(RoomList),
    Receipts(ReceiptList),
    Pins(PinList),
    Error(Error),
    // Events.
    Message(ChatMessage),
    Edited(Edited),
    Deleted(Deleted),
    Reaction(Reaction),
    Pinned(Pinned),
    MemberJoined(MemberEvent),
    MemberLeft(MemberEvent),
    Typing(TypingEvent),
    PresenceChanged(PresenceInfo),
    ReadReceipt(ReadReceipt),
    DeliveryReceipt(ReadReceipt),
    Resume(Resume),
    RoomReset(RoomReset),
    RoomAdded(RoomAdded),
    ProfileChanged(ProfileChanged),
    Disconnect(Disconnect),
}

impl ServerFrame {
    /// The `rid` of the command a reply answers (an error's, when it has one); `None` for an
    /// event. Every variant is listed, so a new frame does not compile until it says.
    pub fn rid(&self) -> Option<u64> {
        match self {
            ServerFrame::Authed(f) => Some(f.rid),
            ServerFrame::RoomCreated(f) | ServerFrame::DirectOpened(f) => Some(f.rid),
            ServerFrame::Joined(f) => Some(f.rid),
            ServerFrame::Left(f) | ServerFrame::Invited(f) => Some(f.rid),
            ServerFrame::Sent(f) => Some(f.rid),
            ServerFrame::History(f) => Some(f.rid),
            ServerFrame::SearchResults(f) => Some(f.rid),
            ServerFrame::Presence(f) => Some(f.rid),
            ServerFrame::Done(f) | ServerFrame::Pong(f) => Some(f.rid),
            ServerFrame::AttachmentSlot(f) => Some(f.rid),
            ServerFrame::Profiles(f) => Some(f.rid),
            ServerFrame::Rooms(f) => Some(f.rid),
            ServerFrame::Receipts(f) => Some(f.rid),
            ServerFrame::Pins(f) => Some(f.rid),
            ServerFrame::Error(f) => f.rid,
            ServerFrame::Hello(_)
            | ServerFrame::Message(_)
            | ServerFrame::Edited(_)
            | ServerFrame::Deleted(_)
            | ServerFrame::Reaction(_)
            | ServerFrame::Pinned(_)
            | ServerFrame::MemberJoined(_)
            | ServerFrame::MemberLeft(_)
            | ServerFrame::Typing(_)
            | ServerFrame::PresenceChanged(_)
            | ServerFrame::ReadReceipt(_)
            | ServerFrame::DeliveryReceipt(_)
            | ServerFrame::Resume(_)
            | ServerFrame::RoomReset(_)
            | ServerFrame::RoomAdded(_)
            | ServerFrame::ProfileChanged(_)
            | ServerFrame::Disconnect(_) => None,
        }
    }

    /// The room and position of an entry of a room's sequence (`message`, `edited`,
    /// `deleted`, `reaction`): what a client resumes after.
    pub fn room_position(&self) -> Option<(RoomId, Position)> {
        match self {
            ServerFrame::Message(m) => Some((m.room, m.pos)),
            ServerFrame::Edited(e) => Some((e.room, e.pos)),
            ServerFrame::Deleted(d) => Some((d.room, d.pos)),
            ServerFrame::Reaction(r) => Some((r.room, r.pos)),
            ServerFrame::Pinned(p) => Some((p.room, p.pos)),
            _ => None,
        }
    }
}

/// Protocol version and the limits this server enforces.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol: u32,
    pub conn: u64,
    /// Present when the connection was authenticated at upgrade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserInfo>,
    pub max_frame_bytes: u32,
    pub max_text_bytes: u32,
    pub commands_per_sec: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Authed {
    pub rid: u64,
    pub user: UserInfo,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoomReply {
    pub rid: u64,
    pub room: RoomInfo,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Joined {
    pub rid: u64,
    pub room: RoomInfo,
    /// The newest position in the room, if it has any message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<Position>,
    /// The caller's role in the room (what it may do: pin, delete others' messages, kick).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoomAck {
    pub rid: u64,
    pub room: RoomId,
}

/// The message is durable at `pos`. `duplicate` is true when `cmid` had been sent before; `pos`
/// is then the original message's position.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sent {
    pub rid: u64,
    pub room: RoomId,
    pub cmid: String,
    pub pos: Position,
    pub duplicate: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryPage {
    pub rid: u64,
    pub room: RoomId,
    /// Oldest first, whatever the direction of the query.
    pub messages: Vec<ChatMessage>,
    /// True when more messages lie beyond this page in the queried direction.
    pub more: bool,
}

/// Matches of a `search`, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchResults {
    pub rid: u64,
    pub messages: Vec<ChatMessage>,
}

/// An upload slot: the attachment-to-be and the request that uploads its file. The same
/// fields as the JSON of `POST /api/rooms/{room}/attachments`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UploadSlot {
    pub rid: u64,
    pub attachment: SlotAttachment,
    pub upload: SignedUpload,
}

/// The attachment an upload slot was made for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotAttachment {
    pub id: AttachmentId,
    pub room: RoomId,
    pub name: String,
    pub content_type: String,
    pub size: u64,
}

/// A request the client makes itself, without a token: `method` to `url` with exactly these
/// `headers` (name, value), until `expires` (seconds since the Unix epoch).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedUpload {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub expires: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PresenceReply {
    pub rid: u64,
    pub users: Vec<PresenceInfo>,
}

/// Profiles answering `profiles` (those of the ids that name a user) or `find_users`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProfilesReply {
    pub rid: u64,
    pub users: Vec<Profile>,
}

/// A page of the caller's room list (`rooms`), most recently active first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoomList {
    pub rid: u64,
    pub rooms: Vec<RoomSummary>,
    /// True when more rooms follow: ask again with `before` = the last room's cursor.
    pub more: bool,
}

/// A page of a room's members with their read and delivered watermarks (`receipts`), by user
/// id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReceiptList {
    pub rid: u64,
    pub room: RoomId,
    pub members: Vec<MemberReceipt>,
    /// True when more members follow: ask again with `after` = the last member's id.
    pub more: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Done {
    pub rid: u64,
}

/// A coded error. `rid` is the failed command's, or absent when the frame could not be read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Error {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rid: Option<u64>,
    pub code: ErrorCode,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemberEvent {
    pub room: RoomId,
    pub user: UserId,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TypingEvent {
    pub room: RoomId,
    pub user: UserId,
    pub active: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PresenceInfo {
    pub user: UserId,
    pub status: PresenceStatus,
}

/// A member's watermark rose to `pos`: read (`read_receipt`) or delivered to one of their
/// devices (`delivery_receipt`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReadReceipt {
    pub room: RoomId,
    pub user: UserId,
    pub pos: Position,
}

/// How a join with `resume` went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResumeOutcome {
    /// Exactly the `missed` messages after the given position follow, oldest first.
    Recovered,
    /// Too much was missed to replay: reload history by position instead.
    Reload,
}

/// Sent before the replayed messages of a join with `resume`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resume {
    pub room: RoomId,
    pub outcome: ResumeOutcome,
    /// Number of replayed entries that follow (`message`, `edited`, `deleted`, `reaction`; 0
    /// with `reload`).
    pub missed: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<Position>,
}

/// The room's owner restarted: this connection is no longer subscribed. Join again with the last
/// position seen to continue without gap.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoomReset {
    pub room: RoomId,
}

/// The user became a member of a room by someone else's action (an invite, a new direct
/// conversation). Sent to each of the user's connections; join it to receive its events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoomAdded {
    pub room: RoomInfo,
    /// Who added the user.
    pub by: UserId,
}

/// A user changed their profile: sent to their other connections and to the connections
/// watching their presence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProfileChanged {
    pub user: Profile,
}

/// The last frame before the server closes the connection with `code`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Disconnect {
    pub code: u16,
    pub reason: String,
    /// Whether the client should reconnect (and resume).
    pub reconnect: bool,
    /// The last position written to this connection in each subscribed room.
    pub resume: Vec<RoomPosition>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoomPosition {
    pub room: RoomId,
    pub pos: Position,
}

/// A message's text was replaced: `target`'s text is now `text`. Has its own position (`pos`)
/// in the room's sequence, like every entry a resume replays.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Edited {
    pub room: RoomId,
    pub pos: Position,
    pub sender: UserId,
    pub cmid: String,
    pub ts: u64,
    pub target: Position,
    pub text: String,
}

/// A message was deleted (by its sender, or by an owner or admin: `sender` says who).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Deleted {
    pub room: RoomId,
    pub pos: Position,
    pub sender: UserId,
    pub cmid: String,
    pub ts: u64,
    pub target: Position,
}

/// `sender` added `emoji` to `target`, or took it away (`removed`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reaction {
    pub room: RoomId,
    pub pos: Position,
    pub sender: UserId,
    pub cmid: String,
    pub ts: u64,
    pub target: Position,
    pub emoji: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
}

/// A message was pinned to the room (or unpinned: `removed`) by `sender`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pinned {
    pub room: RoomId,
    pub pos: Position,
    pub sender: UserId,
    pub cmid: String,
    pub ts: u64,
    pub target: Position,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
}

/// A room's pinned messages (`pins`), the most recently pinned first, as history shows them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PinList {
    pub rid: u64,
    pub room: RoomId,
    pub messages: Vec<ChatMessage>,
    /// True when more messages are pinned than this reply lists.
    pub more: bool,
}

/// The frame an entry of a room's sequence goes to clients as: a `message`, or the change it
/// makes to an earlier one.
pub fn event_frame(mut msg: ChatMessage) -> ServerFrame {
    let Some(change) = msg.change.take() else {
        return ServerFrame::Message(msg);
    };
    let ChatMessage {
        room,
        pos,
        sender,
        cmid,
        text,
        ts,
        ..
    } = msg;
    match *change {
        Change::Edit { target } => ServerFrame::Edited(Edited {
            room,
            pos,
            sender,
            cmid,
            ts,
            target,
            text,
        }),
        Change::Delete { target } => ServerFrame::Deleted(Deleted {
            room,
            pos,
            sender,
            cmid,
            ts,
            target,
        }),
        Change::React {
            target,
            emoji,
            removed,
        } => ServerFrame::Reaction(Reaction {
            room,
            pos,
            sender,
            cmid,
            ts,
            target,
            emoji,
            removed,
        }),
        Change::Pin { target, removed } => ServerFrame::Pinned(Pinned {
            room,
            pos,
            sender,
            cmid,
            ts,
            target,
            removed,
        }),
    }
}
