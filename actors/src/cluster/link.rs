//! `ClusterLink`: this node's side of routing, forwarding and handoff.
//!
//! - **Routing.** [`ClusterLink::owner`] reads the ring: a room is served here or by exactly
//!   one other node. Commands for another node's room go to its [`Forwarder`].
//! - **Forwarding.** The owner's fan-out hands each other node one `Deliver` per event, naming
//!   that node's subscribed connections; this node's inbox task gives the shared frame to each
//!   of them. Replies travel the same way, addressed to one connection.
//! - **Handoff.** A node taking a room asks its previous owner (recorded in the store) to
//!   `Release` it first: the old owner stops the room, makes what it accepted durable, and
//!   passes later commands for it on to the new owner until its own ring catches up.
//! - **One reply per command.** A forwarded command waits in [`Awaited`] for its reply, which
//!   comes back carrying its token; the client gets that reply, or 4001 `busy` when it does not
//!   come within `reply_timeout`, the target leaves the ring, or the command's batch could not
//!   be published (or reached nobody: see [`Forwarder`] for how long a batch waits for its
//!   receiver to subscribe). A reply that comes after the `busy` is dropped.
//! - **Recovery.** When the ring moves a room, or batches from its owner were lost (a skipped
//!   sequence number, or the inbox subscription broke with Redis), the affected connections
//!   get `room_reset` and rejoin from their positions: no gap, nothing twice.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use switchboard_engine::domain::PresenceStatus;
use switchboard_engine::protocol::{self as p, ServerFrame};
use switchboard_engine::ring::{NodeId, Ring};
use switchboard_engine::{ConnId, ErrorCode, RoomId, UserId};
use switchboard_persistence::cluster::bus::Bus;
use tokio::sync::{oneshot, watch};

use super::awaited::{Awaited, Entry};
use super::forward::Forwarder;
use super::wire::{Envelope, Forwarded};
use crate::config::ForwardLimits;
use crate::metrics as names;
use crate::outbound::{Event, Notice, Outbound, Outgoing};
use crate::peers::{Peers, UserOp};
use crate::room::RoomCommand;
use crate::router::{Forward, Router};
use crate::supervised::{Policy, Supervisor, Task};

/// How long a node waits for another's answer: a room's release, a user's status.
pub(super) const ANSWER_TIMEOUT: Duration = Duration::from_secs(1);
/// Pause before subscribing to the inbox again after Redis went away.
pub(super) const RESUBSCRIBE_DELAY: Duration = Duration::from_millis(250);

/// What a node asked for and waits on.
pub(super) enum Answer {
    Released,
    Status(PresenceStatus),
}

