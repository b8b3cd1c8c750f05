//! The commands that wait on the store or on other actors, as tasks off the connection's loop
//! (see `pending`). A task sees a snapshot of what it needs of the connection ([`Ctx`]),
//! queues its own reply on the connection's `Outbound`, and returns what the connection must
//! record ([`Effect`]); an `Err` is answered by the connection.
//!
//! Each task's store reads, and its wait for an inactive room to load, end at its deadline
//! (`store_timeout` after it starts) with 4001 `busy`. Once a command is handed to its room
//! (here or on another node) the room answers it.

use std::sync::Arc;

use switchboard_engine::domain::{self, Change, Plan, PresenceStatus, RoomKind};
use switchboard_engine::protocol::{self as p, ClientFrame, ServerFrame, Visibility};
use switchboard_engine::{ConnId, RoomId, UserId};
use tokio::time::Instant as Deadline;

use crate::error::Refused;
use crate::hub::Hub;
use crate::outbound::Outbound;
use crate::queries;
use crate::room::{Caller, Command, RoomCommand};

/// What a finished command changes in its connection. A reply the task has is queued by the
/// connection once it has counted the command done, so a client that sends its next command
/// on seeing the reply never finds the slot still taken.
pub(super) enum Effect {
    /// Nothing: its room answers.
    Answered,
    /// Queue this reply.
    Reply(Box<ServerFrame>),
    /// This connection asked to join `room` (and the room has the command).
    Joined(RoomId),
    Left(RoomId),
    /// The connection now watches these users' presence; queue the reply.
    Watching(Vec<UserId>, Box<ServerFrame>),
}

/// What a command's task knows of its connection.
pub(super) struct Ctx {
    pub hub: Arc<Hub>,
    pub out: Outbound,
    pub conn: ConnId,
    pub me: UserId,
    /// The plan the connection's token vouches for (`Identity::plan`).
    pub vouched: Option<Plan>,
    /// For a command on a room: whether this connection has joined it.
    pub joined: bool,
    pub deadline: Deadline,
}

impl Ctx {
    /// Waits for `f` until the deadline; 4001 `busy` after it.
    async fn within<T>(&self, f: impl Future<Output = T>) -> Result<T, Refused> {
        tokio::time::timeout_at(self.deadline, f)
            .await
            .map_err(|_| Refused::Busy(crate::error::Busy::NoAnswer))
    }

    pub async fn run(self, frame: ClientFrame) -> Result<Effect, Refused> {
        let first = matches!(&frame, ClientFrame::Send(c) if c.first);
        let frame = match RoomCommand::from_frame(frame) {
            Ok((room, rid, cmd)) => return self.room_command(room, rid, cmd, first).await,
            Err(frame) => frame,
        };
        match frame {
            ClientFrame::CreateRoom(c) => self.within(self.create_room(c)).await?,
            ClientFrame::OpenDirect(c) => self.within(self.open_direct(c)).await?,
            ClientFrame::History(c) => self.within(self.history(c)).await?,
            ClientFrame::Search(c) => self.within(self.search(c)).await?,
            ClientFrame::MarkRead(c) => self.within(self.mark_read(c)).await?,
            ClientFrame::MarkDelivered(c) => self.within(self.mark_delivered(c)).await?,
            ClientFrame::Receipts(c) => self.within(self.receipts(c)).await?,
            ClientFrame::Pins(c) => self.within(self.pins(c)).await?,
            ClientFrame::PresenceQuery(c) => self.within(self.presence_query(c)).await?,
            ClientFrame::PresenceSubscribe(c) => self.presence_subscribe(c).await,
            ClientFrame::AttachmentSlot(c) => self.within(self.attachment_slot(c)).await?,
            ClientFrame::Profiles(c) => self.within(self.profiles(c)).await?,
            ClientFrame::SetProfile(c) => self.within(self.set_profile(c)).await?,
            ClientFrame::FindUsers(c) => self.within(self.find_users(c)).await?,
            ClientFrame::Rooms(c) => self.within(self.rooms(c)).await?,
            ClientFrame::Mute(c) => self.within(self.mute(c)).await?,
            // Answered by the connection itself, or room commands (above). Listed, not caught
            // all, so a new command does not compile until it says where it runs.
            ClientFrame::Auth(_)
            | ClientFrame::Ping(_)
            | ClientFrame::SetPresence(_)
            | ClientFrame::Join(_)
            | ClientFrame::Leave(_)
            | ClientFrame::Invite(_)
            | ClientFrame::Kick(_)
            | ClientFrame::Send(_)
            | ClientFrame::Edit(_)
            | ClientFrame::Delete(_)
            | ClientFrame::React(_)
            | ClientFrame::Pin(_)
            | ClientFrame::Typing(_) => Err(Refused::Code(switchboard_engine::ErrorCode::Internal)),
        }
    }

