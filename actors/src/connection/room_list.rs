//! The room list's commands as tasks off the connection's loop (see `tasks`): `rooms` and
//! `mute`. The rules are [`crate::room_list`]'s, shared with HTTP.

use switchboard_engine::protocol::{self as p, ServerFrame};

use super::tasks::{Ctx, Effect};
use crate::error::Refused;
use crate::room_list;

impl Ctx {
    pub(super) async fn rooms(&self, c: p::Rooms) -> Result<Effect, Refused> {
        let (rooms, more) = room_list::page(&self.hub, self.me, c.before, c.limit).await?;
        let reply = ServerFrame::Rooms(p::RoomList {
            rid: c.rid,
            rooms,
            more,
        });
        Ok(Effect::Reply(Box::new(reply)))
    }

    /// Answered `done`.
    pub(super) async fn mute(&self, c: p::Mute) -> Result<Effect, Refused> {
        room_list::mute(&self.hub, self.me, c.room, c.muted).await?;
        Ok(Effect::Reply(Box::new(ServerFrame::Done(p::Done {
            rid: c.rid,
        }))))
    }
}