pub struct ClusterLink {
    pub(super) me: NodeId,
    pub(super) bus: Arc<dyn Bus>,
    pub(super) ring: watch::Receiver<Ring>,
    pub(super) limits: ForwardLimits,
    pub(super) forwarders: Mutex<HashMap<NodeId, Arc<Forwarder>>>,
    /// This node's connections that other nodes may send frames to (the inbox hands each its
    /// frames). What each joined elsewhere is the connection's own business (`Notice`).
    pub(super) conns: RwLock<HashMap<ConnId, Outbound>>,
    /// Rooms handed to another node that our ring still gives us; cleared when it changes.
    pub(super) released: Mutex<HashMap<RoomId, NodeId>>,
    /// Handoffs and presence questions waiting for their answer, by token.
    pub(super) pending: Mutex<HashMap<u64, oneshot::Sender<Answer>>>,
    /// Forwarded client commands waiting for their reply, by token.
    pub(super) awaited: Arc<Awaited>,
    pub(super) next_token: AtomicU64,
    /// The node's supervisor, which runs the forwarders too.
    tasks: Supervisor,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(super) fn error(rid: u64, code: ErrorCode, message: &str) -> ServerFrame {
    ServerFrame::Error(p::Error {
        rid: Some(rid),
        code,
        message: message.to_owned(),
    })
}

impl ClusterLink {
    /// Starts the inbox and ring tasks under `tasks`; they end when `router` is gone (the hub
    /// holds it). Commands from other nodes reach this node's rooms through `router`.
    pub fn start(
        me: NodeId,
        bus: Arc<dyn Bus>,
        ring: watch::Receiver<Ring>,
        limits: ForwardLimits,
        router: &Arc<Router>,
        tasks: &Supervisor,
    ) -> Arc<ClusterLink> {
        let link = Arc::new(ClusterLink {
            me,
            bus,
            ring,
            limits,
            forwarders: Mutex::default(),
            conns: RwLock::default(),
            released: Mutex::default(),
            pending: Mutex::default(),
            awaited: Arc::new(Awaited::new(limits.reply_timeout, limits.max_awaited)),
            next_token: AtomicU64::new(1),
            tasks: tasks.clone(),
        });
        let hub = Arc::downgrade(router);
        // Restart: the inbox holds no state but its subscription and the senders' sequence
        // numbers, and a new run subscribes again. What came meanwhile is lost, as when Redis
        // drops the subscription, so a restarted run first recovers the same way: every remote
        // room resumes, and awaited replies are answered `busy`.
        let (l, h, mut started) = (link.clone(), hub.clone(), false);
        tasks.spawn(Task::ClusterInbox, Policy::RESTART, move || {
            let restart = std::mem::replace(&mut started, true);
            let (link, hub) = (l.clone(), h.clone());
            (hub.strong_count() > 0).then_some(async move {
                if restart {
                    link.notify_local(Notice::Lost(None));
                    link.fail_awaited(|_| true);
                }
                link.inbox(hub).await;
            })
        });
        // Fail the node: a ring change applied halfway (rooms that moved not yet stopped) is
        // not applied again by a new run, which starts from the current ring; a node left
        // serving rooms it no longer owns must leave service. It also ends when the view dies
        // (its ring channel closes), which fails the node as well.
        let (l, h) = (link.clone(), hub.clone());
        tasks.spawn(Task::RingFollower, Policy::FailNode, move || {
            (h.strong_count() > 0).then(|| l.clone().follow_ring(h.clone()))
        });
        // Restart: a sweep keeps no state; the awaited table is the link's.
        let l = link.clone();
        tasks.spawn(Task::AwaitedExpiry, Policy::RESTART, move || {
            (hub.strong_count() > 0).then(|| l.clone().expire_awaited(hub.clone()))
        });
        link
    }

    /// Envelopes waiting in the forwarders to every other node (sampled for metrics).
    pub fn forward_queued(&self) -> usize {
        // The forwarders are copied out first: no forwarder's queue is locked under the map.
        let forwarders: Vec<Arc<Forwarder>> = lock(&self.forwarders).values().cloned().collect();
        forwarders.iter().map(|f| f.queued()).sum()
    }

    pub(super) fn forwarder(&self, node: &NodeId) -> Arc<Forwarder> {
        lock(&self.forwarders)
            .entry(node.clone())
            .or_insert_with(|| {
                Forwarder::spawn(
                    self.me.clone(),
                    node.clone(),
                    self.bus.clone(),
                    self.limits,
                    self.awaited.clone(),
                    &self.tasks,
                )
            })
            .clone()
    }

    /// Answers `busy` to the awaited commands whose deadline passed, for as long as the node
    /// lives.
    async fn expire_awaited(self: Arc<Self>, hub: std::sync::Weak<Router>) {
        let mut tick = tokio::time::interval(self.awaited.sweep_every());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while hub.strong_count() > 0 {
            tick.tick().await;
            for entry in self.awaited.expired() {
                entry.answer_busy();
            }
        }
    }

    /// Answers `busy` at once to the awaited commands `lost` says will get no reply.
    pub(super) fn fail_awaited(&self, lost: impl Fn(&Entry) -> bool) {
        for entry in self.awaited.remove_where(|_, e| lost(e)) {
            entry.answer_busy();
        }
    }