    /// A room command: sent to its room wherever it is served; the room answers it.
    async fn room_command(
        &self,
        room: RoomId,
        rid: u64,
        mut cmd: RoomCommand,
        first: bool,
    ) -> Result<Effect, Refused> {
        let effect = match &cmd {
            RoomCommand::Join { .. } => Effect::Joined(room),
            RoomCommand::Leave => Effect::Left(room),
            RoomCommand::Post { cmid, .. } | RoomCommand::Change { cmid, .. } => {
                self.check_entry(&cmd)?;
                if let Some(sent) = self.within(self.earlier(room, rid, cmid, first)).await? {
                    return self.reply(sent);
                }
                Effect::Answered
            }
            RoomCommand::Typing { .. } | RoomCommand::Receipt { .. } if !self.joined => {
                return Err(Refused::NotJoined);
            }
            _ => Effect::Answered,
        };
        if let RoomCommand::Post { text, mentions, .. } = &mut cmd {
            // Most texts name nobody: they cost one scan, no store read and no timer.
            let names = switchboard_engine::mentions::mentioned_names(text);
            if !names.is_empty() {
                *mentions = self.within(self.users_named(names)).await??;
            }
        }
        self.to_room(room, rid, cmd).await;
        Ok(effect)
    }

    /// The users `names` name (`@name` mentions; PROTOCOL §6.8). Names that name nobody are
    /// plain text; the room keeps the users who are members.
    async fn users_named(&self, names: Vec<String>) -> Result<Vec<UserId>, Refused> {
        let mut users = Vec::new();
        for name in names {
            if let Some((user, _)) = self.hub.store.user_by_name(&name).await? {
                users.push(user.id);
            }
        }
        Ok(users)
    }

    /// Hands `cmd` to its room (waiting for room in its mailbox until the deadline).
    async fn to_room(&self, room: RoomId, rid: u64, cmd: RoomCommand) {
        let cmd = Command::new(room, Caller::local(&self.out, self.me, rid), cmd);
        self.hub.router().send(cmd, self.deadline).await;
    }

    fn reply(&self, frame: ServerFrame) -> Result<Effect, Refused> {
        Ok(Effect::Reply(Box::new(frame)))
    }

