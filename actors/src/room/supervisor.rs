//! `RoomSupervisor`: starts room actors on demand, restarts them after a panic (up to an
//! explicit limit), and stops them when idle. It alone writes the room directory.
//!
//! A command for a room that is not active comes here ([`Deliver`]): the supervisor starts the
//! room and hands it the command once it has started. Starting reads the store (its record,
//! members, epoch, recent messages), which can take as long as the store does. Those loads run
//! concurrently in a `JoinSet` the supervisor owns, and their results come back into its loop,
//! so a room whose load hangs delays nobody else's. A room never has two live incarnations on
//! this node: commands for a room that is loading wait for that one load (at most
//! `room_mailbox` of them, each at most `store_timeout`, then `busy`), and a stop of a loading
//! room waits for the load to finish and then stops what it started.
//!
//! Rooms ask to be stopped (idle, deposed) through an unbounded channel, not the mailbox: a
//! room must never wait on its supervisor, which may be waiting for that room to stop. It
//! holds at most a few notices per active room.

use std::collections::HashMap;
use std::sync::Weak;

use kameo::error::Infallible;
use kameo::mailbox::{MailboxReceiver, Signal};
use kameo::prelude::*;
use kameo::reply::{DelegatedReply, ReplySender};
use kameo::supervision::{RestartPolicy, SupervisionStrategy};
use switchboard_engine::RoomId;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{Command, RoomActor, RoomArgs, Rooms};
use crate::error::{Busy, Refused};

type Loaded = Result<ActorRef<RoomActor>, Refused>;

/// A room that is loading: its load's task, and what waits for it.
struct Loading {
    task: tokio::task::Id,
    /// Commands to hand the room once it has started, each with its deadline.
    commands: Vec<(Instant, Command)>,
    /// `StopRoom`s that came during the load: the room must not stay once it is loaded.
    stops: Vec<ReplySender<bool>>,
}

pub struct SupervisorArgs {
    pub rooms: Weak<Rooms>,
    /// Rooms asking to be stopped (see the module docs).
    pub stop_requests: mpsc::UnboundedReceiver<StopRoom>,
}

pub struct RoomSupervisor {
    rooms: Weak<Rooms>,
    stop_requests: mpsc::UnboundedReceiver<StopRoom>,
    /// Loads in flight, at most one per room (the keys of `loading`). Dropped with the
    /// supervisor, which aborts them.
    loads: JoinSet<(RoomId, Loaded)>,
    loading: HashMap<RoomId, Loading>,
}

impl Actor for RoomSupervisor {
    type Args = SupervisorArgs;
    type Error = Infallible;

    fn supervision_strategy() -> SupervisionStrategy {
        // A room's failure is its own: restart only that room.
        SupervisionStrategy::OneForOne
    }

    async fn on_start(args: SupervisorArgs, _: ActorRef<Self>) -> Result<Self, Infallible> {
        Ok(RoomSupervisor {
            rooms: args.rooms,
            stop_requests: args.stop_requests,
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
            let deadline = self
                .loading
                .values()
                .filter_map(|l| l.commands.first().map(|(d, _)| *d))
                .min();
            tokio::select! {
                signal = mailbox.recv() => return Ok(signal),
                Some(stop) = self.stop_requests.recv() => {
                    self.stop(stop).await;
                }
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    self.expire_commands();
                }
                Some(done) = self.loads.join_next() => match done {
                    Ok((room, result)) => self.loaded(room, result).await,
                    Err(e) => {
                        tracing::error!(error = %e, "room load failed");
                        let room = self.loading.iter().find(|(_, l)| l.task == e.id()).map(|(r, _)| *r);
                        if let Some(room) = room {
                            self.loaded(room, Err(Refused::Busy(Busy::RoomMoving))).await;
                        }
                    }
                },
            }
        }
    }
}

impl RoomSupervisor {
    /// A load finished: the room joins the directory after its waiting commands are in its
    /// mailbox (so no later command overtakes them), unless it was asked to stop meanwhile or
    /// another node owns it now.
    async fn loaded(&mut self, room: RoomId, result: Loaded) {
        let Some(waiting) = self.loading.remove(&room) else {
            return;
        };
        let Some(rooms) = self.rooms.upgrade() else {
            return;
        };
        let mut stopped = false;
        match result {
            Ok(actor) if !waiting.stops.is_empty() || rooms.owner(room).is_some() => {
                retire(&actor).await;
                stopped = true;
                for (_, cmd) in waiting.commands {
                    cmd.refuse(Refused::Busy(Busy::RoomMoving));
                }
            }
            Ok(actor) => {
                for (_, cmd) in waiting.commands {
                    if let Err(e) = actor.tell(cmd).try_send()
                        && let Some(cmd) = e.msg()
                    {
                        cmd.refuse(Refused::Busy(Busy::Overloaded));
                    }
                }
                rooms.directory.insert(room, actor);
            }
            Err(why) => {
                let code = why.code();
                for (_, cmd) in waiting.commands {
                    cmd.refuse(Refused::from(code));
                }
            }
        }
        for tx in waiting.stops {
            tx.send(stopped);
        }
    }

