//! The commands that wait on the store or on other actors, as tasks off the connection's loop
//! (see `pending`). A task sees a snapshot of what it needs of the connection ([`Ctx`]),
//! queues its own reply on the connection's `Outbound`, and returns what the connection must
//! record ([`Effect`]); an `Err` is answered by the connection.
//!
//! Each task's store reads, and its wait for an inactive room to load, end at its deadline
//! (`store_timeout` after it starts) with 4001 `busy`. Once a command is handed to its room
//! (here or on another node) the room answers it.

use std::sync::Arc;
use std::time::Instant;

use kameo::actor::ActorRef;
use switchboard_engine::domain::{PresenceStatus, RoomKind};
use switchboard_engine::protocol::{self as p, ClientFrame, ServerFrame, Visibility};
use switchboard_engine::ring::NodeId;
use switchboard_engine::{ConnId, ErrorCode, RoomId, UserId};
use tokio::time::Instant as Deadline;

use crate::cluster::wire::RoomOp;
use crate::hub::{Hub, Route};
use crate::outbound::Outbound;
use crate::queries::{self, internal};
use crate::room::{Invite, Join, Leave, Post, Receipt, RoomActor, Typing};

/// What a finished command changes in its connection.
pub(super) enum Effect {
    /// Nothing: the reply is queued.
    Answered,
    /// This connection is subscribed to `room`: through `actor` here, or through the room's
    /// node (`None`).
    Joined {
        room: RoomId,
        actor: Option<ActorRef<RoomActor>>,
    },
    Left {
        room: RoomId,
    },
    /// A joined room's actor had stopped; this is its new incarnation.
    Resolved {
        room: RoomId,
        actor: ActorRef<RoomActor>,
    },
    /// The connection now watches these users' presence.
    Watching(Vec<UserId>),
}

/// Where a command for a room goes.
enum Target {
    Here(ActorRef<RoomActor>),
    /// Through the cluster to the room's owner.
    Node(NodeId),
}

fn send_error(e: kameo::error::SendError<impl Sized, ErrorCode>) -> ErrorCode {
    match e {
        kameo::error::SendError::HandlerError(code) => code,
        _ => ErrorCode::Internal,
    }
}

/// What a command's task knows of its connection.
pub(super) struct Ctx {
    pub hub: Arc<Hub>,
    pub out: Outbound,
    pub conn: ConnId,
    pub me: UserId,
    /// For a command on a room: `None` if this connection has not joined it, else the room's
    /// actor as the connection knows it (`None` when another node served it).
    pub joined: Option<Option<ActorRef<RoomActor>>>,
    pub deadline: Deadline,
}

impl Ctx {
    /// Waits for `f` until the deadline; 4001 `busy` after it.
    async fn within<T>(&self, f: impl Future<Output = T>) -> Result<T, ErrorCode> {
        tokio::time::timeout_at(self.deadline, f)
            .await
            .map_err(|_| ErrorCode::Busy)
    }

    pub async fn run(self, frame: ClientFrame) -> Result<Effect, ErrorCode> {
        match frame {
            ClientFrame::CreateRoom(c) => self.within(self.create_room(c)).await?,
            ClientFrame::Join(c) => self.join(c).await,
            ClientFrame::Leave(c) => self.leave(c).await,
            ClientFrame::Invite(c) => self.invite(c).await,
            ClientFrame::OpenDirect(c) => self.within(self.open_direct(c)).await?,
            ClientFrame::Send(c) => self.within(self.send(c)).await?,
            ClientFrame::History(c) => self.within(self.history(c)).await?,
            ClientFrame::Search(c) => self.within(self.search(c)).await?,
            ClientFrame::Typing(c) => self.within(self.typing(c)).await?,
            ClientFrame::MarkRead(c) => self.within(self.mark_read(c)).await?,
            ClientFrame::PresenceQuery(c) => self.within(self.presence_query(c)).await?,
            ClientFrame::PresenceSubscribe(c) => self.presence_subscribe(c).await,
            // Answered by the connection itself.
            ClientFrame::Auth(_) | ClientFrame::Ping(_) | ClientFrame::SetPresence(_) => {
                Err(ErrorCode::Internal)
            }
        }
    }

