//! The messages that control a room's life rather than ask it something.

use kameo::prelude::*;

use super::RoomActor;

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

#[cfg(feature = "testing")]
impl Message<crate::faults::InjectPanic> for RoomActor {
    type Reply = ();

    async fn handle(&mut self, _: crate::faults::InjectPanic, _: &mut Context<Self, ()>) {
        panic!("injected panic in room {}", self.info.id);
    }
}