    /// Sends `node` the envelope `build` makes around a fresh token, and waits (up to a
    /// second) for the answer carrying that token.
    async fn ask(&self, node: &NodeId, build: impl FnOnce(u64) -> Envelope) -> Option<Answer> {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(token, tx);
        // Control traffic, bounded by its waiting callers: it passes a full queue.
        self.forwarder(node).push_always(build(token));
        let answer = tokio::time::timeout(ANSWER_TIMEOUT, rx).await;
        lock(&self.pending).remove(&token);
        answer.ok().and_then(Result::ok)
    }

    /// A connection of this node closed (it told its rooms elsewhere itself).
    pub fn forget(&self, conn: ConnId) {
        self.conns
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&conn);
    }

    /// Asks a room's owner to forget `conn`, a connection of this node.
    pub(super) fn unsubscribe(&self, conn: ConnId, user: UserId, room: RoomId) -> Envelope {
        Envelope::Command(Forwarded {
            from: self.me.clone(),
            conn,
            user,
            rid: 0,
            token: 0,
            hops: 1,
            room,
            cmd: RoomCommand::Unsubscribe,
        })
    }

    /// Queues `notice` to every connection of this node (in order with its frames).
    pub(super) fn notify_local(&self, notice: Notice) {
        let notice = Arc::new(notice);
        let conns = self.conns.read().unwrap_or_else(|p| p.into_inner());
        for out in conns.values() {
            out.push(Outgoing::Notice(notice.clone()));
        }
    }
    /// Asks `node`, the room's previous owner, to stop serving `room` and make what it
    /// accepted durable. Gives up after a second (a node that does not answer is gone or cut
    /// off; the store's epoch fence covers it).
    async fn release_room(&self, node: &NodeId, room: RoomId) {
        let started = Instant::now();
        let envelope = |token| Envelope::Release {
            from: self.me.clone(),
            room,
            token,
        };
        let answered = matches!(self.ask(node, envelope).await, Some(Answer::Released));
        metrics::counter!(names::ROOM_HANDOFFS).increment(1);
        tracing::debug!(%room, from = %node, answered, took = ?started.elapsed(), "room handoff");
    }
}

impl Peers for ClusterLink {
    fn me(&self) -> &NodeId {
        &self.me
    }

    fn is_live(&self, node: &NodeId) -> bool {
        self.ring.borrow().contains(node)
    }

    /// The node that owns `room` when it is not this one.
    fn owner(&self, room: RoomId) -> Option<NodeId> {
        if let Some(node) = lock(&self.released).get(&room) {
            return Some(node.clone());
        }
        let ring = self.ring.borrow();
        ring.owner(room).filter(|n| **n != self.me).cloned()
    }

    /// The home node of `user` when it is not this one.
    fn home(&self, user: UserId) -> Option<NodeId> {
        let ring = self.ring.borrow();
        ring.home(user).filter(|n| **n != self.me).cloned()
    }

    /// Sends `event` to `conns` on `node` as one envelope. False when that node's forwarder
    /// is full: the caller drops those subscribers and resets them with [`Self::reset`].
    fn deliver(&self, node: &NodeId, conns: Arc<[ConnId]>, event: &Event) -> bool {
        self.forwarder(node).push(Envelope::Deliver {
            conns,
            room_pos: event.room_pos,
            frame: event.msgpack(),
            joined: None,
            answers: None,
            if_subscribed: None,
        })
    }

    /// Sends one frame to one connection on `node`. With `answers`, the frame is the answer
    /// to the forwarded command `answers` names: the connection's node hands it over only while
    /// it still awaits that answer.
    fn reply(
        &self,
        node: &NodeId,
        conn: ConnId,
        answers: Option<u64>,
        frame: &ServerFrame,
    ) -> bool {
        let (joined, if_subscribed) = match frame {
            ServerFrame::Joined(j) => (Some(j.room.id), None),
            ServerFrame::Resume(r) => (None, Some(r.room)),
            _ => (None, None),
        };
        let event = Event::new(None, frame);
        self.forwarder(node).push(Envelope::Deliver {
            conns: Arc::from([conn]),
            room_pos: None,
            frame: event.msgpack(),
            joined,
            answers: answers.filter(|t| *t != 0),
            if_subscribed,
        })
    }