    /// The room's actor here, loaded if inactive (within the deadline).
    async fn resolve(&self, room: RoomId) -> Result<ActorRef<RoomActor>, ErrorCode> {
        self.within(self.hub.room(room)).await?
    }

    /// Where commands for any room go.
    async fn target(&self, room: RoomId) -> Result<Target, ErrorCode> {
        match self.hub.route(room) {
            Route::Remote(node) => Ok(Target::Node(node)),
            Route::Local => Ok(Target::Here(self.resolve(room).await?)),
        }
    }

    /// Where commands for the joined room go, and the effect of having re-resolved its actor
    /// when the one the connection knew has stopped.
    async fn joined_target(&self, room: RoomId) -> Result<(Target, Effect), ErrorCode> {
        let known = self.joined.as_ref().ok_or(ErrorCode::NotJoined)?;
        if let Route::Remote(node) = self.hub.route(room) {
            return Ok((Target::Node(node), Effect::Answered));
        }
        match known {
            Some(actor) if actor.is_alive() => Ok((Target::Here(actor.clone()), Effect::Answered)),
            _ => {
                let actor = self.resolve(room).await?;
                let effect = Effect::Resolved {
                    room,
                    actor: actor.clone(),
                };
                Ok((Target::Here(actor), effect))
            }
        }
    }

    /// Sends a command to the node that owns its room; the reply comes back from there.
    fn remote(&self, node: &NodeId, rid: u64, op: RoomOp) -> Result<(), ErrorCode> {
        let link = self.hub.cluster().ok_or(ErrorCode::Internal)?;
        if link.command(node, &self.out, self.me, rid, op) {
            Ok(())
        } else {
            Err(ErrorCode::Busy)
        }
    }

    fn reply(&self, frame: ServerFrame) -> Result<Effect, ErrorCode> {
        self.out.frame(&frame);
        Ok(Effect::Answered)
    }

    async fn create_room(&self, c: p::CreateRoom) -> Result<Effect, ErrorCode> {
        let name = c.name.trim();
        if name.is_empty() || name.len() > self.hub.config.limits.max_room_name_bytes as usize {
            return Err(ErrorCode::InvalidArgument);
        }
        let kind = match c.visibility {
            Visibility::Public => RoomKind::Public,
            Visibility::Private => RoomKind::Private,
        };
        let store = &self.hub.store;
        let room = store
            .create_room(name, kind, self.me)
            .await
            .map_err(internal)?;
        self.reply(ServerFrame::RoomCreated(p::RoomReply { rid: c.rid, room }))
    }

    async fn join(&self, c: p::Join) -> Result<Effect, ErrorCode> {
        // The room may stop between resolving and asking (idle); resolve once more then.
        for _ in 0..2 {
            let actor = match self.target(c.room).await? {
                Target::Here(actor) => actor,
                Target::Node(node) => {
                    let op = RoomOp::Join {
                        room: c.room,
                        resume: c.resume,
                    };
                    self.remote(&node, c.rid, op)?;
                    return Ok(Effect::Joined {
                        room: c.room,
                        actor: None,
                    });
                }
            };
            let join = Join {
                rid: c.rid,
                conn: self.conn,
                user: self.me,
                out: self.out.clone().into(),
                resume: c.resume,
            };
            // The room answers `joined` itself: past this point the deadline no longer
            // applies, or the client could get both that and `busy`.
            match actor.ask(join).await {
                Ok(_) => {
                    return Ok(Effect::Joined {
                        room: c.room,
                        actor: Some(actor),
                    });
                }
                Err(kameo::error::SendError::HandlerError(code)) => return Err(code),
                Err(_) => continue,
            }
        }
        Err(ErrorCode::Internal)
    }

    async fn leave(&self, c: p::Leave) -> Result<Effect, ErrorCode> {
        match self.target(c.room).await? {
            Target::Here(actor) => {
                let leave = Leave { user: self.me };
                actor.ask(leave).await.map_err(send_error)?;
                self.out.frame(&ServerFrame::Left(p::RoomAck {
                    rid: c.rid,
                    room: c.room,
                }));
            }
            // The owner answers `left` (or an error).
            Target::Node(node) => self.remote(&node, c.rid, RoomOp::Leave { room: c.room })?,
        }
        Ok(Effect::Left { room: c.room })
    }