    /// Checks what a post or a change carries, before it goes to its room.
    fn check_entry(&self, cmd: &RoomCommand) -> Result<(), Refused> {
        let limits = &self.hub.config.limits;
        let cmid = cmd.cmid().unwrap_or_default();
        if cmid.is_empty() || cmid.len() > limits.max_cmid_bytes as usize {
            return Err(Refused::Invalid("cmid is empty or too long"));
        }
        let too_long = |text: &str| text.len() > limits.max_text_bytes as usize;
        match cmd {
            RoomCommand::Post {
                text, attachments, ..
            } => {
                // A message of attachments alone may have no text.
                if (text.is_empty() && attachments.is_empty()) || too_long(text) {
                    return Err(Refused::Invalid("text is empty or too long"));
                }
                if attachments.len() > p::MAX_ATTACHMENTS {
                    return Err(Refused::Invalid("too many attachments in one message"));
                }
                if attachments
                    .iter()
                    .enumerate()
                    .any(|(i, a)| attachments[..i].contains(a))
                {
                    return Err(Refused::Invalid("an attachment is listed twice"));
                }
            }
            RoomCommand::Change {
                text,
                change: Change::Edit { .. },
                ..
            } if text.is_empty() || too_long(text) => {
                return Err(Refused::Invalid("text is empty or too long"));
            }
            RoomCommand::Change {
                change: Change::React { emoji, .. },
                ..
            } => {
                domain::emoji(emoji).map_err(Refused::Invalid)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether the store already has this cmid of the caller's: a resend of an entry older
    /// than the room's buffer is answered from the store (`sent {duplicate: true}`), its
    /// attachments not checked again. A send marked `first` has no earlier copy and goes
    /// straight on, so a message's path holds no round trip to the store. When the store is
    /// slow or down the send goes on (the room's buffer still catches recent resends):
    /// real-time delivery must not stop with the database.
    async fn earlier(
        &self,
        room: RoomId,
        rid: u64,
        cmid: &str,
        first: bool,
    ) -> Option<ServerFrame> {
        if first || self.hub.store_suspect() {
            return None;
        }
        let check = tokio::time::timeout(
            self.hub.config.store_check_timeout,
            self.hub.store.find_cmid(room, self.me, cmid),
        );
        let stored = match check.await {
            Ok(Ok(found)) => found,
            Ok(Err(_)) | Err(_) => {
                tracing::debug!("cmid check skipped: store unavailable");
                self.hub.mark_store_suspect();
                None
            }
        };
        stored.map(|pos| {
            ServerFrame::Sent(p::Sent {
                rid,
                room,
                cmid: cmid.to_owned(),
                pos,
                duplicate: true,
            })
        })
    }

    async fn create_room(&self, c: p::CreateRoom) -> Result<Effect, Refused> {
        let name = c.name.trim();
        if name.is_empty() || name.len() > self.hub.config.limits.max_room_name_bytes as usize {
            return Err(Refused::Invalid("room name is empty or too long"));
        }
        let kind = match c.visibility {
            Visibility::Public => RoomKind::Public,
            Visibility::Private => RoomKind::Private,
        };
        let store = &self.hub.store;
        let room = store.create_room(name, kind, self.me).await?;
        self.reply(ServerFrame::RoomCreated(p::RoomReply { rid: c.rid, room }))
    }

    async fn open_direct(&self, c: p::OpenDirect) -> Result<Effect, Refused> {
        let me = self.me;
        if c.user == me {
            return Err(Refused::Invalid("a direct conversation needs another user"));
        }
        if !self.hub.rooms().introduction(me) {
            return Err(Refused::RateLimited);
        }
        let store = &self.hub.store;
        if store.user(c.user).await?.is_none() {
            return Err(Refused::NotFound("no such user"));
        }
        let (room, created) = store.direct_room(me, c.user).await?;
        // Only a new conversation is news to the other user: reopening one they already
        // have must not let anyone flood their devices with `room_added`.
        if created {
            self.hub
                .rooms()
                .announce_room_added(c.user, room.clone(), me)
                .await;
        }
        self.reply(ServerFrame::DirectOpened(p::RoomReply { rid: c.rid, room }))
    }

    async fn history(&self, c: p::History) -> Result<Effect, Refused> {
        let (messages, more) =
            queries::history_page(&self.hub, self.me, c.room, c.before, c.after, c.limit).await?;
        self.reply(ServerFrame::History(p::HistoryPage {
            rid: c.rid,
            room: c.room,
            messages,
            more,
        }))
    }

    async fn search(&self, c: p::Search) -> Result<Effect, Refused> {
        let messages = queries::search(&self.hub, self.me, &c.query, c.room, c.limit).await?;
        self.reply(ServerFrame::SearchResults(p::SearchResults {
            rid: c.rid,
            messages,
        }))
    }

    /// Stores the read mark, then tells the room (which answers `done`).
    async fn mark_read(&self, c: p::MarkRead) -> Result<Effect, Refused> {
        if !self.joined {
            return Err(Refused::NotJoined);
        }
        // Joined once is not a member now: a leave elsewhere revokes the right.
        queries::check_member(&self.hub, c.room, self.me).await?;
        let pos = self.hub.store.set_read(c.room, self.me, c.pos).await?;
        self.to_room(c.room, c.rid, RoomCommand::Receipt { pos })
            .await;
        Ok(Effect::Answered)
    }

    /// Stores the delivered mark; when it rose, tells the room (which answers `done`).
    async fn mark_delivered(&self, c: p::MarkDelivered) -> Result<Effect, Refused> {
        if !self.joined {
            return Err(Refused::NotJoined);
        }
        queries::check_member(&self.hub, c.room, self.me).await?;
        match self.hub.store.set_delivered(c.room, self.me, c.pos).await? {
            Some(pos) => {
                let cmd = RoomCommand::Delivered { pos };
                self.to_room(c.room, c.rid, cmd).await;
                Ok(Effect::Answered)
            }
            // Already known (another device, or a read): nobody needs telling again.
            None => self.reply(ServerFrame::Done(p::Done { rid: c.rid })),
        }
    }

    /// The room's pinned messages, newest pin first: members only.
    async fn pins(&self, c: p::Pins) -> Result<Effect, Refused> {
        if !(1..=p::MAX_PINS_PAGE).contains(&c.limit) {
            return Err(Refused::Invalid("limit must be 1 to 100"));
        }
        queries::check_member(&self.hub, c.room, self.me).await?;
        let mut messages = self.hub.store.pins(c.room, self.me, c.limit + 1).await?;
        let more = messages.len() > c.limit as usize;
        messages.truncate(c.limit as usize);
        self.reply(ServerFrame::Pins(p::PinList {
            rid: c.rid,
            room: c.room,
            messages,
            more,
        }))
    }

    /// The members' watermarks, a page at a time: members only.
    async fn receipts(&self, c: p::Receipts) -> Result<Effect, Refused> {
        if !(1..=p::MAX_RECEIPTS_PAGE).contains(&c.limit) {
            return Err(Refused::Invalid("limit must be 1 to 500"));
        }
        queries::check_member(&self.hub, c.room, self.me).await?;
        let store = &self.hub.store;
        let mut members = store.receipts(c.room, c.after, c.limit + 1).await?;
        let more = members.len() > c.limit as usize;
        members.truncate(c.limit as usize);
        self.reply(ServerFrame::Receipts(p::ReceiptList {
            rid: c.rid,
            room: c.room,
            members,
            more,
        }))
    }

    /// An upload slot, as `POST /api/rooms/{id}/attachments` opens one: members only.
    async fn attachment_slot(&self, c: p::AttachmentSlot) -> Result<Effect, Refused> {
        queries::check_member(&self.hub, c.room, self.me).await?;
        let media = self
            .hub
            .attachments()
            .ok_or(Refused::Invalid("this node takes no attachments"))?;
        let (attachment, upload) = media.open_slot(c.room, self.me, self.vouched, &c).await?;
        self.reply(ServerFrame::AttachmentSlot(p::UploadSlot {
            rid: c.rid,
            attachment,
            upload,
        }))
    }

    /// Presence is visible only between users who share a room.
    async fn check_presence_allowed(&self, users: &[UserId]) -> Result<(), Refused> {
        if users.len() > self.hub.config.limits.max_presence_users as usize {
            return Err(Refused::Invalid("too many users in one presence request"));
        }
        for &user in users {
            let store = &self.hub.store;
            if user != self.me && !store.shares_room(self.me, user).await? {
                return Err(Refused::Forbidden(
                    "presence is shared only between room members",
                ));
            }
        }
        Ok(())
    }

    async fn presence_query(&self, c: p::PresenceQuery) -> Result<Effect, Refused> {
        self.check_presence_allowed(&c.users).await?;
        let mut users = Vec::with_capacity(c.users.len());
        for user in c.users {
            let status = self.hub.presence().query(self.conn, user).await;
            users.push(p::PresenceInfo { user, status });
        }
        self.reply(ServerFrame::Presence(p::PresenceReply {
            rid: c.rid,
            users,
        }))
    }

    /// The connection checked its watch bound before starting this (one at a time). Only
    /// the store check has a deadline: a watch once placed must be recorded, so that the
    /// connection removes it when it ends.
    async fn presence_subscribe(&self, c: p::PresenceSubscribe) -> Result<Effect, Refused> {
        self.within(self.check_presence_allowed(&c.users)).await??;
        let mut users = Vec::with_capacity(c.users.len());
        for &user in &c.users {
            let status: PresenceStatus = self.hub.presence().watch(&self.out, self.me, user).await;
            users.push(p::PresenceInfo { user, status });
        }
        let reply = ServerFrame::Presence(p::PresenceReply { rid: c.rid, users });
        Ok(Effect::Watching(c.users, Box::new(reply)))
    }
}
