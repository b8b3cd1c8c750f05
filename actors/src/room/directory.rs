//! `Directory`: the rooms active on this node. Written only by the `RoomSupervisor`; read by
//! anyone. The lock guards map operations only, never an `.await`.

use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use kameo::actor::{ActorId, ActorRef};
use switchboard_engine::RoomId;

use super::RoomActor;

#[derive(Default)]
pub struct Directory {
    rooms: RwLock<HashMap<RoomId, ActorRef<RoomActor>>>,
}

impl Directory {
    fn read(&self) -> RwLockReadGuard<'_, HashMap<RoomId, ActorRef<RoomActor>>> {
        self.rooms.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<RoomId, ActorRef<RoomActor>>> {
        self.rooms.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The room's actor, if it is active and running.
    pub fn get(&self, room: RoomId) -> Option<ActorRef<RoomActor>> {
        self.read().get(&room).filter(|r| r.is_alive()).cloned()
    }

    pub fn contains(&self, room: RoomId) -> bool {
        self.read().contains_key(&room)
    }

    /// Every active room.
    pub fn all(&self) -> Vec<(RoomId, ActorRef<RoomActor>)> {
        self.read().iter().map(|(r, a)| (*r, a.clone())).collect()
    }

    pub(super) fn insert(&self, room: RoomId, actor: ActorRef<RoomActor>) {
        self.write().insert(room, actor);
    }

    /// Forgets the room, if its actor is `actor` (any actor with `None`), and returns it.
    pub(super) fn remove(
        &self,
        room: RoomId,
        actor: Option<ActorId>,
    ) -> Option<ActorRef<RoomActor>> {
        let mut rooms = self.write();
        match rooms.get(&room) {
            Some(a) if actor.is_none_or(|id| a.id() == id) => rooms.remove(&room),
            _ => None,
        }
    }
}