    async fn invite(&self, c: p::Invite) -> Result<Effect, ErrorCode> {
        match self.target(c.room).await? {
            Target::Here(actor) => {
                let invite = Invite {
                    by: self.me,
                    user: c.user,
                };
                actor.ask(invite).await.map_err(send_error)?;
                self.reply(ServerFrame::Invited(p::RoomAck {
                    rid: c.rid,
                    room: c.room,
                }))
            }
            Target::Node(node) => {
                let op = RoomOp::Invite {
                    room: c.room,
                    user: c.user,
                };
                self.remote(&node, c.rid, op)?;
                Ok(Effect::Answered)
            }
        }
    }

    async fn open_direct(&self, c: p::OpenDirect) -> Result<Effect, ErrorCode> {
        let me = self.me;
        if c.user == me {
            return Err(ErrorCode::InvalidArgument);
        }
        if !self.hub.introduction(me) {
            return Err(ErrorCode::RateLimited);
        }
        let store = &self.hub.store;
        if store.user(c.user).await.map_err(internal)?.is_none() {
            return Err(ErrorCode::NotFound);
        }
        let (room, created) = store.direct_room(me, c.user).await.map_err(internal)?;
        // Only a new conversation is news to the other user: reopening one they already
        // have must not let anyone flood their devices with `room_added`.
        if created {
            self.hub.announce_room_added(c.user, room.clone(), me).await;
        }
        self.reply(ServerFrame::DirectOpened(p::RoomReply { rid: c.rid, room }))
    }

    async fn send(&self, c: p::Send) -> Result<Effect, ErrorCode> {
        let limits = &self.hub.config.limits;
        if c.cmid.is_empty()
            || c.cmid.len() > limits.max_cmid_bytes as usize
            || c.text.is_empty()
            || c.text.len() > limits.max_text_bytes as usize
        {
            return Err(ErrorCode::InvalidArgument);
        }
        let received = Instant::now();
        // A resend of a message older than the room's buffer is answered from the store. When
        // the store is slow or down the send goes on (the room's buffer still catches recent
        // resends): real-time delivery must not stop with the database.
        let stored = if self.hub.store_suspect() {
            None
        } else {
            let check = tokio::time::timeout(
                self.hub.config.store_check_timeout,
                self.hub.store.find_cmid(c.room, self.me, &c.cmid),
            );
            match check.await {
                Ok(Ok(found)) => found,
                Ok(Err(_)) | Err(_) => {
                    tracing::debug!("cmid check skipped: store unavailable");
                    self.hub.mark_store_suspect();
                    None
                }
            }
        };
        if let Some(pos) = stored {
            return self.reply(ServerFrame::Sent(p::Sent {
                rid: c.rid,
                room: c.room,
                cmid: c.cmid,
                pos,
                duplicate: true,
            }));
        }
        let (target, effect) = self.send_target(c.room).await?;
        let actor = match target {
            Target::Here(actor) => actor,
            Target::Node(node) => {
                let op = RoomOp::Post {
                    room: c.room,
                    cmid: c.cmid,
                    text: c.text,
                };
                self.remote(&node, c.rid, op)?;
                return Ok(effect);
            }
        };
        let mut post = Post {
            rid: c.rid,
            user: self.me,
            out: self.out.clone().into(),
            cmid: c.cmid,
            text: c.text,
            received,
            checked: false,
        };
        // Waits while the room's mailbox is full: backpressure on this sender's sends only.
        // Until the `tell` completes the room has not got the post, so the deadline may cut it.
        match actor.tell(post).await {
            Ok(()) => return Ok(effect),
            Err(kameo::error::SendError::ActorNotRunning(p)) => post = p,
            Err(_) => return Err(ErrorCode::Internal),
        }
        // The room stopped meanwhile (idle, moved): once more, wherever it is now.
        match self.target(c.room).await? {
            Target::Here(actor) => {
                actor.tell(post).await.map_err(|_| ErrorCode::Internal)?;
                Ok(Effect::Answered)
            }
            Target::Node(_) => Err(ErrorCode::Busy),
        }
    }

