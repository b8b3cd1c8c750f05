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
//! - **Recovery.** When the ring moves a room, or batches from its owner were lost (a skipped
//!   sequence number, or the inbox subscription broke with Redis), the affected connections
//!   get `room_reset` and rejoin from their positions: no gap, nothing twice.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use futures::StreamExt;
use switchboard_engine::domain::PresenceStatus;
use switchboard_engine::protocol::{self as p, ServerFrame};
use switchboard_engine::ring::{NodeId, Ring};
use switchboard_engine::{ConnId, ErrorCode, RoomId, UserId};
use switchboard_persistence::cluster::bus::Bus;
use tokio::sync::{oneshot, watch};

use super::forward::{ForwardLimits, Forwarder};
use super::wire::{self, Command, Envelope, RoomOp, UserOp};
use crate::hub::{Hub, Route};
use crate::metrics as names;
use crate::outbound::{Event, Outbound};
use crate::recipient::{Recipient, Remote};
use crate::room::{DropNodes, Invite, Join, Leave, Post, Receipt, Typing, Unsubscribe};

/// How long a node taking a room waits for the previous owner to release it.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(1);
/// Pause before subscribing to the inbox again after Redis went away.
const RESUBSCRIBE_DELAY: Duration = Duration::from_millis(250);

/// A connection of this node, as the cluster sees it.
struct LocalConn {
    out: Outbound,
    /// Rooms it joined on other nodes, and the owner it joined at.
    rooms: Vec<(RoomId, NodeId)>,
    /// Its user (a device of whom it is) and the users whose presence it watches: when their
    /// home node changes, it attaches and watches again there.
    user: Option<UserId>,
    watching: Vec<UserId>,
}

/// What a node asked for and waits on.
enum Answer {
    Released,
    Status(PresenceStatus),
}

