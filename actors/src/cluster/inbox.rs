//! The receiving side of the cluster link: this node's inbox (deliveries, commands for rooms
//! it owns, handoffs, presence), and the task that follows the ring.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use futures::StreamExt;
use switchboard_engine::ring::NodeId;
use switchboard_engine::{RoomId, UserId};
use tokio::task::JoinSet;

use super::link::{Answer, ClusterLink, RESUBSCRIBE_DELAY, lock};
use super::wire::{self, Envelope, Forwarded};
use crate::error::{Busy, Refused};
use crate::metrics as names;
use crate::outbound::{DIRECT_FAN_OUT, Event, Notice, Origin, Outgoing};
use crate::peers::Peers;
use crate::recipient::{Recipient, Remote};
use crate::room::{Caller, Command};
use crate::router::Router;

impl ClusterLink {
    /// Reads this node's inbox for as long as the node lives, subscribing again whenever the
    /// subscription breaks (Redis restarted or unreachable).
    pub(super) async fn inbox(self: Arc<Self>, router: Weak<Router>) {
        let mut last_seq: HashMap<NodeId, u64> = HashMap::new();
        let mut first = true;
        // Failed attempts since the last subscription: only the first is logged at WARN (one
        // line per outage, not four a second).
        let mut failures = 0u64;
        while router.strong_count() > 0 {
            let mut stream = match self.bus.inbox(&self.me).await {
                Ok(s) => s,
                Err(e) => {
                    failures += 1;
                    if failures == 1 {
                        tracing::warn!(error = %e, "cannot subscribe to the cluster inbox; retrying every 250 ms");
                    } else {
                        tracing::debug!(error = %e, failures, "cannot subscribe to the cluster inbox");
                    }
                    tokio::time::sleep(RESUBSCRIBE_DELAY).await;
                    continue;
                }
            };
            failures = 0;
            if !first {
                // Whatever was sent to us meanwhile is lost: every remote room resumes.
                metrics::counter!(names::BUS_GAPS).increment(1);
                tracing::info!("cluster inbox subscribed again; remote rooms resume");
                last_seq.clear();
                self.notify_local(Notice::Lost(None));
                // Their replies may have been lost with the subscription.
                self.fail_awaited(|_| true);
            }
            first = false;
            // Handoffs and presence operations wait on actors: they run beside the loop, owned
            // by it (aborted with it), never holding up the next batch.
            let mut side = JoinSet::new();
            loop {
                let bytes = tokio::select! {
                    bytes = stream.next() => match bytes {
                        Some(bytes) => bytes,
                        None => break,
                    },
                    Some(done) = side.join_next() => {
                        if let Err(e) = done {
                            tracing::error!(error = %e, "cluster inbox side task failed");
                        }
                        continue;
                    }
                };
                let Some(router) = router.upgrade() else {
                    return;
                };
                let batch = match wire::decode(&bytes) {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!(error = %e, "undecodable bus message");
                        continue;
                    }
                };
                // One entry per sender; senders that left the ring are forgotten, so nodes
                // coming and going over months do not grow it.
                if last_seq.len() > 2 * self.ring.borrow().len() + 8 {
                    last_seq.retain(|node, _| self.is_live(node));
                }
                let last = last_seq.insert(batch.from.clone(), batch.seq);
                if last.is_some_and(|l| batch.seq != l + 1) {
                    metrics::counter!(names::BUS_GAPS).increment(1);
                    tracing::info!(from = %batch.from, "lost batches from a node; its rooms resume");
                    self.notify_local(Notice::Lost(Some(batch.from.clone())));
                }
                for envelope in batch.envelopes {
                    self.handle(&router, &batch.from, envelope, &mut side);
                }
            }
            tokio::time::sleep(RESUBSCRIBE_DELAY).await;
        }
    }

    /// Whether the reply to the forwarded command `token` still goes to its connection: it
    /// does while awaited. Otherwise its client was told `busy` and the reply is dropped; a
    /// dropped `joined` must not leave the connection subscribed at the owner either.
    fn answer_awaited(
        &self,
        from: &NodeId,
        conns: &[switchboard_engine::ConnId],
        token: u64,
        joined: Option<RoomId>,
    ) -> bool {
        let Some(&conn) = conns.first() else {
            return false;
        };
        if self.awaited.take(token, conn).is_some() {
            return true;
        }
        metrics::counter!(names::FORWARD_LATE_REPLIES).increment(1);
        let Some(room) = joined else { return false };
        self.awaited.late_join_unsubscribes(conn, room, || {
            self.forwarder(from)
                .push_always(self.unsubscribe(conn, UserId(0), room));
            // Had an earlier join subscribed it there, that subscription is gone now too.
            let map = self.conns.read().unwrap_or_else(|p| p.into_inner());
            if let Some(out) = map.get(&conn) {
                let node = from.clone();
                out.push(Outgoing::Notice(Arc::new(Notice::Dropped { room, node })));
            }
        });
        false
    }

    /// Handles one envelope without waiting on any actor: what must wait runs in `side`.
    fn handle(
        self: &Arc<Self>,
        router: &Arc<Router>,
        from: &NodeId,
        envelope: Envelope,
        side: &mut JoinSet<()>,
    ) {
        match envelope {
            Envelope::Deliver {
                conns,
                room_pos,
                frame,
                joined,
                answers,
                if_subscribed,
            } => {
                if let Some(token) = answers
                    && !self.answer_awaited(from, &conns, token, joined)
                {
                    return;
                }
                // Each connection takes it only while subscribed at the sender (see `Origin`).
                let origin = Origin {
                    node: from.clone(),
                    joined,
                    if_subscribed,
                };
                let event = Event::from_msgpack(room_pos, frame, Some(origin));
                // As a room's fan-out here: a wide one writes straight to idle sockets.
                let direct = conns.len() >= DIRECT_FAN_OUT;
                let map = self.conns.read().unwrap_or_else(|p| p.into_inner());
                let mut gone = Vec::new();
                for conn in conns.iter() {
                    match map.get(conn) {
                        Some(out) if direct => {
                            out.event(&event);
                        }
                        Some(out) => {
                            out.queue_event(&event);
                        }
                        None => gone.push(*conn),
                    }
                }
                drop(map);
                // Connections that closed here (ids are never reused) while the owner still
                // counted them, e.g. after this node restarted: the owner forgets them.
                if let Some((room, _)) = room_pos {
                    for conn in gone {
                        self.forwarder(from)
                            .push(self.unsubscribe(conn, UserId(0), room));
                    }
                }
            }
            Envelope::Command(c) => self.command_in(router, c),
            Envelope::Release { from, room, token } => {
                lock(&self.released).insert(room, from.clone());
                let (link, rooms) = (self.clone(), router.rooms().clone());
                side.spawn(async move {
                    rooms.evict(room).await;
                    rooms.journal.sync().await;
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
                    token: 0,
                    peers: self.clone(),
                });
                // Beside the inbox loop: a user actor may be starting.
                let (link, presence) = (self.clone(), router.rooms().presence().clone());
                side.spawn(async move {
                    let status = presence.at_home(user, reply, op).await;
                    if token != 0 {
                        link.forwarder(&from)
                            .push(Envelope::Status { token, status });
                    }
                });
            }
        }
    }

    /// A command from a connection on another node, for a room we should own. Never waits:
    /// a room whose mailbox is full answers `busy` through the router.
    fn command_in(self: &Arc<Self>, router: &Arc<Router>, c: Forwarded) {
        let reply = Recipient::Remote(Remote {
            node: c.from.clone(),
            conn: c.conn,
            token: c.token,
            peers: self.clone(),
        });
        let caller = Caller {
            conn: c.conn,
            user: c.user,
            rid: c.rid,
            reply,
        };
        if let Some(owner) = router.rooms().owner(c.room) {
            // Our ring and the sender's disagree for a moment: pass it on once.
            if c.hops == 0 && owner != c.from {
                self.forwarder(&owner)
                    .push(Envelope::Command(Forwarded { hops: 1, ..c }));
            } else if c.cmd.is_answered() {
                caller.refuse(Refused::Busy(Busy::RoomMoving));
            }
            return;
        }
        let cmd = Command::new(c.room, caller, c.cmd);
        router.send_now(cmd);
    }

    /// Follows the ring: rooms that moved away stop here (their subscribers rejoin at the
    /// new owner), subscribers on nodes that left are dropped, and this node's connections
    /// whose remote rooms moved rejoin them.
    pub(super) async fn follow_ring(self: Arc<Self>, router: Weak<Router>) {
        let mut ring = self.ring.clone();
        let mut previous = ring.borrow_and_update().clone();
        while ring.changed().await.is_ok() {
            let current = ring.borrow_and_update().clone();
            let Some(router) = router.upgrade() else {
                return;
            };
            // Users no longer at home here are forgotten; their devices and watchers attach
            // again at the new homes when told of the ring below.
            router.rooms().presence().stop_users_homed_elsewhere();
            lock(&self.released).clear();
            self.fail_awaited(|e| !current.contains(&e.node));
            lock(&self.forwarders).retain(|node, f| {
                let live = current.contains(node);
                if !live {
                    f.close();
                }
                live
            });
            let rooms = router.rooms();
            let moving: Vec<RoomId> = rooms
                .all_active()
                .into_iter()
                .filter(|(room, _)| rooms.owner(*room).is_some())
                .map(|(room, _)| room)
                .collect();
            // Side by side: one room slow to stop delays no other.
            futures::future::join_all(moving.iter().map(|room| rooms.evict(*room))).await;
            if !moving.is_empty() {
                tracing::info!(rooms = moving.len(), "rooms moved to other nodes");
            }
            // Rooms forget subscribers on nodes that left at their next fan-out. This node's
            // connections rejoin their rooms whose owner changed, and attach and watch again
            // where users' homes moved.
            let before = std::mem::replace(&mut previous, current.clone());
            self.notify_local(Notice::Ring {
                before,
                after: current,
            });
        }
    }
}
