//! `RoomSupervisor`: starts room actors on demand, restarts them after a panic (up to an
//! explicit limit), and stops them when idle. It alone writes the room directory, and it
//! handles one request at a time, so a room never has two live incarnations on this node.

use std::sync::Weak;

use kameo::error::Infallible;
use kameo::prelude::*;
use kameo::supervision::{RestartPolicy, SupervisionStrategy};
use switchboard_engine::{ErrorCode, RoomId};

use super::{RoomActor, RoomArgs};
use crate::hub::Hub;

pub struct RoomSupervisor {
    hub: Weak<Hub>,
}

impl Actor for RoomSupervisor {
    type Args = Weak<Hub>;
    type Error = Infallible;

    fn supervision_strategy() -> SupervisionStrategy {
        // A room's failure is its own: restart only that room.
        SupervisionStrategy::OneForOne
    }

    async fn on_start(hub: Weak<Hub>, _: ActorRef<Self>) -> Result<Self, Infallible> {
        Ok(RoomSupervisor { hub })
    }
}

/// The live actor for a room, started if needed.
pub struct Resolve {
    pub room: RoomId,
}

impl Message<Resolve> for RoomSupervisor {
    type Reply = Result<ActorRef<RoomActor>, ErrorCode>;

    async fn handle(&mut self, r: Resolve, ctx: &mut Context<Self, Self::Reply>) -> Self::Reply {
        let hub = self.hub.upgrade().ok_or(ErrorCode::ShuttingDown)?;
        if let Some(actor) = hub.active_room(r.room) {
            return Ok(actor);
        }
        // Another node owns it now (the ring moved since the caller looked).
        if hub.route(r.room) != crate::hub::Route::Local {
            return Err(ErrorCode::Busy);
        }
        let info = hub
            .store
            .room(r.room)
            .await
            .map_err(|_| ErrorCode::Internal)?
            .ok_or(ErrorCode::NotFound)?;
        let config = &hub.config;
        let actor = RoomActor::supervise(
            ctx.actor_ref(),
            RoomArgs {
                info,
                hub: self.hub.clone(),
            },
        )
        .restart_policy(RestartPolicy::Transient)
        .restart_limit(config.room_restart_limit, config.room_restart_window)
        .spawn_with_mailbox(kameo::mailbox::bounded(config.room_mailbox))
        .await;
        if let Err(e) = actor.wait_for_startup_result().await {
            tracing::error!(room = %r.room, error = ?e, "room failed to start");
            return Err(ErrorCode::Internal);
        }
        hub.rooms
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(r.room, actor.clone());
        Ok(actor)
    }
}

/// Stop a room: forget it, then stop it (it finishes what is already in its mailbox first).
/// Sent when it has had no subscribers for the idle time (`actor` names the idle
/// incarnation), or when another node takes it over (`actor: None`).
pub struct StopRoom {
    pub room: RoomId,
    pub actor: Option<ActorId>,
}

impl Message<StopRoom> for RoomSupervisor {
    type Reply = ();

    async fn handle(&mut self, idle: StopRoom, _: &mut Context<Self, ()>) {
        let Some(hub) = self.hub.upgrade() else {
            return;
        };
        let actor = {
            let mut rooms = hub.rooms.write().unwrap_or_else(|p| p.into_inner());
            match rooms.get(&idle.room) {
                Some(a) if idle.actor.is_none_or(|id| a.id() == id) => rooms.remove(&idle.room),
                _ => None,
            }
        };
        if let Some(actor) = actor {
            // Not `wait_for_shutdown`: a supervised child's mailbox stays open until this
            // supervisor handles its exit, which it cannot do while waiting here.
            let (done, stopped) = tokio::sync::oneshot::channel();
            if actor.tell(super::Retire { done }).await.is_ok() {
                let _ = stopped.await;
            }
            tracing::debug!(room = %idle.room, "room stopped");
        }
    }
}
