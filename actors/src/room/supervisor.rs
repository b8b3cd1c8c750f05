//! `RoomSupervisor`: starts room actors on demand, restarts them after a panic (up to an
//! explicit limit), and stops them when idle. It alone writes the room directory.
//!
//! Starting a room reads the store (its record, members, epoch, recent messages), which can
//! take as long as the store does. Those loads run concurrently in a `JoinSet` the supervisor
//! owns, and their results come back into its loop, so a room whose load hangs delays nobody
//! else's. A room never has two live incarnations on this node: every `Resolve` of a room
//! that is loading waits for that one load, and a stop of a loading room waits for the load
//! to finish and then stops what it started.

use std::collections::HashMap;
use std::sync::Weak;

use kameo::error::Infallible;
use kameo::mailbox::{MailboxReceiver, Signal};
use kameo::prelude::*;
use kameo::reply::{DelegatedReply, ReplySender};
use kameo::supervision::{RestartPolicy, SupervisionStrategy};
use switchboard_engine::{ErrorCode, RoomId};
use tokio::task::JoinSet;

use super::{RoomActor, RoomArgs};
use crate::hub::{Hub, Route};

type Resolved = Result<ActorRef<RoomActor>, ErrorCode>;

/// A room that is loading: its load's task, and who waits for it.
struct Loading {
    task: tokio::task::Id,
    resolves: Vec<ReplySender<Resolved>>,
    /// `StopRoom`s that came during the load: the room must not stay once it is loaded.
    stops: Vec<ReplySender<bool>>,
}

pub struct RoomSupervisor {
    hub: Weak<Hub>,
    /// Loads in flight, at most one per room (the keys of `loading`). Dropped with the
    /// supervisor, which aborts them.
    loads: JoinSet<(RoomId, Resolved)>,
    loading: HashMap<RoomId, Loading>,
}

impl Actor for RoomSupervisor {
    type Args = Weak<Hub>;
    type Error = Infallible;

    fn supervision_strategy() -> SupervisionStrategy {
        // A room's failure is its own: restart only that room.
        SupervisionStrategy::OneForOne
    }

    async fn on_start(hub: Weak<Hub>, _: ActorRef<Self>) -> Result<Self, Infallible> {
        Ok(RoomSupervisor {
            hub,
            loads: JoinSet::new(),
            loading: HashMap::new(),
        })
    }

    async fn next(
        &mut self,
        _: WeakActorRef<Self>,
        mailbox: &mut MailboxReceiver<Self>,
    ) -> Result<Option<Signal<Self>>, Infallible> {
        loop {
            tokio::select! {
                signal = mailbox.recv() => return Ok(signal),
                Some(done) = self.loads.join_next() => match done {
                    Ok((room, result)) => self.loaded(room, result).await,
                    Err(e) => {
                        tracing::error!(error = %e, "room load failed");
                        let room = self.loading.iter().find(|(_, l)| l.task == e.id()).map(|(r, _)| *r);
                        if let Some(room) = room {
                            self.loaded(room, Err(ErrorCode::Internal)).await;
                        }
                    }
                },
            }
        }
    }
}

impl RoomSupervisor {
    /// A load finished: the room joins the directory and its waiters get it, unless it was
    /// asked to stop meanwhile or another node owns it now.
    async fn loaded(&mut self, room: RoomId, result: Resolved) {
        let Some(waiting) = self.loading.remove(&room) else {
            return;
        };
        let Some(hub) = self.hub.upgrade() else {
            return;
        };
        let mut stopped = false;
        let result = match result {
            Ok(actor) if !waiting.stops.is_empty() || hub.route(room) != Route::Local => {
                retire(&actor).await;
                stopped = true;
                Err(ErrorCode::Busy)
            }
            Ok(actor) => {
                hub.rooms
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(room, actor.clone());
                Ok(actor)
            }
            Err(code) => Err(code),
        };
        for tx in waiting.resolves {
            tx.send(result.clone());
        }
        for tx in waiting.stops {
            tx.send(stopped);
        }
    }
}

