//! What each client command does. Every command gets exactly one reply frame or one error.

use std::time::Instant;

use switchboard_engine::domain::{PresenceStatus, RoomKind, UserInfo};
use switchboard_engine::protocol::{self as p, ClientFrame, ServerFrame, Visibility};
use switchboard_engine::{ErrorCode, RoomId, UserId};

use super::{ConnectionActor, JoinedRoom};
use crate::cluster::wire::RoomOp;
use crate::hub::Route;
use crate::queries::{self, internal};
use crate::refusal::{self, Refusal};
use crate::room::{Invite, Join, Leave, Post, Receipt, RoomActor, Typing};

/// Where a command for a room goes.
enum Target {
    Here(kameo::actor::ActorRef<RoomActor>),
    /// Through the cluster to the room's owner.
    Node(switchboard_engine::ring::NodeId),
}

fn send_error(e: kameo::error::SendError<impl Sized, ErrorCode>) -> ErrorCode {
    match e {
        kameo::error::SendError::HandlerError(code) => code,
        _ => ErrorCode::Internal,
    }
}

impl ConnectionActor {
    pub(super) async fn dispatch(&mut self, frame: ClientFrame) -> Result<(), ErrorCode> {
        crate::metrics::hot().command(&frame).increment(1);
        if let ClientFrame::Auth(a) = frame {
            return self.auth(a).await;
        }
        let me = self.user()?;
        frame.check_range()?;
        match frame {
            ClientFrame::Auth(_) => unreachable!("handled above"),
            ClientFrame::Ping(c) => {
                self.out.frame(&ServerFrame::Pong(p::Done { rid: c.rid }));
                Ok(())
            }
            ClientFrame::CreateRoom(c) => self.create_room(me, c).await,
            ClientFrame::Join(c) => self.join(me, c).await,
            ClientFrame::Leave(c) => self.leave(me, c).await,
            ClientFrame::Invite(c) => self.invite(me, c).await,
            ClientFrame::OpenDirect(c) => self.open_direct(me, c).await,
            ClientFrame::Send(c) => self.send(me, c).await,
            ClientFrame::History(c) => self.history(me, c).await,
            ClientFrame::Search(c) => {
                let messages = queries::search(&self.hub, me, &c.query, c.room, c.limit).await?;
                self.out
                    .frame(&ServerFrame::SearchResults(p::SearchResults {
                        rid: c.rid,
                        messages,
                    }));
                Ok(())
            }
            ClientFrame::Typing(c) => {
                let active = c.active;
                match self.joined_room(c.room).await? {
                    Target::Here(room) => room
                        .tell(Typing { user: me, active })
                        .await
                        .map_err(internal)?,
                    Target::Node(node) => self.remote(
                        &node,
                        me,
                        c.rid,
                        RoomOp::Typing {
                            room: c.room,
                            active,
                        },
                    )?,
                }
                self.out.frame(&ServerFrame::Done(p::Done { rid: c.rid }));
                Ok(())
            }
            ClientFrame::MarkRead(c) => {
                let target = self.joined_room(c.room).await?;
                // Joined once is not a member now: a leave elsewhere revokes the right.
                queries::check_member(&self.hub, c.room, me).await?;
                let pos = self
                    .hub
                    .store
                    .set_read(c.room, me, c.pos)
                    .await
                    .map_err(internal)?;
                match target {
                    Target::Here(room) => room
                        .tell(Receipt {
                            conn: self.id,
                            user: me,
                            pos,
                        })
                        .await
                        .map_err(internal)?,
                    Target::Node(node) => {
                        self.remote(&node, me, c.rid, RoomOp::Receipt { room: c.room, pos })?
                    }
                }
                self.out.frame(&ServerFrame::Done(p::Done { rid: c.rid }));
                Ok(())
            }
            ClientFrame::PresenceQuery(c) => {
                self.check_presence_allowed(me, &c.users).await?;
                let mut users = Vec::with_capacity(c.users.len());
                for user in c.users {
                    let status = self.hub.presence_query(self.id, user).await;
                    users.push(p::PresenceInfo { user, status });
                }
                self.out.frame(&ServerFrame::Presence(p::PresenceReply {
                    rid: c.rid,
                    users,
                }));
                Ok(())
            }
            ClientFrame::PresenceSubscribe(c) => {
                self.check_presence_allowed(me, &c.users).await?;
                // A connection's watches are bounded too, not only each request.
                let max = self.hub.config.limits.max_presence_users as usize;
                if self.watching.len() + c.users.len() > max {
                    return Err(ErrorCode::InvalidArgument);
                }
                let mut users = Vec::with_capacity(c.users.len());
                for user in c.users {
                    let status = self.hub.presence_watch(&self.out, me, user).await;
                    if !self.watching.contains(&user) {
                        self.watching.push(user);
                    }
                    users.push(p::PresenceInfo { user, status });
                }
                self.out.frame(&ServerFrame::Presence(p::PresenceReply {
                    rid: c.rid,
                    users,
                }));
                Ok(())
            }
            ClientFrame::SetPresence(c) => {
                let away = match c.status {
                    PresenceStatus::Online => false,
                    PresenceStatus::Away => true,
                    PresenceStatus::Offline => return Err(ErrorCode::InvalidArgument),
                };
                self.hub.presence_away(self.id, me, away).await;
                self.out.frame(&ServerFrame::Done(p::Done { rid: c.rid }));
                Ok(())
            }
        }
    }

