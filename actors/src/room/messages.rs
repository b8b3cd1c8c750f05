//! The messages a `RoomActor` handles, one struct each, with their handlers.

use std::sync::atomic::Ordering;
use std::time::Instant;

use kameo::prelude::*;
use switchboard_engine::domain::{ChatMessage, Role, RoomInfo, RoomKind};
use switchboard_engine::protocol::{self as p, ResumeOutcome, ServerFrame};
use switchboard_engine::{ConnId, ErrorCode, Position, UserId};
use switchboard_persistence::Outcome;

use super::{RoomActor, Subscriber, To, error, now_ms};
use crate::metrics as names;
use crate::outbound::Event;
use crate::recipient::Recipient;

/// Subscribe a connection (joining a public room makes the user a member). The room queues
/// the `joined` reply itself, then the resume frames, so they precede any live event.
pub struct Join {
    pub rid: u64,
    pub conn: ConnId,
    pub user: UserId,
    pub out: Recipient,
    pub resume: Option<Position>,
}

impl Message<Join> for RoomActor {
    type Reply = Result<RoomInfo, ErrorCode>;

    async fn handle(&mut self, j: Join, _: &mut Context<Self, Self::Reply>) -> Self::Reply {
        self.admit(j.user).await?;
        names::hot().joins.increment(1);
        let head = self.head();
        j.out.frame(&ServerFrame::Joined(p::Joined {
            rid: j.rid,
            room: self.info.clone(),
            head,
        }));
        if let Some(from) = j.resume {
            let missed = self.missed_since(from).await.unwrap_or_else(|e| {
                crate::refusal::note(
                    crate::refusal::Refusal::StoreError,
                    format_args!("room {}: resume read failed: {e}", self.info.id),
                );
                None
            });
            let (outcome, events) = match missed {
                Some(events) => (ResumeOutcome::Recovered, events),
                None => (ResumeOutcome::Reload, Vec::new()),
            };
            j.out.frame(&ServerFrame::Resume(p::Resume {
                room: self.info.id,
                outcome,
                missed: events.len() as u32,
                head,
            }));
            for e in &events {
                j.out.event(e);
            }
        }
        self.unsubscribe(|conn, _| conn != j.conn);
        match j.out {
            Recipient::Local(out) => self.subscribers.push(Subscriber {
                conn: j.conn,
                user: j.user,
                out,
            }),
            Recipient::Remote(r) => {
                let group = self.remote.entry(r.node).or_default();
                group.subs.push((j.conn, j.user));
                group.conns = None;
            }
        }
        self.note_subscribers_changed();
        Ok(self.info.clone())
    }
}

/// Give up membership; every connection of the user stops receiving the room.
pub struct Leave {
    pub user: UserId,
}

impl Message<Leave> for RoomActor {
    type Reply = Result<(), ErrorCode>;

    async fn handle(&mut self, l: Leave, _: &mut Context<Self, Self::Reply>) -> Self::Reply {
        if self.info.kind == RoomKind::Direct {
            return Err(ErrorCode::Forbidden);
        }
        if self.members.remove(&l.user).is_none() {
            return Err(ErrorCode::Forbidden);
        }
        self.hub
            .store
            .remove_member(self.info.id, l.user)
            .await
            .map_err(|_| ErrorCode::Internal)?;
        self.announce_member(ServerFrame::MemberLeft(p::MemberEvent {
            room: self.info.id,
            user: l.user,
        }));
        self.unsubscribe(|_, user| user != l.user);
        self.stop_typing(l.user);
        Ok(())
    }
}

/// A connection closed: stop sending it events.
pub struct Unsubscribe {
    pub conn: ConnId,
}

impl Message<Unsubscribe> for RoomActor {
    type Reply = ();

    async fn handle(&mut self, u: Unsubscribe, _: &mut Context<Self, ()>) {
        let user = self
            .subscribers
            .iter()
            .map(|s| (s.conn, s.user))
            .chain(self.remote.values().flat_map(|g| g.subs.iter().copied()))
            .find(|(c, _)| *c == u.conn)
            .map(|(_, user)| user);
        self.unsubscribe(|conn, _| conn != u.conn);
        // The typer's last connection left: nobody will send `active: false` for it.
        if let Some(user) = user.filter(|u| !self.is_subscribed(*u)) {
            self.stop_typing(user);
        }
    }
}

/// Add `user` to the room: admins and owners of private rooms, any member of a public one.
pub struct Invite {
    pub by: UserId,
    pub user: UserId,
}

impl Message<Invite> for RoomActor {
    type Reply = Result<(), ErrorCode>;