/// Reads the room's record and starts its actor, supervised by `supervisor`.
async fn load(hub: Weak<Hub>, supervisor: ActorRef<RoomSupervisor>, room: RoomId) -> Resolved {
    let strong = hub.upgrade().ok_or(ErrorCode::ShuttingDown)?;
    let info = strong
        .store
        .room(room)
        .await
        .map_err(|_| ErrorCode::Internal)?
        .ok_or(ErrorCode::NotFound)?;
    let config = &strong.config;
    let actor = RoomActor::supervise(&supervisor, RoomArgs { info, hub })
        .restart_policy(RestartPolicy::Transient)
        .restart_limit(config.room_restart_limit, config.room_restart_window)
        .spawn_with_mailbox(kameo::mailbox::bounded(config.room_mailbox))
        .await;
    if let Err(e) = actor.wait_for_startup_result().await {
        tracing::error!(%room, error = ?e, "room failed to start");
        return Err(ErrorCode::Internal);
    }
    Ok(actor)
}

/// Stops `actor` once it has handled what is already in its mailbox, and waits for that.
async fn retire(actor: &ActorRef<RoomActor>) {
    // Not `wait_for_shutdown`: a supervised child's mailbox stays open until this
    // supervisor handles its exit, which it cannot do while waiting here.
    let (done, stopped) = tokio::sync::oneshot::channel();
    if actor.tell(super::Retire { done }).await.is_ok() {
        let _ = stopped.await;
    }
}

/// The live actor for a room, started if needed.
pub struct Resolve {
    pub room: RoomId,
}

impl Message<Resolve> for RoomSupervisor {
    type Reply = DelegatedReply<Resolved>;

    async fn handle(&mut self, r: Resolve, ctx: &mut Context<Self, Self::Reply>) -> Self::Reply {
        let Some(hub) = self.hub.upgrade() else {
            return ctx.reply(Err(ErrorCode::ShuttingDown));
        };
        if let Some(actor) = hub.active_room(r.room) {
            return ctx.reply(Ok(actor));
        }
        // Another node owns it now (the ring moved since the caller looked).
        if hub.route(r.room) != Route::Local {
            return ctx.reply(Err(ErrorCode::Busy));
        }
        let supervisor = ctx.actor_ref().clone();
        let (delegated, tx) = ctx.reply_sender();
        let waiting = self.loading.entry(r.room).or_insert_with(|| {
            let hub = self.hub.clone();
            let task = self
                .loads
                .spawn(async move { (r.room, load(hub, supervisor, r.room).await) });
            Loading {
                task: task.id(),
                resolves: Vec::new(),
                stops: Vec::new(),
            }
        });
        // A `tell` wants no answer; the room is started all the same.
        waiting.resolves.extend(tx);
        delegated
    }
}

/// Stop a room: forget it, then stop it (it finishes what is already in its mailbox first).
/// Sent when it has had no subscribers for the idle time (`actor` names the idle
/// incarnation), or when another node takes it over (`actor: None`; a room still loading is
/// stopped as soon as it has started). Answers whether an incarnation was stopped.
pub struct StopRoom {
    pub room: RoomId,
    pub actor: Option<ActorId>,
}

impl Message<StopRoom> for RoomSupervisor {
    type Reply = DelegatedReply<bool>;

    async fn handle(
        &mut self,
        stop: StopRoom,
        ctx: &mut Context<Self, Self::Reply>,
    ) -> Self::Reply {
        if stop.actor.is_none()
            && let Some(waiting) = self.loading.get_mut(&stop.room)
        {
            let (delegated, tx) = ctx.reply_sender();
            waiting.stops.extend(tx);
            return delegated;
        }
        let Some(hub) = self.hub.upgrade() else {
            return ctx.reply(false);
        };
        let actor = {
            let mut rooms = hub.rooms.write().unwrap_or_else(|p| p.into_inner());
            match rooms.get(&stop.room) {
                Some(a) if stop.actor.is_none_or(|id| a.id() == id) => rooms.remove(&stop.room),
                _ => None,
            }
        };
        let Some(actor) = actor else {
            return ctx.reply(false);
        };
        retire(&actor).await;
        tracing::debug!(room = %stop.room, "room stopped");
        ctx.reply(true)
    }
}