    async fn auth(&mut self, a: p::Auth) -> Result<(), ErrorCode> {
        if self.identity.is_some() {
            return Err(ErrorCode::AlreadyAuthenticated);
        }
        let identity = self.hub.authenticate(&a.token).await.inspect_err(|code| {
            refusal::note(
                Refusal::AuthFailed,
                format_args!("conn {} auth: {}", self.id, code.describe()),
            );
        })?;
        let user = UserInfo {
            id: identity.user,
            name: identity.name.clone(),
        };
        self.authenticated(identity).await;
        self.out
            .frame(&ServerFrame::Authed(p::Authed { rid: a.rid, user }));
        Ok(())
    }

    /// Where commands for a joined room go: its actor here (re-resolved if the one we knew
    /// has stopped), or the node that owns it.
    async fn joined_room(&mut self, room: RoomId) -> Result<Target, ErrorCode> {
        let j = self
            .joined
            .iter_mut()
            .find(|j| j.room == room)
            .ok_or(ErrorCode::NotJoined)?;
        if let Route::Remote(node) = self.hub.route(room) {
            return Ok(Target::Node(node));
        }
        match &j.actor {
            Some(actor) if actor.is_alive() => Ok(Target::Here(actor.clone())),
            _ => {
                let actor = self.hub.room(room).await?;
                j.actor = Some(actor.clone());
                Ok(Target::Here(actor))
            }
        }
    }

    /// Where commands for any room go.
    async fn target(&mut self, room: RoomId) -> Result<Target, ErrorCode> {
        match self.hub.route(room) {
            Route::Remote(node) => Ok(Target::Node(node)),
            Route::Local => Ok(Target::Here(self.hub.room(room).await?)),
        }
    }

    /// Sends a command to the node that owns its room; the reply comes back from there.
    fn remote(
        &self,
        node: &switchboard_engine::ring::NodeId,
        me: UserId,
        rid: u64,
        op: RoomOp,
    ) -> Result<(), ErrorCode> {
        let link = self.hub.cluster().ok_or(ErrorCode::Internal)?;
        if link.command(node, &self.out, me, rid, op) {
            Ok(())
        } else {
            Err(ErrorCode::Busy)
        }
    }

    async fn create_room(&mut self, me: UserId, c: p::CreateRoom) -> Result<(), ErrorCode> {
        let name = c.name.trim();
        if name.is_empty() || name.len() > self.hub.config.limits.max_room_name_bytes as usize {
            return Err(ErrorCode::InvalidArgument);
        }
        let kind = match c.visibility {
            Visibility::Public => RoomKind::Public,
            Visibility::Private => RoomKind::Private,
        };
        let room = self
            .hub
            .store
            .create_room(name, kind, me)
            .await
            .map_err(internal)?;
        self.out
            .frame(&ServerFrame::RoomCreated(p::RoomReply { rid: c.rid, room }));
        Ok(())
    }

    async fn join(&mut self, me: UserId, c: p::Join) -> Result<(), ErrorCode> {
        // The room may stop between resolving and asking (idle); resolve once more then.
        for _ in 0..2 {
            let actor = match self.target(c.room).await? {
                Target::Here(actor) => actor,
                Target::Node(node) => {
                    let op = RoomOp::Join {
                        room: c.room,
                        resume: c.resume,
                    };
                    self.remote(&node, me, c.rid, op)?;
                    self.joined.retain(|j| j.room != c.room);
                    self.joined.push(JoinedRoom {
                        room: c.room,
                        actor: None,
                    });
                    return Ok(());
                }
            };
            let join = Join {
                rid: c.rid,
                conn: self.id,
                user: me,
                out: self.out.clone().into(),
                resume: c.resume,
            };
            match actor.ask(join).await {
                Ok(_) => {
                    self.joined.retain(|j| j.room != c.room);
                    self.joined.push(JoinedRoom {
                        room: c.room,
                        actor: Some(actor),
                    });
                    return Ok(());
                }
                Err(kameo::error::SendError::HandlerError(code)) => return Err(code),
                Err(_) => continue,
            }
        }
        Err(ErrorCode::Internal)
    }