    async fn handle(&mut self, i: Invite, _: &mut Context<Self, Self::Reply>) -> Self::Reply {
        let role = self.members.get(&i.by).ok_or(ErrorCode::Forbidden)?;
        let allowed = match self.info.kind {
            RoomKind::Public => true,
            RoomKind::Private => role.can_invite(),
            RoomKind::Direct => false,
        };
        if !allowed {
            return Err(ErrorCode::Forbidden);
        }
        if self.members.contains_key(&i.user) {
            return Ok(());
        }
        if !self.hub.introduction(i.by) {
            return Err(ErrorCode::RateLimited);
        }
        let store = &self.hub.store;
        match store.user(i.user).await {
            Ok(Some(_)) => {}
            Ok(None) => return Err(ErrorCode::NotFound),
            Err(_) => return Err(ErrorCode::Internal),
        }
        store
            .add_member(self.info.id, i.user, Role::Member)
            .await
            .map_err(|_| ErrorCode::Internal)?;
        self.members.insert(i.user, Role::Member);
        self.announce_member(ServerFrame::MemberJoined(p::MemberEvent {
            room: self.info.id,
            user: i.user,
        }));
        self.hub
            .announce_room_added(i.user, self.info.clone(), i.by)
            .await;
        Ok(())
    }
}

/// Post a message. The room answers on `out`: `sent` once durable, or an `error`.
pub struct Post {
    pub rid: u64,
    pub user: UserId,
    pub out: Recipient,
    pub cmid: String,
    pub text: String,
    pub received: Instant,
    /// Set once the store said this cmid is not stored yet (after the room found it among
    /// recently trimmed ones): it is then a new message.
    pub checked: bool,
}

impl Message<Post> for RoomActor {
    type Reply = ();

    async fn handle(&mut self, m: Post, ctx: &mut Context<Self, ()>) {
        let room = self.info.id;
        if !self.members.contains_key(&m.user) {
            m.out.frame(&error(
                m.rid,
                ErrorCode::Forbidden,
                "not a member of this room",
            ));
            return;
        }
        if let Some(pos) = self.recent.find_cmid(m.user, &m.cmid) {
            let sent = ServerFrame::Sent(p::Sent {
                rid: m.rid,
                room,
                cmid: m.cmid,
                pos,
                duplicate: true,
            });
            if self.durable()(pos) {
                m.out.frame(&sent);
            } else {
                let (journal, durable) = (self.hub.journal.clone(), self.durable_seq.clone());
                tokio::spawn(async move {
                    journal.sync().await;
                    // Committed, but stored only if not fenced by a newer owner.
                    if durable.load(Ordering::Acquire) >= pos.seq {
                        m.out.frame(&sent);
                    } else {
                        m.out.frame(&error(m.rid, ErrorCode::Busy, MOVED));
                    }
                });
            }
            return;
        }
        if !m.checked && self.recent.maybe_trimmed(m.user, &m.cmid) {
            // The original may have left the buffer after the sender's store check missed it
            // (it was not committed then): ask the store again, off the actor.
            let (store, me) = (self.hub.store.clone(), ctx.actor_ref().downgrade());
            tokio::spawn(async move {
                match store.find_cmid(room, m.user, &m.cmid).await {
                    Ok(Some(pos)) => {
                        m.out.frame(&ServerFrame::Sent(p::Sent {
                            rid: m.rid,
                            room,
                            cmid: m.cmid,
                            pos,
                            duplicate: true,
                        }));
                    }
                    Ok(None) => {
                        let out = m.out.clone();
                        let rid = m.rid;
                        let retry = Post { checked: true, ..m };
                        let told = match me.upgrade() {
                            Some(room) => room.tell(retry).await.is_ok(),
                            None => false,
                        };
                        if !told {
                            out.frame(&error(rid, ErrorCode::Busy, MOVED));
                        }
                    }
                    Err(_) => {
                        m.out.frame(&error(
                            m.rid,
                            ErrorCode::Busy,
                            "storage is behind; retry with the same cmid",
                        ));
                    }
                }
            });
            return;
        }
        let Ok(permit) = self.hub.journal.reserve(m.text.len() + m.cmid.len()) else {
            m.out.frame(&error(
                m.rid,
                ErrorCode::Busy,
                "storage is behind; retry with the same cmid",
            ));
            return;
        };
        self.last_seq += 1;
        let pos = Position::new(self.epoch, self.last_seq);
        let frame = ServerFrame::Message(ChatMessage {
            room,
            pos,
            sender: m.user,
            cmid: m.cmid,
            text: m.text,
            ts: now_ms(),
        });
        let event = Event::new(Some((room, pos)), &frame);
        let ServerFrame::Message(msg) = frame else {
            unreachable!("built as a message above")
        };
        self.recent.push(pos, m.user, &msg.cmid, event.clone());
        self.fan_out(&event, To::All);
        let hot = names::hot();
        hot.messages.increment(1);
        hot.send_to_deliver
            .record(m.received.elapsed().as_secs_f64());

        let (durable, out, rid, received) = (self.durable_seq.clone(), m.out, m.rid, m.received);
        let me = ctx.actor_ref().downgrade();
        self.hub.journal.submit(
            permit,
            msg,
            Box::new(move |stored: &ChatMessage, outcome| {
                if outcome == Outcome::Fenced {
                    // Another node took the room meanwhile: this copy was never stored, and
                    // this incarnation must stop taking sends.
                    out.frame(&error(rid, ErrorCode::Busy, MOVED));
                    tokio::spawn(async move {
                        if let Some(room) = me.upgrade() {
                            let _ = room.tell(Deposed).await;
                        }
                    });
                    return;
                }
                durable.fetch_max(stored.pos.seq, Ordering::Release);
                out.frame(&ServerFrame::Sent(p::Sent {
                    rid,
                    room: stored.room,
                    cmid: stored.cmid.clone(),
                    pos: stored.pos,
                    duplicate: false,
                }));
                metrics::histogram!(names::SEND_TO_STORED_SECONDS)
                    .record(received.elapsed().as_secs_f64());
            }),
        );
        let durable = self.durable();
        self.recent.trim(durable);
    }
}

