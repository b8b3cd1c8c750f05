//! The `Store` trait: everything Switchboard keeps durably.

mod attachments;
mod changes;
mod mentions;
mod names;
mod pg_pool;
pub mod postgres;
mod room_list;
pub mod scratch;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use switchboard_engine::domain::{
    ChatMessage, MemberReceipt, Plan, Profile, Role, RoomCursor, RoomInfo, RoomKind, RoomSummary,
    UserInfo,
};
use switchboard_engine::{AttachmentId, Position, RoomId, UserId};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint: the user name is taken, and the like.
    #[error("already exists")]
    Conflict,
    #[error("not found")]
    NotFound,
    /// The backend failed; the operation may be retried.
    #[error("store backend: {0}")]
    Backend(String),
    /// Every pooled connection was in use and none came free in time: the backend is up but
    /// saturated. Not a failure of the backend; the operation may be retried later.
    #[error("store busy: every pooled connection in use")]
    Busy,
}

/// The words of a search query: letters and digits, lower-cased, at most 8. Anything else
/// separates words, so no query syntax reaches a backend.
pub fn search_terms(query: &str) -> Vec<String> {
    query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .take(8)
        .map(str::to_lowercase)
        .collect()
}

/// The most profiles one `find_users` returns, whatever its `limit`.
pub const MAX_FOUND_USERS: u32 = 20;

/// The case-folded form of a display name or search prefix, as both stores compare them: the
/// same folding (Rust's, Unicode-aware) whatever the database's locale.
pub fn fold(text: &str) -> String {
    text.to_lowercase()
}

/// A `LIKE` pattern matching every text that starts with `prefix` (folded), with `\` as the
/// escape character: a `%` or `_` a person typed is matched as itself.
pub fn prefix_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 2);
    for c in fold(prefix).chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// A page request over one room's history, by position (keyset, never offset).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HistoryQuery {
    /// Messages strictly before this position (the newest `limit` of them).
    pub before: Option<Position>,
    /// Messages strictly after this position (the oldest `limit` of them).
    pub after: Option<Position>,
    pub limit: u32,
    /// Whose reactions count as `mine`; with none, reactions are left out.
    pub viewer: Option<UserId>,
    /// Every entry of the sequence, edits, deletes and reactions as rows of their own (a
    /// replay for a resume); otherwise messages only, as they are now (a client's history).
    pub changes: bool,
}

/// A message as an edit, delete, reaction or reply needs it: who sent it and when, its text
/// now, whether it is deleted, and its reactions (each emoji with its users, in order of first
/// use).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    pub sender: UserId,
    pub ts: u64,
    pub text: String,
    pub deleted: bool,
    pub pinned: bool,
    pub reactions: Vec<(String, Vec<UserId>)>,
}

impl Target {
    /// Adds `user`'s `emoji`; false if it was there already.
    pub fn add(&mut self, emoji: String, user: UserId) -> bool {
        match self.reactions.iter_mut().find(|(e, _)| *e == emoji) {
            Some((_, users)) if users.contains(&user) => false,
            Some((_, users)) => {
                users.push(user);
                true
            }
            None => {
                self.reactions.push((emoji, vec![user]));
                true
            }
        }
    }

    /// Removes `user`'s `emoji`; false if it was not there.
    pub fn remove(&mut self, emoji: &str, user: UserId) -> bool {
        let Some(i) = self.reactions.iter().position(|(e, _)| e == emoji) else {
            return false;
        };
        let users = &mut self.reactions[i].1;
        let Some(j) = users.iter().position(|u| *u == user) else {
            return false;
        };
        users.swap_remove(j);
        if users.is_empty() {
            self.reactions.remove(i);
        }
        true
    }

    /// How many of `user`'s emoji are on it.
    pub fn mine(&self, user: UserId) -> usize {
        self.reactions
            .iter()
            .filter(|(_, users)| users.contains(&user))
            .count()
    }

    /// Reactions held, counting each user of each emoji.
    pub fn weight(&self) -> usize {
        self.reactions.iter().map(|(_, u)| u.len()).sum::<usize>() + 1
    }
}

/// An identity provider's revocation of a user's tokens: those of `subject` issued at or
/// before `before_secs` are refused. Recorded by the node that found it, read by the others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    /// The provider's id for the user (Cognito's `sub`).
    pub subject: String,
    /// Tokens issued (`iat`) at or before this, in seconds since the Unix epoch, are revoked.
    pub before_secs: u64,
    /// When it was (last) recorded, in milliseconds since the Unix epoch, by the recording
    /// node's clock: what other nodes read it by.
    pub recorded_ms: u64,
}

