//! `Directory`: the rooms active on this node. Written only by the `RoomSupervisor` (and the
//! router's count of commands on their way through it); read by anyone. The lock guards map
//! operations only, never an `.await`.
//!
//! **Order.** A command for a room that is not active goes through the supervisor; one for an
//! active room goes straight to its mailbox. If the room became active while an earlier command
//! still waited in the supervisor's mailbox, a later command sent straight would overtake it
//! (a `send` before the `join` ahead of it). So the directory counts, per room, the commands
//! on their way through the supervisor, and while any is, the room is not given out as active:
//! later commands queue behind them.

use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use kameo::actor::{ActorId, ActorRef};
use switchboard_engine::RoomId;

use super::RoomActor;

#[derive(Default)]
struct Inner {
    rooms: HashMap<RoomId, ActorRef<RoomActor>>,
    /// Commands handed to the supervisor and not yet handled by it, per room.
    via_supervisor: HashMap<RoomId, usize>,
}

#[derive(Default)]
pub struct Directory {
    inner: RwLock<Inner>,
}

impl Directory {
    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The room's actor, if it is active and running.
    pub fn get(&self, room: RoomId) -> Option<ActorRef<RoomActor>> {
        self.read()
            .rooms
            .get(&room)
            .filter(|r| r.is_alive())
            .cloned()
    }

    /// The room's actor for a new command: `None` while the room is inactive, or while
    /// earlier commands for it are still on their way through the supervisor.
    pub(crate) fn for_command(&self, room: RoomId) -> Option<ActorRef<RoomActor>> {
        let inner = self.read();
        if inner.via_supervisor.contains_key(&room) {
            return None;
        }
        inner.rooms.get(&room).filter(|r| r.is_alive()).cloned()
    }

    /// A command for `room` is being handed to the supervisor.
    pub(crate) fn via_supervisor(&self, room: RoomId) {
        *self.write().via_supervisor.entry(room).or_default() += 1;
    }

    /// The supervisor handled (or never got) a command for `room`.
    pub(crate) fn handled_by_supervisor(&self, room: RoomId) {
        let mut inner = self.write();
        if let Some(n) = inner.via_supervisor.get_mut(&room) {
            *n -= 1;
            if *n == 0 {
                inner.via_supervisor.remove(&room);
            }
        }
    }

    pub fn contains(&self, room: RoomId) -> bool {
        self.read().rooms.contains_key(&room)
    }

    /// Every active room.
    pub fn all(&self) -> Vec<(RoomId, ActorRef<RoomActor>)> {
        self.read()
            .rooms
            .iter()
            .map(|(r, a)| (*r, a.clone()))
            .collect()
    }

    pub(super) fn insert(&self, room: RoomId, actor: ActorRef<RoomActor>) {
        self.write().rooms.insert(room, actor);
    }

    /// Forgets the room, if its actor is `actor` (any actor with `None`), and returns it.
    pub(super) fn remove(
        &self,
        room: RoomId,
        actor: Option<ActorId>,
    ) -> Option<ActorRef<RoomActor>> {
        let mut inner = self.write();
        match inner.rooms.get(&room) {
            Some(a) if actor.is_none_or(|id| a.id() == id) => inner.rooms.remove(&room),
            _ => None,
        }
    }
}