    /// Commands that waited for their room's load past their deadline: `busy`. The load goes
    /// on; later commands wait for it afresh.
    fn expire_commands(&mut self) {
        let now = Instant::now();
        for loading in self.loading.values_mut() {
            let waited = loading.commands.partition_point(|(d, _)| *d <= now);
            for (_, cmd) in loading.commands.drain(..waited) {
                cmd.refuse(Refused::Busy(Busy::NoAnswer));
            }
        }
    }

    /// Stops a room: see [`StopRoom`].
    async fn stop(&mut self, stop: StopRoom) -> bool {
        let Some(rooms) = self.rooms.upgrade() else {
            return false;
        };
        let Some(actor) = rooms.directory.remove(stop.room, stop.actor) else {
            return false;
        };
        retire(&actor).await;
        tracing::debug!(room = %stop.room, "room stopped");
        true
    }
}

/// Reads the room's record and starts its actor, supervised by `supervisor`.
async fn load(rooms: Weak<Rooms>, supervisor: ActorRef<RoomSupervisor>, room: RoomId) -> Loaded {
    let strong = rooms.upgrade().ok_or(Refused::ShuttingDown)?;
    let info = strong
        .store
        .room(room)
        .await?
        .ok_or(Refused::NotFound("no such room"))?;
    let config = &strong.config;
    let actor = RoomActor::supervise(&supervisor, RoomArgs { info, rooms })
        .restart_policy(RestartPolicy::Transient)
        .restart_limit(config.room_restart_limit, config.room_restart_window)
        .spawn_with_mailbox(kameo::mailbox::bounded(config.room_mailbox))
        .await;
    if let Err(e) = actor.wait_for_startup_result().await {
        tracing::error!(%room, error = ?e, "room failed to start");
        return Err(Refused::Busy(Busy::StorageBehind));
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

/// A command for a room that is not active here: start the room (unless a load is in
/// flight) and hand it the command once it has started.
pub struct Deliver(pub Command);

impl Message<Deliver> for RoomSupervisor {
    type Reply = ();

    async fn handle(&mut self, Deliver(cmd): Deliver, ctx: &mut Context<Self, ()>) {
        let Some(rooms) = self.rooms.upgrade() else {
            return cmd.refuse(Refused::ShuttingDown);
        };
        let room = cmd.room;
        self.deliver(&rooms, cmd, ctx.actor_ref());
        // Handled: the room's own mailbox, or its load's queue, has it (or it was refused).
        rooms.directory.handled_by_supervisor(room);
    }
}

impl RoomSupervisor {
    fn deliver(&mut self, rooms: &Rooms, cmd: Command, me: &ActorRef<Self>) {
        let room = cmd.room;
        if let Some(actor) = rooms.active(room) {
            // It started since the caller looked.
            if let Err(e) = actor.tell(cmd).try_send()
                && let Some(cmd) = e.msg()
            {
                cmd.refuse(Refused::Busy(Busy::Overloaded));
            }
            return;
        }
        // Another node owns it now (the ring moved since the caller looked).
        if rooms.owner(room).is_some() {
            return cmd.refuse(Refused::Busy(Busy::RoomMoving));
        }
        let supervisor = me.clone();
        let waiting = self.loading.entry(room).or_insert_with(|| {
            let rooms = self.rooms.clone();
            let task = self
                .loads
                .spawn(async move { (room, load(rooms, supervisor, room).await) });
            Loading {
                task: task.id(),
                commands: Vec::new(),
                stops: Vec::new(),
            }
        });
        if waiting.commands.len() >= rooms.config.room_mailbox {
            return cmd.refuse(Refused::Busy(Busy::Overloaded));
        }
        let deadline = Instant::now() + rooms.config.store_timeout;
        waiting.commands.push((deadline, cmd));
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
        let stopped = self.stop(stop).await;
        ctx.reply(stopped)
    }
}