pub struct ClusterLink {
    me: NodeId,
    bus: Arc<dyn Bus>,
    ring: watch::Receiver<Ring>,
    limits: ForwardLimits,
    forwarders: Mutex<HashMap<NodeId, Arc<Forwarder>>>,
    conns: RwLock<HashMap<ConnId, LocalConn>>,
    /// Rooms handed to another node that our ring still gives us; cleared when it changes.
    released: Mutex<HashMap<RoomId, NodeId>>,
    /// Handoffs and presence questions waiting for their answer, by token.
    pending: Mutex<HashMap<u64, oneshot::Sender<Answer>>>,
    next_token: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn error(rid: u64, code: ErrorCode, message: &str) -> ServerFrame {
    ServerFrame::Error(p::Error {
        rid: Some(rid),
        code,
        message: message.to_owned(),
    })
}

impl ClusterLink {
    /// Starts the inbox and ring tasks; they end when the hub is gone.
    pub fn start(
        me: NodeId,
        bus: Arc<dyn Bus>,
        ring: watch::Receiver<Ring>,
        limits: ForwardLimits,
        hub: &Arc<Hub>,
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
            next_token: AtomicU64::new(1),
        });
        tokio::spawn(link.clone().inbox(Arc::downgrade(hub)));
        tokio::spawn(link.clone().follow_ring(Arc::downgrade(hub)));
        link
    }

    pub fn me(&self) -> &NodeId {
        &self.me
    }

    /// The node that owns `room` when it is not this one.
    pub fn owner(&self, room: RoomId) -> Option<NodeId> {
        if let Some(node) = lock(&self.released).get(&room) {
            return Some(node.clone());
        }
        let ring = self.ring.borrow();
        ring.owner(room).filter(|n| **n != self.me).cloned()
    }

    /// The home node of `user` when it is not this one.
    pub fn home(&self, user: UserId) -> Option<NodeId> {
        let ring = self.ring.borrow();
        ring.home(user).filter(|n| **n != self.me).cloned()
    }

    pub fn is_live(&self, node: &NodeId) -> bool {
        self.ring.borrow().contains(node)
    }

    fn forwarder(&self, node: &NodeId) -> Arc<Forwarder> {
        lock(&self.forwarders)
            .entry(node.clone())
            .or_insert_with(|| {
                Forwarder::spawn(self.me.clone(), node.clone(), self.bus.clone(), self.limits)
            })
            .clone()
    }

    /// Sends `event` to `conns` on `node` as one envelope. False when that node's forwarder
    /// is full: the caller drops those subscribers and resets them with [`Self::reset`].
    pub fn deliver(&self, node: &NodeId, conns: Arc<[ConnId]>, event: &Event) -> bool {
        self.forwarder(node).push(Envelope::Deliver {
            conns,
            room_pos: event.room_pos,
            frame: event.msgpack(),
            joined: None,
        })
    }

    /// Sends one frame to one connection on `node`.
    pub fn reply(&self, node: &NodeId, conn: ConnId, frame: &ServerFrame) -> bool {
        let joined = match frame {
            ServerFrame::Joined(j) => Some(j.room.id),
            _ => None,
        };
        let event = Event::new(None, frame);
        self.forwarder(node).push(Envelope::Deliver {
            conns: Arc::from([conn]),
            room_pos: None,
            frame: event.msgpack(),
            joined,
        })
    }

    /// Tells `conns` on `node` that they no longer receive `room` (whatever the queue holds).
    pub fn reset(&self, node: &NodeId, conns: Arc<[ConnId]>, room: RoomId) {
        let event = Event::new(None, &ServerFrame::RoomReset(p::RoomReset { room }));
        self.forwarder(node).push_always(Envelope::Deliver {
            conns,
            room_pos: None,
            frame: event.msgpack(),
            joined: None,
        });
    }

    /// Sends a client command to the owner `node`; `out` receives the replies. False when
    /// the forwarder is full (the client is told `busy`).
    pub fn command(&self, node: &NodeId, out: &Outbound, cmd: Command) -> bool {
        let conn = cmd.conn;
        self.register(out, None);
        // A join takes effect when its `joined` reply comes back (see `handle`).
        if let RoomOp::Leave { room } = &cmd.op
            && let Some(c) = self
                .conns
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .get_mut(&conn)
        {
            c.rooms.retain(|(r, _)| r != room);
        }
        self.forwarder(node).push(Envelope::Command(cmd))
    }

    /// Makes a connection of this node known, so frames from other nodes reach it; with
    /// `user`, it is that user's device.
    pub fn register(&self, out: &Outbound, user: Option<UserId>) {
        let conn = out.conn();
        let known = self
            .conns
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&conn);
        if known && user.is_none() {
            return;
        }
        let mut conns = self.conns.write().unwrap_or_else(|p| p.into_inner());
        let entry = conns.entry(conn).or_insert_with(|| LocalConn {
            out: out.clone(),
            rooms: Vec::new(),
            user: None,
            watching: Vec::new(),
        });
        if user.is_some() {
            entry.user = user;
        }
    }

    /// Records that a connection watches `user`'s presence (to watch again if its home moves).
    pub fn note_watching(&self, out: &Outbound, user: UserId) {
        self.register(out, None);
        if let Some(c) = self
            .conns
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&out.conn())
            && !c.watching.contains(&user)
        {
            c.watching.push(user);
        }
    }

    /// A presence operation for `user`, whose home is `node`.
    pub fn user_op(&self, node: &NodeId, conn: ConnId, user: UserId, op: UserOp) -> bool {
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
    pub async fn user_ask(
        &self,
        node: &NodeId,
        conn: ConnId,
        user: UserId,
        op: UserOp,
    ) -> Option<PresenceStatus> {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(token, tx);
        self.forwarder(node).push(Envelope::User {
            from: self.me.clone(),
            conn,
            user,
            token,
            op,
        });
        let answer = tokio::time::timeout(RELEASE_TIMEOUT, rx).await;
        lock(&self.pending).remove(&token);
        match answer {
            Ok(Ok(Answer::Status(status))) => Some(status),
            _ => None,
        }
    }

    /// A connection of this node closed: its rooms elsewhere stop sending to it.
    pub fn connection_closed(&self, conn: ConnId, user: switchboard_engine::UserId) {
        let gone = self
            .conns
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&conn);
        for (room, node) in gone.map(|c| c.rooms).unwrap_or_default() {
            self.forwarder(&node)
                .push_always(Envelope::Command(Command {
                    from: self.me.clone(),
                    conn,
                    user,
                    rid: 0,
                    hops: 0,
                    op: RoomOp::Unsubscribe { room },
                }));
        }
    }

    /// Asks `node`, the room's previous owner, to stop serving `room` and make what it
    /// accepted durable. Gives up after a second (a node that does not answer is gone or cut
    /// off; the store's epoch fence covers it).
    pub async fn release(&self, node: &NodeId, room: RoomId) {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(token, tx);
        self.forwarder(node).push_always(Envelope::Release {
            from: self.me.clone(),
            room,
            token,
        });
        let started = Instant::now();
        let answered = matches!(
            tokio::time::timeout(RELEASE_TIMEOUT, rx).await,
            Ok(Ok(Answer::Released))
        );
        lock(&self.pending).remove(&token);
        metrics::counter!(names::ROOM_HANDOFFS).increment(1);
        tracing::debug!(%room, from = %node, answered, took = ?started.elapsed(), "room handoff");
    }

    /// Resets the remote rooms of this node's connections that `moved` says moved.
    fn reset_local(&self, moved: impl Fn(RoomId, &NodeId) -> bool) {
        let mut conns = self.conns.write().unwrap_or_else(|p| p.into_inner());
        for c in conns.values_mut() {
            c.rooms.retain(|(room, node)| {
                if !moved(*room, node) {
                    return true;
                }
                c.out
                    .frame(&ServerFrame::RoomReset(p::RoomReset { room: *room }));
                false
            });
        }
    }

    /// Reads this node's inbox for as long as the hub lives, subscribing again whenever the
    /// subscription breaks (Redis restarted or unreachable).
    async fn inbox(self: Arc<Self>, hub: Weak<Hub>) {
        let mut last_seq: HashMap<NodeId, u64> = HashMap::new();
        let mut first = true;
        while hub.strong_count() > 0 {
            let mut stream = match self.bus.inbox(&self.me).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot subscribe to the cluster inbox; retrying");
                    tokio::time::sleep(RESUBSCRIBE_DELAY).await;
                    continue;
                }
            };
            if !first {
                // Whatever was sent to us meanwhile is lost: every remote room resumes.
                metrics::counter!(names::BUS_GAPS).increment(1);
                tracing::info!("cluster inbox subscribed again; remote rooms resume");
                last_seq.clear();
                self.reset_local(|_, _| true);
            }
            first = false;
            while let Some(bytes) = stream.next().await {
                let Some(hub) = hub.upgrade() else { return };
                let batch = match wire::decode(&bytes) {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!(error = %e, "undecodable bus message");
                        continue;
                    }
                };
                let last = last_seq.insert(batch.from.clone(), batch.seq);
                if last.is_some_and(|l| batch.seq != l + 1) {
                    metrics::counter!(names::BUS_GAPS).increment(1);
                    tracing::info!(from = %batch.from, "lost batches from a node; its rooms resume");
                    self.reset_local(|_, node| *node == batch.from);
                }
                for envelope in batch.envelopes {
                    self.handle(&hub, &batch.from, envelope).await;
                }
            }
            tokio::time::sleep(RESUBSCRIBE_DELAY).await;
        }
    }

    async fn handle(self: &Arc<Self>, hub: &Arc<Hub>, from: &NodeId, envelope: Envelope) {
        match envelope {
            Envelope::Deliver {
                conns,
                room_pos,
                frame,
                joined,
            } => {
                let event = Event::from_msgpack(room_pos, frame);
                if let Some(room) = joined {
                    let mut map = self.conns.write().unwrap_or_else(|p| p.into_inner());
                    if let Some(c) = conns.first().and_then(|conn| map.get_mut(conn)) {
                        c.rooms.retain(|(r, _)| *r != room);
                        c.rooms.push((room, from.clone()));
                    }
                }
                let map = self.conns.read().unwrap_or_else(|p| p.into_inner());
                let mut gone = Vec::new();
                for conn in conns.iter() {
                    let Some(c) = map.get(conn) else {
                        gone.push(*conn);
                        continue;
                    };
                    // A room message reaches a connection only while it is subscribed at
                    // the sender: after a reset, nothing until its rejoin is answered, so
                    // the replay that follows picks up exactly where the client was.
                    let subscribed =
                        |room: RoomId| c.rooms.iter().any(|(r, n)| *r == room && n == from);
                    if room_pos.is_some_and(|(room, _)| !subscribed(room)) {
                        continue;
                    }
                    c.out.event(&event);
                }
                drop(map);
                // Connections that closed here (ids are never reused) while the owner still
                // counted them, e.g. after this node restarted: the owner forgets them.
                if let Some((room, _)) = room_pos {
                    for conn in gone {
                        self.forwarder(from).push(Envelope::Command(Command {
                            from: self.me.clone(),
                            conn,
                            user: UserId(0),
                            rid: 0,
                            hops: 1,
                            op: RoomOp::Unsubscribe { room },
                        }));
                    }
                }
            }
            Envelope::Command(c) => self.command_in(hub, c).await,
            Envelope::Release { from, room, token } => {
                lock(&self.released).insert(room, from.clone());
                let (link, hub) = (self.clone(), hub.clone());
                tokio::spawn(async move {
                    hub.evict_room(room).await;
                    hub.journal.sync().await;
                    link.forwarder(&from)
                        .push_always(Envelope::Released { token });
                });
            }
            Envelope::Released { token } => {
                if let Some(tx) = lock(&self.pending).remove(&token) {
                    let _ = tx.send(Answer::Released);
                }
            }
            Envelope::Status { token, status } => {
                if let Some(tx) = lock(&self.pending).remove(&token) {
                    let _ = tx.send(Answer::Status(status));
                }
            }
            Envelope::User {
                from,
                conn,
                user,
                token,
                op,
            } => {
                let reply = Recipient::Remote(Remote {
                    node: from.clone(),
                    conn,
                    link: self.clone(),
                });
                // Off the inbox task: a user actor may be starting.
                let (link, hub) = (self.clone(), hub.clone());
                tokio::spawn(async move {
                    let status = hub.presence_at_home(user, reply, op).await;
                    if token != 0 {
                        link.forwarder(&from)
                            .push(Envelope::Status { token, status });
                    }
                });
            }
        }
    }

    /// A command from a connection on another node, for a room we should own.
    async fn command_in(self: &Arc<Self>, hub: &Arc<Hub>, c: Command) {
        let room = c.op.room();
        let reply = Recipient::Remote(Remote {
            node: c.from.clone(),
            conn: c.conn,
            link: self.clone(),
        });
        let silent = matches!(
            c.op,
            RoomOp::Unsubscribe { .. } | RoomOp::Typing { .. } | RoomOp::Receipt { .. }
        );
        if let Route::Remote(owner) = hub.route(room) {
            // Our ring and the sender's disagree for a moment: pass it on once.
            if c.hops == 0 && owner != c.from {
                self.forwarder(&owner)
                    .push(Envelope::Command(Command { hops: 1, ..c }));
            } else if !silent {
                reply.frame(&error(
                    c.rid,
                    ErrorCode::Busy,
                    "room is moving; retry with the same cmid",
                ));
            }
            return;
        }
        if let RoomOp::Unsubscribe { .. } = c.op {
            if let Some(actor) = hub.active_room(room) {
                let _ = actor.tell(Unsubscribe { conn: c.conn }).await;
            }
            return;
        }
        if let Some(actor) = hub.active_room(room) {
            run_op(actor, c, reply).await;
            return;
        }
        // Starting the room may take a handoff round trip through this very inbox: never
        // wait for it here.
        let hub = hub.clone();
        tokio::spawn(async move {
            match hub.room(room).await {
                Ok(actor) => run_op(actor, c, reply).await,
                Err(code) if !silent => {
                    reply.frame(&error(c.rid, code, code.describe()));
                }
                Err(_) => {}
            }
        });
    }

    /// Follows the ring: rooms that moved away stop here (their subscribers rejoin at the
    /// new owner), subscribers on nodes that left are dropped, and this node's connections
    /// whose remote rooms moved rejoin them.
    async fn follow_ring(self: Arc<Self>, hub: Weak<Hub>) {
        let mut ring = self.ring.clone();
        let mut previous = ring.borrow_and_update().clone();
        while ring.changed().await.is_ok() {
            let current = ring.borrow_and_update().clone();
            let Some(hub) = hub.upgrade() else { return };
            self.rehome_presence(&hub, &previous, &current).await;
            previous = current.clone();
            lock(&self.released).clear();
            lock(&self.forwarders).retain(|node, f| {
                let live = current.contains(node);
                if !live {
                    f.close();
                }
                live
            });
            let moving: Vec<RoomId> = hub
                .active_rooms()
                .into_iter()
                .filter(|(room, _)| matches!(hub.route(*room), Route::Remote(_)))
                .map(|(room, _)| room)
                .collect();
            for room in &moving {
                hub.evict_room(*room).await;
            }
            if !moving.is_empty() {
                tracing::info!(rooms = moving.len(), "rooms moved to other nodes");
            }
            let live = Arc::new(current.clone());
            for (_, actor) in hub.active_rooms() {
                let _ = actor.tell(DropNodes(live.clone())).await;
            }
            self.reset_local(|room, node| current.owner(room) != Some(node));
        }
    }
}