/// Typing started or stopped; other members' connections hear of it.
pub struct Typing {
    pub user: UserId,
    pub active: bool,
}

impl Message<Typing> for RoomActor {
    type Reply = ();

    async fn handle(&mut self, t: Typing, _: &mut Context<Self, ()>) {
        if !self.members.contains_key(&t.user) {
            return;
        }
        self.set_typing(t.user, t.active);
    }
}

/// A member's read watermark rose (already stored); everyone else subscribed hears of it.
pub struct Receipt {
    pub conn: ConnId,
    pub user: UserId,
    pub pos: Position,
}

impl Message<Receipt> for RoomActor {
    type Reply = ();

    async fn handle(&mut self, r: Receipt, _: &mut Context<Self, ()>) {
        if !self.members.contains_key(&r.user) {
            return;
        }
        let event = Event::new(
            None,
            &ServerFrame::ReadReceipt(p::ReadReceipt {
                room: self.info.id,
                user: r.user,
                pos: r.pos,
            }),
        );
        self.fan_out(&event, To::AllButConn(r.conn));
    }
}

/// Stop this incarnation once everything before this message is handled; `done` is told
/// after the stop completes.
pub struct Retire {
    pub done: tokio::sync::oneshot::Sender<()>,
}

impl Message<Retire> for RoomActor {
    type Reply = ();

    async fn handle(&mut self, r: Retire, ctx: &mut Context<Self, ()>) {
        self.retired = Some(r.done);
        ctx.stop();
    }
}

const MOVED: &str = "room moved to another node; retry with the same cmid";

/// The store fenced one of this incarnation's messages: a newer owner has the room. Stop, so
/// the subscribers rejoin wherever it is served now.
pub struct Deposed;

impl Message<Deposed> for RoomActor {
    type Reply = ();

    async fn handle(&mut self, _: Deposed, ctx: &mut Context<Self, ()>) {
        if !self.deposed {
            self.deposed = true;
            // The supervisor stops us now; the idle timer must not ask again.
            self.idle_since = None;
            tracing::info!(room = %self.info.id, epoch = self.epoch, "deposed by a newer owner");
            self.hub.room_idle(self.info.id, ctx.actor_ref().id());
        }
    }
}

/// The ring changed: forget subscribers on nodes that are no longer live.
pub struct DropNodes(pub std::sync::Arc<switchboard_engine::ring::Ring>);

impl Message<DropNodes> for RoomActor {
    type Reply = ();

    async fn handle(&mut self, d: DropNodes, _: &mut Context<Self, ()>) {
        let before = self.remote.len();
        self.remote.retain(|node, _| d.0.contains(node));
        if self.remote.len() != before {
            self.note_subscribers_changed();
        }
    }
}

/// Fault injection for tests: the room panics while handling this.
#[cfg(feature = "testing")]
pub struct InjectPanic;

#[cfg(feature = "testing")]
impl Message<InjectPanic> for RoomActor {
    type Reply = ();

    async fn handle(&mut self, _: InjectPanic, _: &mut Context<Self, ()>) {
        panic!("injected panic in room {}", self.info.id);
    }
}