    /// Where a send goes: the joined room's actor (or owner), else the room's, joined or not.
    async fn send_target(&self, room: RoomId) -> Result<(Target, Effect), ErrorCode> {
        if self.joined.is_some() {
            return self.joined_target(room).await;
        }
        Ok((self.target(room).await?, Effect::Answered))
    }

    async fn history(&self, c: p::History) -> Result<Effect, ErrorCode> {
        let (messages, more) =
            queries::history_page(&self.hub, self.me, c.room, c.before, c.after, c.limit).await?;
        self.reply(ServerFrame::History(p::HistoryPage {
            rid: c.rid,
            room: c.room,
            messages,
            more,
        }))
    }

    async fn search(&self, c: p::Search) -> Result<Effect, ErrorCode> {
        let messages = queries::search(&self.hub, self.me, &c.query, c.room, c.limit).await?;
        self.reply(ServerFrame::SearchResults(p::SearchResults {
            rid: c.rid,
            messages,
        }))
    }

    /// Typing on a joined room whose actor must be resolved first (the connection answers
    /// the others at once).
    async fn typing(&self, c: p::Typing) -> Result<Effect, ErrorCode> {
        let (target, effect) = self.joined_target(c.room).await?;
        let active = c.active;
        match target {
            Target::Here(room) => room
                .tell(Typing {
                    user: self.me,
                    active,
                })
                .await
                .map_err(|_| ErrorCode::Internal)?,
            Target::Node(node) => {
                let op = RoomOp::Typing {
                    room: c.room,
                    active,
                };
                self.remote(&node, c.rid, op)?
            }
        }
        self.out.frame(&ServerFrame::Done(p::Done { rid: c.rid }));
        Ok(effect)
    }

    async fn mark_read(&self, c: p::MarkRead) -> Result<Effect, ErrorCode> {
        let (target, effect) = self.joined_target(c.room).await?;
        // Joined once is not a member now: a leave elsewhere revokes the right.
        queries::check_member(&self.hub, c.room, self.me).await?;
        let store = &self.hub.store;
        let pos = store
            .set_read(c.room, self.me, c.pos)
            .await
            .map_err(internal)?;
        match target {
            Target::Here(room) => room
                .tell(Receipt {
                    conn: self.conn,
                    user: self.me,
                    pos,
                })
                .await
                .map_err(|_| ErrorCode::Internal)?,
            Target::Node(node) => {
                self.remote(&node, c.rid, RoomOp::Receipt { room: c.room, pos })?
            }
        }
        self.out.frame(&ServerFrame::Done(p::Done { rid: c.rid }));
        Ok(effect)
    }

    /// Presence is visible only between users who share a room.
    async fn check_presence_allowed(&self, users: &[UserId]) -> Result<(), ErrorCode> {
        if users.len() > self.hub.config.limits.max_presence_users as usize {
            return Err(ErrorCode::InvalidArgument);
        }
        for &user in users {
            let store = &self.hub.store;
            if user != self.me && !store.shares_room(self.me, user).await.map_err(internal)? {
                return Err(ErrorCode::Forbidden);
            }
        }
        Ok(())
    }

    async fn presence_query(&self, c: p::PresenceQuery) -> Result<Effect, ErrorCode> {
        self.check_presence_allowed(&c.users).await?;
        let mut users = Vec::with_capacity(c.users.len());
        for user in c.users {
            let status = self.hub.presence_query(self.conn, user).await;
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
    async fn presence_subscribe(&self, c: p::PresenceSubscribe) -> Result<Effect, ErrorCode> {
        self.within(self.check_presence_allowed(&c.users)).await??;
        let mut users = Vec::with_capacity(c.users.len());
        for &user in &c.users {
            let status: PresenceStatus = self.hub.presence_watch(&self.out, self.me, user).await;
            users.push(p::PresenceInfo { user, status });
        }
        self.out.frame(&ServerFrame::Presence(p::PresenceReply {
            rid: c.rid,
            users,
        }));
        Ok(Effect::Watching(c.users))
    }
}