/// An upload slot a member asked for, and once attached to a message, the attachment it
/// became. The file itself is in the media store at `key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    pub id: AttachmentId,
    pub room: RoomId,
    pub uploader: UserId,
    /// Where the file lives in the media store, chosen by the node (`rooms/{room}/{id}`).
    pub key: String,
    /// The file name the uploader gave, for display only.
    pub name: String,
    pub content_type: String,
    /// The exact size the upload URL was signed for, in bytes.
    pub size: u64,
    /// When the slot was made, in milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// Whether a message references it; uploads never attached are swept.
    pub attached: bool,
}

/// Durable state. Every method is safe to call concurrently; none blocks the async runtime.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates an account; `Conflict` if the name is taken (names compare case-insensitively).
    async fn create_user(&self, name: &str, password_hash: &str) -> Result<UserInfo, StoreError>;
    /// The account and its password hash.
    async fn user_by_name(&self, name: &str) -> Result<Option<(UserInfo, String)>, StoreError>;
    async fn user(&self, id: UserId) -> Result<Option<UserInfo>, StoreError>;
    /// The user linked to `subject`, an identity provider's stable id for them (Cognito's
    /// `sub`), created on first sight: named `name` made to fit the name rules, or that name
    /// with a suffix when it is taken (`Conflict` only if every name tried is). Such a user
    /// has no password: `user_by_name` gives an empty hash. First sightings of one subject at
    /// the same time, on one node or several, yield one user.
    async fn external_user(&self, subject: &str, name: &str) -> Result<UserInfo, StoreError>;
    /// Puts the user on `plan`; `NotFound` when there is no such user.
    async fn set_plan(&self, user: UserId, plan: Plan) -> Result<(), StoreError>;
    /// The user's plan: [`Plan::Free`] unless `set_plan` said otherwise; `NotFound` when there
    /// is no such user.
    async fn plan(&self, user: UserId) -> Result<Plan, StoreError>;

    /// The profiles of the users among `ids` that exist, by id (an unknown id is left out,
    /// one given twice comes once).
    async fn profiles(&self, ids: &[UserId]) -> Result<Vec<Profile>, StoreError>;
    /// Replaces the fields given (already checked: trimmed, within their bounds; empty clears
    /// one) and keeps the others; the profile now stored. `NotFound` when there is no such
    /// user.
    async fn set_profile(
        &self,
        user: UserId,
        display_name: Option<&str>,
        status: Option<&str>,
    ) -> Result<Profile, StoreError>;
    /// At most `limit` (capped at [`MAX_FOUND_USERS`]) users whose account name or display
    /// name starts with `prefix`, ignoring case, by account name (lower-cased) then id. The
    /// prefix is matched as text: `%`, `_` and `\` in it are no wildcards.
    async fn find_users(&self, prefix: &str, limit: u32) -> Result<Vec<Profile>, StoreError>;

    /// Creates a group room with `owner` as its first member.
    async fn create_room(
        &self,
        name: &str,
        kind: RoomKind,
        owner: UserId,
    ) -> Result<RoomInfo, StoreError>;
    async fn room(&self, id: RoomId) -> Result<Option<RoomInfo>, StoreError>;
    /// The direct conversation of `a` and `b`, created with both as members if it is new, and
    /// whether this call created it.
    async fn direct_room(&self, a: UserId, b: UserId) -> Result<(RoomInfo, bool), StoreError>;

    /// Adds a member; an existing member keeps their role.
    async fn add_member(&self, room: RoomId, user: UserId, role: Role) -> Result<(), StoreError>;
    async fn remove_member(&self, room: RoomId, user: UserId) -> Result<(), StoreError>;
    async fn members(&self, room: RoomId) -> Result<Vec<(UserId, Role)>, StoreError>;
    async fn rooms_of(&self, user: UserId) -> Result<Vec<RoomInfo>, StoreError>;
    /// A page of `user`'s rooms, most recently active first (by activity, then room id, both
    /// descending): at most `limit`, strictly after `before` in that order. Each with its
    /// last message as history shows it to `user`, its unread count (capped) and `user`'s
    /// muted flag; a direct conversation named after its other member. See `room_list`.
    async fn room_list(
        &self,
        user: UserId,
        before: Option<RoomCursor>,
        limit: u32,
    ) -> Result<Vec<RoomSummary>, StoreError>;
    /// Sets `user`'s muted flag in `room`; false (and nothing changed) when `user` is not a
    /// member of it.
    async fn set_muted(&self, room: RoomId, user: UserId, muted: bool) -> Result<bool, StoreError>;
    /// Whether `user` is a member of `room` now: the one source of truth for a member's
    /// rights, never a connection's memory of having joined.
    async fn is_member(&self, room: RoomId, user: UserId) -> Result<bool, StoreError>;
    /// Whether the two users are both members of at least one room.
    async fn shares_room(&self, a: UserId, b: UserId) -> Result<bool, StoreError>;

    /// The node that last took the room (see `next_epoch`), if any.
    async fn room_owner(&self, room: RoomId) -> Result<Option<String>, StoreError>;
    /// Atomically raises the room's epoch by one, records `owner` as the node that holds it,
    /// and returns the new epoch. Each owner incarnation takes a fresh epoch, so positions
    /// never collide, and the epoch fences the earlier owners (see `append`).
    async fn next_epoch(&self, room: RoomId, owner: &str) -> Result<u64, StoreError>;

    /// Stores a batch atomically. A message whose position or (room, sender, cmid) is already
    /// stored is skipped, so retrying a batch never duplicates. A message from an epoch older
    /// than its room's current one is *fenced*: its owner has been deposed, so it is not
    /// stored. Returns the indices of the fenced messages in `batch`.
    async fn append(&self, batch: Arc<Vec<ChatMessage>>) -> Result<Vec<usize>, StoreError>;
    /// A page of history, oldest first: messages as they are now, or with `q.changes` every
    /// entry as it was stored (see [`HistoryQuery`]).
    async fn history(&self, room: RoomId, q: HistoryQuery) -> Result<Vec<ChatMessage>, StoreError>;
    /// The message at `pos` of `room` as it is now, for an edit, delete, reaction or reply;
    /// `None` when no message of the room is there (an edit, delete or reaction is none).
    async fn target(&self, room: RoomId, pos: Position) -> Result<Option<Target>, StoreError>;
    /// The position of the message `sender` sent to `room` with `cmid`, if stored.
    async fn find_cmid(
        &self,
        room: RoomId,
        sender: UserId,
        cmid: &str,
    ) -> Result<Option<Position>, StoreError>;

    /// Messages containing every word of `query`, in rooms `user` belongs to (only `room` when
    /// given), newest first.
    async fn search(
        &self,
        user: UserId,
        query: &str,
        room: Option<RoomId>,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, StoreError>;

    /// The room's pinned messages, the most recently pinned first (at most `limit`), as
    /// history shows them to `viewer`.
    async fn pins(
        &self,
        room: RoomId,
        viewer: UserId,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, StoreError>;
    /// Raises the user's read watermark in the room to `pos` (never lowers it), and the
    /// delivered one with it; returns the read watermark now stored.
    async fn set_read(
        &self,
        room: RoomId,
        user: UserId,
        pos: Position,
    ) -> Result<Position, StoreError>;
    /// Raises the user's delivered watermark in the room to `pos`: the watermark when it rose,
    /// `None` when it was there or above already.
    async fn set_delivered(
        &self,
        room: RoomId,
        user: UserId,
        pos: Position,
    ) -> Result<Option<Position>, StoreError>;
    /// A page of the room's members by user id after `after` (at most `limit`), with their
    /// read and delivered watermarks.
    async fn receipts(
        &self,
        room: RoomId,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<MemberReceipt>, StoreError>;
    async fn read_positions(&self, room: RoomId) -> Result<Vec<(UserId, Position)>, StoreError>;

    /// Records an upload slot; `Conflict` when its id is taken.
    async fn create_upload(&self, upload: &Upload) -> Result<(), StoreError>;
    async fn upload(&self, id: AttachmentId) -> Result<Option<Upload>, StoreError>;
    /// How many uploads `uploader` started at or after `since_ms` (the uploads-per-day count).
    async fn uploads_since(&self, uploader: UserId, since_ms: u64) -> Result<u32, StoreError>;
    /// Marks the upload attached to a message, so the sweep keeps it. `NotFound` when there is
    /// no such upload in `room` (a message never references another room's upload, nor one
    /// already swept). Attaching twice is no error.
    async fn attach_upload(&self, id: AttachmentId, room: RoomId) -> Result<(), StoreError>;
    /// At most `limit` uploads never attached and made before `before_ms`, oldest first.
    async fn unattached_before(
        &self,
        before_ms: u64,
        limit: u32,
    ) -> Result<Vec<Upload>, StoreError>;
    /// Removes an upload's record if it is still unattached; whether it did (an upload
    /// attached meanwhile stays).
    async fn delete_unattached(&self, id: AttachmentId) -> Result<bool, StoreError>;

    /// Records a revocation. A subject has one record: a later one keeps the later
    /// `before_secs` (a revocation is never narrowed) and takes the new `recorded_ms`.
    async fn revoke(&self, revocation: &Revocation) -> Result<(), StoreError>;
    /// At most `limit` revocations recorded at or after `since_ms`, by `recorded_ms` then
    /// subject.
    async fn revocations_since(
        &self,
        since_ms: u64,
        limit: u32,
    ) -> Result<Vec<Revocation>, StoreError>;
}
