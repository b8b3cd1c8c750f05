//! `RoomActor`: the owner of one active room. It alone assigns positions, so a room's messages
//! have one order; it fans each event out encoded once, keeps the recent buffer for resume,
//! and hands messages to the write-behind.
//!
//! # Layout
//! - [`command`]: `RoomCommand`, the room commands, and `Caller`, who sent one.
//! - `commands`: how the room handles and answers each command.
//! - `post`: a post's stages (admit, repeat, check, allow, sequence, submit, fan out), for
//!   messages and for the changes to them alike.
//! - `attach`: posts that reference attachments, checked off the actor before they get a
//!   position; a connection's later posts wait behind such a check.
//! - `targets`: the messages edits, deletes, reactions and replies were checked against.
//! - `work`: store work the room runs off its actor, and the write-behind's acknowledgements.
//! - `control`: messages about the room's life (retire, fault injection).
//! - [`recent`]: the recent buffer. `supervisor`: starting and stopping rooms. `directory`:
//!   the active rooms. `rooms`: [`Rooms`], what the rooms of a node share.

mod attach;
pub mod command;
mod commands;
mod control;
mod directory;
mod post;
mod recent;
mod rooms;
mod supervisor;
mod targets;
mod work;

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::{Arc, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use kameo::error::{ActorStopReason, PanicError};
use kameo::mailbox::{MailboxReceiver, Signal};
use kameo::prelude::*;
use switchboard_engine::domain::{Role, RoomInfo};
use switchboard_engine::protocol::{self as p, ServerFrame};
use switchboard_engine::ring::NodeId;
use switchboard_engine::{ConnId, Position, UserId};
use switchboard_persistence::{HistoryQuery, StoreError};
use tokio::sync::mpsc;

use crate::error::{Busy, Refused};
use crate::metrics as names;
use crate::outbound::{DIRECT_FAN_OUT, Event, Outbound};
pub use command::{Caller, Command, RoomCommand};
pub use control::Retire;
pub use directory::Directory;
pub use recent::{Recent, Since};
pub use rooms::Rooms;
pub use supervisor::{Deliver, RoomSupervisor, StopRoom, SupervisorArgs};
use work::{Ack, WorkSet};

/// What a room needs to start; cloned for every restart.
#[derive(Clone)]
pub struct RoomArgs {
    pub info: RoomInfo,
    pub rooms: Weak<Rooms>,
}

#[derive(Clone, Debug, thiserror::Error)]
pub enum RoomStartError {
    #[error("node is shutting down")]
    ShuttingDown,
    #[error("store: {0}")]
    Store(String),
}

impl From<StoreError> for RoomStartError {
    fn from(e: StoreError) -> Self {
        RoomStartError::Store(e.to_string())
    }
}

/// A subscribed connection on this node.
struct Subscriber {
    conn: ConnId,
    user: UserId,
    out: Outbound,
}

/// The subscribed connections on one other node: each event goes there once, naming them.
#[derive(Default)]
struct RemoteGroup {
    subs: Vec<(ConnId, UserId)>,
    /// `subs`' connection ids, shared by every delivery until the group changes.
    conns: Option<Arc<[ConnId]>>,
}

impl RemoteGroup {
    fn conns(&mut self) -> Arc<[ConnId]> {
        self.conns
            .get_or_insert_with(|| self.subs.iter().map(|(c, _)| *c).collect())
            .clone()
    }

    fn retain(&mut self, keep: impl Fn(ConnId, UserId) -> bool) {
        let before = self.subs.len();
        self.subs.retain(|&(c, u)| keep(c, u));
        if self.subs.len() != before {
            self.conns = None;
        }
    }
}

/// Which subscribers an event is for.
#[derive(Clone, Copy)]
enum To<'a> {
    All,
    AllBut(UserId),
    /// Everyone but one connection: of this node (`None`) or of another one. Connection ids
    /// are numbered by each node, so an id alone could name a connection on every node.
    AllButConn(Option<&'a NodeId>, ConnId),
}

impl<'a> To<'a> {
    /// Whether the subscriber `conn` of `user`, on `node` (`None`: this one), gets the event.
    fn includes(self, node: Option<&NodeId>, conn: ConnId, user: UserId) -> bool {
        match self {
            To::All => true,
            To::AllBut(u) => u != user,
            To::AllButConn(n, c) => (n, c) != (node, conn),
        }
    }

    /// Everyone but the caller's connection, wherever it is.
    fn all_but(caller: &'a Caller) -> To<'a> {
        To::AllButConn(caller.reply.node(), caller.conn)
    }
}

pub struct RoomActor {
    rooms: Arc<Rooms>,
    info: RoomInfo,
    members: HashMap<UserId, Role>,
    subscribers: Vec<Subscriber>,
    remote: HashMap<NodeId, RemoteGroup>,
    epoch: u64,
    last_seq: u64,
    /// Highest seq of this incarnation's epoch known durable; raised by write-behind acks.
    durable_seq: u64,
    /// The write-behind's acknowledgements of this incarnation's messages. Unbounded, but each
    /// message sends at most one, and messages in the write-behind are bounded by its budget.
    acks: mpsc::UnboundedSender<Ack>,
    acks_rx: mpsc::UnboundedReceiver<Ack>,
    /// Store work in flight, each with its caller.
    work: WorkSet,
    /// Resends answered once their original is durable: (its seq, caller, answer).
    awaiting_durable: Vec<(u64, Caller, p::Sent)>,
    /// Posts waiting behind their connection's post whose attachments are being checked.
    held: attach::Held,
    /// The messages changes and replies were checked against lately, as they are now.
    targets: targets::Targets,
    recent: Recent,
    /// When the last subscriber left.
    idle_since: Option<tokio::time::Instant>,
    /// Told once this incarnation has fully stopped (see `Retire`).
    retired: Option<tokio::sync::oneshot::Sender<()>>,
    /// A newer owner fenced our messages; we are stopping.
    deposed: bool,
    /// This incarnation, to name itself to the supervisor.
    me: WeakActorRef<Self>,
    /// Users typing now, with when that lapses unless repeated.
    typing: Vec<(UserId, tokio::time::Instant)>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Actor for RoomActor {
    type Args = RoomArgs;
    type Error = RoomStartError;

    async fn on_start(args: RoomArgs, me: ActorRef<Self>) -> Result<Self, RoomStartError> {
        let rooms = args.rooms.upgrade().ok_or(RoomStartError::ShuttingDown)?;
        let room = args.info.id;
        // Whatever an earlier incarnation accepted becomes durable before we read the store,
        // so the buffer and the store together hold the whole history.
        rooms.journal.sync().await;
        let members = rooms.store.members(room).await?.into_iter().collect();
        // In a cluster, the room's previous owner stops serving it and makes what it accepted
        // durable before we take the next epoch and read the store.
        if let Some(peers) = rooms.peers()
            && let Some(previous) = rooms.store.room_owner(room).await?
        {
            let previous = NodeId(previous);
            if previous != *peers.me() && peers.is_live(&previous) {
                peers.release(&previous, room).await;
            }
        }
        let epoch = rooms.store.next_epoch(room, rooms.node_name()).await?;
        let capacity = rooms.config.room_buffer;
        let tail = rooms
            .store
            .history(
                room,
                HistoryQuery {
                    limit: capacity as u32,
                    changes: true,
                    ..Default::default()
                },
            )
            .await?;
        let mut recent = Recent::new(capacity);
        if tail.len() >= capacity {
            recent.set_incomplete();
        }
        for m in tail {
            let (pos, sender) = (m.pos, m.sender);
            let cmid = m.cmid.clone();
            let event = Event::new(Some((room, pos)), &p::event_frame(m));
            recent.push(pos, sender, &cmid, event);
        }
        metrics::gauge!(names::ROOMS_ACTIVE).increment(1);
        tracing::debug!(%room, epoch, "room active");
        let (acks, acks_rx) = mpsc::unbounded_channel();
        Ok(RoomActor {
            rooms,
            info: args.info,
            members,
            subscribers: Vec::new(),
            remote: HashMap::new(),
            epoch,
            last_seq: 0,
            durable_seq: 0,
            acks,
            acks_rx,
            work: WorkSet::default(),
            awaiting_durable: Vec::new(),
            held: attach::Held::default(),
            targets: targets::Targets::default(),
            recent,
            idle_since: Some(tokio::time::Instant::now()),
            retired: None,
            deposed: false,
            me: me.downgrade(),
            typing: Vec::new(),
        })
    }

    async fn next(
        &mut self,
        actor: WeakActorRef<Self>,
        mailbox: &mut MailboxReceiver<Self>,
    ) -> Result<Option<Signal<Self>>, RoomStartError> {
        // Everything but the mailbox is handled here, in the room's own task, between messages.
        loop {
            let idle_deadline = self.idle_since.map(|t| t + self.rooms.config.room_idle);
            let typing_deadline = self.typing.iter().map(|(_, t)| *t).min();
            let now = tokio::time::Instant::now;
            tokio::select! {
                signal = mailbox.recv() => return Ok(signal),
                Some(ack) = self.acks_rx.recv() => self.acked(ack),
                Some((caller, work)) = self.work.next(), if !self.work.is_empty() => {
                    self.work_done(caller, work);
                }
                _ = tokio::time::sleep_until(typing_deadline.unwrap_or_else(now)), if typing_deadline.is_some() => {
                    let now = now();
                    let lapsed: Vec<UserId> = self.typing.iter().filter(|(_, t)| *t <= now).map(|(u, _)| *u).collect();
                    for user in lapsed {
                        self.stop_typing(user);
                    }
                }
                _ = tokio::time::sleep_until(idle_deadline.unwrap_or_else(now)), if idle_deadline.is_some() => {
                    // Ask the supervisor to stop us; it also forgets us, so no one resolves a
                    // stopping room. Until then, keep serving.
                    self.idle_since = None;
                    if let Some(actor) = actor.upgrade() {
                        self.rooms.room_idle(self.info.id, actor.id());
                    }
                }
            }
        }
    }

    async fn on_panic(
        &mut self,
        _: WeakActorRef<Self>,
        err: PanicError,
    ) -> Result<ControlFlow<ActorStopReason>, RoomStartError> {
        tracing::error!(room = %self.info.id, error = %err, "room actor panicked; restarting");
        metrics::counter!(names::ROOM_RESTARTS).increment(1);
        self.reset_subscribers();
        Ok(ControlFlow::Break(ActorStopReason::Panicked(err)))
    }

    async fn on_stop(
        &mut self,
        _: WeakActorRef<Self>,
        _: ActorStopReason,
    ) -> Result<(), RoomStartError> {
        self.reset_subscribers();
        self.abandon_waiting();
        metrics::gauge!(names::ROOMS_ACTIVE).decrement(1);
        if let Some(done) = self.retired.take() {
            let _ = done.send(());
        }
        Ok(())
    }

    async fn on_undelivered(
        &mut self,
        _: ActorStopReason,
        undelivered: Vec<kameo::message::BoxMessage<Self>>,
    ) -> Result<(), RoomStartError> {
        // Commands that arrived after the room decided to stop: their callers retry (a send
        // with the same cmid); the next incarnation, here or elsewhere, takes them.
        for message in undelivered {
            if let Ok(cmd) = message.as_any().downcast::<Command>() {
                cmd.refuse(Refused::Busy(Busy::RoomMoving));
            }
        }
        Ok(())
    }
}

impl RoomActor {
    /// Tells every subscriber this incarnation is gone: they rejoin with their last position.
    fn reset_subscribers(&mut self) {
        let event = Event::new(
            None,
            &ServerFrame::RoomReset(p::RoomReset { room: self.info.id }),
        );
        for s in self.subscribers.drain(..) {
            s.out.event(&event);
        }
        let link = self.rooms.peers().cloned();
        for (node, mut group) in self.remote.drain() {
            if let Some(link) = &link {
                link.reset(&node, group.conns(), self.info.id);
            }
        }
    }

    /// Queues `event` to the subscribers `to` names: on other nodes first, one envelope per
    /// node (their forwarders publish while this node writes), then here, into each
    /// connection's queue or straight to its socket (dropping those that are gone or slow).
    fn fan_out(&mut self, event: &Arc<Event>, to: To<'_>) {
        let mut delivered = 0u64;
        let mut changed = false;
        if let Some(link) = self.rooms.peers() {
            let room = self.info.id;
            self.remote.retain(|node, group| {
                if !link.is_live(node) {
                    // That node left the cluster: its connections are gone.
                    changed = true;
                    return false;
                }
                let conns = match to {
                    To::All => group.conns(),
                    _ => group
                        .subs
                        .iter()
                        .filter(|&&(c, u)| to.includes(Some(node), c, u))
                        .map(|(c, _)| *c)
                        .collect(),
                };
                if conns.is_empty() {
                    return true;
                }
                delivered += conns.len() as u64;
                if link.deliver(node, conns, event) {
                    return true;
                }
                // That node is not keeping up: its subscribers start over from their positions.
                link.reset(node, group.conns(), room);
                changed = true;
                false
            });
        }
        let before = self.subscribers.len();
        // Writing to the sockets here saves a task wake per subscriber, but keeps the room
        // busy for one `send` each: with commands waiting, the connections write, on every
        // core. Only wide rooms write straight (see `DIRECT_FAN_OUT`).
        let direct = self.subscribers.len() >= DIRECT_FAN_OUT && self.nothing_waits();
        self.subscribers.retain(|s| {
            if !to.includes(None, s.conn, s.user) {
                return true;
            }
            delivered += 1;
            if direct {
                s.out.event(event)
            } else {
                s.out.queue_event(event)
            }
        });
        changed |= self.subscribers.len() < before;
        names::hot().deliveries.increment(delivered);
        if changed {
            self.note_subscribers_changed();
        }
    }

    /// Whether no command waits in the room's mailbox.
    fn nothing_waits(&self) -> bool {
        self.me.upgrade().is_some_and(|me| {
            let mailbox = me.mailbox_sender();
            mailbox.capacity() == mailbox.max_capacity()
        })
    }

    /// Records that `user` types (until the TTL lapses) or stopped, and tells the others.
    fn set_typing(&mut self, user: UserId, active: bool) {
        self.typing.retain(|(u, _)| *u != user);
        if active {
            let until = tokio::time::Instant::now() + self.rooms.config.typing_ttl;
            self.typing.push((user, until));
        }
        let event = Event::new(
            None,
            &ServerFrame::Typing(p::TypingEvent {
                room: self.info.id,
                user,
                active,
            }),
        );
        self.fan_out(&event, To::AllBut(user));
    }

    /// Ends `user`'s typing, if any: it lapsed, or the user's last connection left.
    fn stop_typing(&mut self, user: UserId) {
        if self.typing.iter().any(|(u, _)| *u == user) {
            self.set_typing(user, false);
        }
    }

    fn is_subscribed(&self, user: UserId) -> bool {
        self.subscribers.iter().any(|s| s.user == user)
            || self
                .remote
                .values()
                .any(|g| g.subs.iter().any(|(_, u)| *u == user))
    }

    fn has_subscribers(&self) -> bool {
        !self.subscribers.is_empty() || self.remote.values().any(|g| !g.subs.is_empty())
    }

    /// Stops sending to the connection (here or on another node).
    fn unsubscribe(&mut self, keep: impl Fn(ConnId, UserId) -> bool) {
        self.subscribers.retain(|s| keep(s.conn, s.user));
        for group in self.remote.values_mut() {
            group.retain(&keep);
        }
        self.remote.retain(|_, g| !g.subs.is_empty());
        self.note_subscribers_changed();
    }

    fn note_subscribers_changed(&mut self) {
        self.idle_since = if self.has_subscribers() {
            None
        } else {
            Some(tokio::time::Instant::now())
        };
    }

    /// Announces a membership change, unless the room is too big for such events.
    fn announce_member(&mut self, frame: ServerFrame) {
        if self.members.len() <= self.rooms.config.member_events_max {
            self.broadcast(frame);
        }
    }

    fn broadcast(&mut self, frame: ServerFrame) {
        let event = Event::new(None, &frame);
        self.fan_out(&event, To::All);
    }

    /// Which positions are durable right now: earlier epochs entirely, this epoch up to the
    /// highest acknowledged seq. A copy, so it can be used while `recent` is borrowed.
    fn durable(&self) -> impl Fn(Position) -> bool + use<> {
        let (epoch, seq) = (self.epoch, self.durable_seq);
        move |pos| pos.epoch < epoch || pos.seq <= seq
    }

    fn is_durable(&self, pos: Position) -> bool {
        self.durable()(pos)
    }

    /// The store fenced one of this incarnation's messages: a newer owner has the room. Stop,
    /// so the subscribers rejoin wherever it is served now.
    fn deposed(&mut self) {
        if self.deposed {
            return;
        }
        self.deposed = true;
        // The supervisor stops us now; the idle timer must not ask again.
        self.idle_since = None;
        tracing::info!(room = %self.info.id, epoch = self.epoch, "deposed by a newer owner");
        if let Some(me) = self.me.upgrade() {
            self.rooms.room_idle(self.info.id, me.id());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Connection ids are numbered by each node: "all but the caller's connection" leaves out
    /// only that connection on the caller's node, never the same number on another node.
    #[test]
    fn all_but_a_connection_leaves_out_that_connection_on_its_node_only() {
        let (a, b) = (NodeId("node-a".into()), NodeId("node-b".into()));
        let (conn, user) = (ConnId(3), UserId(1));
        let remote_caller = To::AllButConn(Some(&a), conn);
        assert!(!remote_caller.includes(Some(&a), conn, user));
        assert!(remote_caller.includes(Some(&b), conn, user));
        assert!(
            remote_caller.includes(None, conn, user),
            "this node's conn 3"
        );
        assert!(remote_caller.includes(Some(&a), ConnId(4), user));
        let local_caller = To::AllButConn(None, conn);
        assert!(!local_caller.includes(None, conn, user));
        assert!(local_caller.includes(Some(&a), conn, user));
    }
}