    async fn leave(&mut self, me: UserId, c: p::Leave) -> Result<(), ErrorCode> {
        match self.target(c.room).await? {
            Target::Here(actor) => {
                actor.ask(Leave { user: me }).await.map_err(send_error)?;
                self.out.frame(&ServerFrame::Left(p::RoomAck {
                    rid: c.rid,
                    room: c.room,
                }));
            }
            // The owner answers `left` (or an error).
            Target::Node(node) => self.remote(&node, me, c.rid, RoomOp::Leave { room: c.room })?,
        }
        self.joined.retain(|j| j.room != c.room);
        self.written.retain(|(room, _)| *room != c.room);
        Ok(())
    }

    async fn invite(&mut self, me: UserId, c: p::Invite) -> Result<(), ErrorCode> {
        match self.target(c.room).await? {
            Target::Here(actor) => {
                actor
                    .ask(Invite {
                        by: me,
                        user: c.user,
                    })
                    .await
                    .map_err(send_error)?;
                self.out.frame(&ServerFrame::Invited(p::RoomAck {
                    rid: c.rid,
                    room: c.room,
                }));
                Ok(())
            }
            Target::Node(node) => {
                let op = RoomOp::Invite {
                    room: c.room,
                    user: c.user,
                };
                self.remote(&node, me, c.rid, op)
            }
        }
    }

    async fn open_direct(&mut self, me: UserId, c: p::OpenDirect) -> Result<(), ErrorCode> {
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
        self.out.frame(&ServerFrame::DirectOpened(p::RoomReply {
            rid: c.rid,
            room,
        }));
        Ok(())
    }

    async fn send(&mut self, me: UserId, c: p::Send) -> Result<(), ErrorCode> {
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
                self.hub.store.find_cmid(c.room, me, &c.cmid),
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
            self.out.frame(&ServerFrame::Sent(p::Sent {
                rid: c.rid,
                room: c.room,
                cmid: c.cmid,
                pos,
                duplicate: true,
            }));
            return Ok(());
        }
        let actor = match self.send_target(c.room).await? {
            Target::Here(actor) => actor,
            Target::Node(node) => {
                let op = RoomOp::Post {
                    room: c.room,
                    cmid: c.cmid,
                    text: c.text,
                };
                return self.remote(&node, me, c.rid, op);
            }
        };
        let mut post = Post {
            rid: c.rid,
            user: me,
            out: self.out.clone().into(),
            cmid: c.cmid,
            text: c.text,
            received,
            checked: false,
        };
        // Waits while the room's mailbox is full: backpressure on this sender only.
        match actor.tell(post).await {
            Ok(()) => return Ok(()),
            Err(kameo::error::SendError::ActorNotRunning(p)) => post = p,
            Err(_) => return Err(ErrorCode::Internal),
        }
        // The room stopped meanwhile (idle, moved): once more, wherever it is now.
        match self.send_target(c.room).await? {
            Target::Here(actor) => actor.tell(post).await.map_err(internal),
            Target::Node(_) => Err(ErrorCode::Busy),
        }
    }

    /// Where a send goes: the joined room's actor (or owner), else the room's, joined or not.
    async fn send_target(&mut self, room: RoomId) -> Result<Target, ErrorCode> {
        match self.joined_room(room).await {
            Ok(target) => Ok(target),
            Err(_) => self.target(room).await,
        }
    }

    async fn history(&mut self, me: UserId, c: p::History) -> Result<(), ErrorCode> {
        let (messages, more) =
            queries::history_page(&self.hub, me, c.room, c.before, c.after, c.limit).await?;
        self.out.frame(&ServerFrame::History(p::HistoryPage {
            rid: c.rid,
            room: c.room,
            messages,
            more,
        }));
        Ok(())
    }

    /// Presence is visible only between users who share a room.
    async fn check_presence_allowed(
        &mut self,
        me: UserId,
        users: &[UserId],
    ) -> Result<(), ErrorCode> {
        let hub = self.hub.clone();
        if users.len() > hub.config.limits.max_presence_users as usize {
            return Err(ErrorCode::InvalidArgument);
        }
        for &user in users {
            if user != me && !hub.store.shares_room(me, user).await.map_err(internal)? {
                return Err(ErrorCode::Forbidden);
            }
        }
        Ok(())
    }
}