    fn hold_for_reply(&self, node: &NodeId, token: u64) {
        self.forwarder(node).hold_for_reply(token);
    }

    /// Tells `conns` on `node` that they no longer receive `room` (whatever the queue holds).
    fn reset(&self, node: &NodeId, conns: Arc<[ConnId]>, room: RoomId) {
        let event = Event::new(None, &ServerFrame::RoomReset(p::RoomReset { room }));
        self.forwarder(node).push_always(Envelope::Deliver {
            conns,
            room_pos: None,
            frame: event.msgpack(),
            joined: None,
            answers: None,
            if_subscribed: None,
        });
    }

    /// Asks `node`, the room's previous owner, to stop serving `room` and make what it
    /// accepted durable. Gives up after a second (a node that does not answer is gone or cut
    /// off; the store's epoch fence covers it).
    fn release<'a>(&'a self, node: &'a NodeId, room: RoomId) -> BoxFuture<'a, ()> {
        Box::pin(self.release_room(node, room))
    }

    /// A presence operation for `user`, whose home is `node`.
    fn user_op(&self, node: &NodeId, conn: ConnId, user: UserId, op: UserOp) -> bool {
        self.forwarder(node).push(Envelope::User {
            from: self.me.clone(),
            conn,
            user,
            token: 0,
            op,
        })
    }

    /// A presence operation answered with the user's status; `None` if the home node did not
    /// answer within a second.
    fn user_ask<'a>(
        &'a self,
        node: &'a NodeId,
        conn: ConnId,
        user: UserId,
        op: UserOp,
    ) -> BoxFuture<'a, Option<PresenceStatus>> {
        Box::pin(async move {
            let envelope = |token| Envelope::User {
                from: self.me.clone(),
                conn,
                user,
                token,
                op,
            };
            match self.ask(node, envelope).await {
                Some(Answer::Status(status)) => Some(status),
                _ => None,
            }
        })
    }

    /// Makes a connection of this node known, so frames from other nodes reach it.
    /// A closed queue is never registered: its connection has stopped (and `forget`s itself
    /// after closing it), so a command task of it that runs late cannot leave an entry behind.
    fn register(&self, out: &Outbound) {
        let conn = out.conn();
        let known = self
            .conns
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&conn);
        if !known {
            let mut conns = self.conns.write().unwrap_or_else(|p| p.into_inner());
            // Checked under the lock that `forget` takes: a close before it is seen here.
            if !out.is_closed() {
                conns.insert(conn, out.clone());
            }
        }
    }
}

impl Forward for ClusterLink {
    /// Sends a room command of `out`'s connection (of `user`, with `rid`) to the owner
    /// `node`; `out` receives the answer. An answered command is awaited: its client gets
    /// exactly one answer (see [`Awaited`]). False when the forwarder or the table of awaited
    /// answers is full.
    fn command(
        &self,
        node: &NodeId,
        out: &Outbound,
        user: UserId,
        rid: u64,
        room: RoomId,
        cmd: RoomCommand,
    ) -> bool {
        let conn = out.conn();
        self.register(out);
        let forwarder = self.forwarder(node);
        let (answered, join) = (cmd.is_answered(), cmd.is_join());
        let mut forwarded = Forwarded {
            from: self.me.clone(),
            conn,
            user,
            rid,
            token: 0,
            hops: 0,
            room,
            cmd,
        };
        if !answered {
            return forwarder.push(Envelope::Command(forwarded));
        }
        forwarded.token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let entry = Entry {
            node: node.clone(),
            out: out.clone(),
            rid,
            room,
            join,
        };
        let token = forwarded.token;
        self.awaited.insert(token, entry, || {
            forwarder.push(Envelope::Command(forwarded))
        })
    }
}