impl ClusterLink {
    /// Users whose home moved: user actors here that are no longer at home stop, and this
    /// node's devices and watchers attach and watch again at the new homes. (Away is reset.)
    async fn rehome_presence(self: &Arc<Self>, hub: &Arc<Hub>, before: &Ring, after: &Ring) {
        hub.stop_users_homed_elsewhere();
        let moved = |user: UserId| before.home(user) != after.home(user);
        let mut again = Vec::new();
        {
            let conns = self.conns.read().unwrap_or_else(|p| p.into_inner());
            for c in conns.values() {
                if let Some(user) = c.user.filter(|u| moved(*u)) {
                    again.push((c.out.clone(), user, true));
                }
                for &user in c.watching.iter().filter(|u| moved(**u)) {
                    again.push((c.out.clone(), user, false));
                }
            }
        }
        for (out, user, device) in again {
            if device {
                hub.presence_attach(&out, user).await;
            } else {
                hub.presence_watch(&out, user).await;
            }
        }
    }
}

/// Runs a forwarded command against the room's actor; replies go back through `reply`.
async fn run_op(
    actor: kameo::actor::ActorRef<crate::room::RoomActor>,
    c: Command,
    reply: Recipient,
) {
    let (rid, conn, user) = (c.rid, c.conn, c.user);
    fn refused<M>(reply: &Recipient, rid: u64, e: kameo::error::SendError<M, ErrorCode>) {
        let code = match e {
            kameo::error::SendError::HandlerError(code) => code,
            _ => ErrorCode::Busy,
        };
        reply.frame(&error(rid, code, code.describe()));
    }
    match c.op {
        RoomOp::Join { resume, .. } => {
            // Asked off the inbox task: a join may read the store for a resume.
            tokio::spawn(async move {
                let join = Join {
                    rid,
                    conn,
                    user,
                    out: reply.clone(),
                    resume,
                };
                if let Err(e) = actor.ask(join).await {
                    refused(&reply, rid, e);
                }
            });
        }
        RoomOp::Leave { room } => {
            tokio::spawn(async move {
                match actor.ask(Leave { user }).await {
                    Ok(()) => {
                        reply.frame(&ServerFrame::Left(p::RoomAck { rid, room }));
                    }
                    Err(e) => refused(&reply, rid, e),
                }
            });
        }
        RoomOp::Invite {
            room,
            user: invitee,
        } => {
            tokio::spawn(async move {
                match actor
                    .ask(Invite {
                        by: user,
                        user: invitee,
                    })
                    .await
                {
                    Ok(()) => {
                        reply.frame(&ServerFrame::Invited(p::RoomAck { rid, room }));
                    }
                    Err(e) => refused(&reply, rid, e),
                }
            });
        }
        RoomOp::Post { cmid, text, .. } => {
            let post = Post {
                rid,
                user,
                out: reply.clone(),
                cmid,
                text,
                received: Instant::now(),
            };
            if actor.tell(post).await.is_err() {
                reply.frame(&error(
                    rid,
                    ErrorCode::Busy,
                    "room is moving; retry with the same cmid",
                ));
            }
        }
        RoomOp::Typing { active, .. } => {
            let _ = actor.tell(Typing { user, active }).await;
        }
        RoomOp::Receipt { pos, .. } => {
            let _ = actor.tell(Receipt { conn, user, pos }).await;
        }
        RoomOp::Unsubscribe { .. } => {
            let _ = actor.tell(Unsubscribe { conn }).await;
        }
    }
}
