//! The room list a client opens with, and a member's muted flag, shared by the WebSocket
//! commands (`rooms`, `mute`) and the HTTP route so both follow one set of bounds.
//!
//! A page costs the store one read of each of the caller's rooms (their order) and a bounded
//! amount per room of the page (its last message, an unread count stopped at
//! [`MAX_UNREAD`](switchboard_engine::domain::MAX_UNREAD) + 1): pages are at most
//! [`MAX_ROOM_PAGE`] rooms.

use switchboard_engine::RoomId;
use switchboard_engine::UserId;
use switchboard_engine::domain::{RoomCursor, RoomSummary};

use crate::error::Refused;
use crate::hub::Hub;
use crate::queries;

/// The most rooms one page of the room list holds.
pub const MAX_ROOM_PAGE: u32 = 100;

/// A page of `me`'s rooms, most recently active first, after `before`; and whether more
/// follow. `limit` must be 1 to [`MAX_ROOM_PAGE`].
pub async fn page(
    hub: &Hub,
    me: UserId,
    before: Option<RoomCursor>,
    limit: u32,
) -> Result<(Vec<RoomSummary>, bool), Refused> {
    if limit == 0 || limit > MAX_ROOM_PAGE {
        return Err(Refused::Invalid("limit must be 1 to 100"));
    }
    // One room more than asked says whether more follow.
    let mut rooms = hub.store.room_list(me, before, limit + 1).await?;
    let more = rooms.len() > limit as usize;
    rooms.truncate(limit as usize);
    Ok((rooms, more))
}

/// Mutes or unmutes `room` for `me`: 3000 when `me` is not a member, 3001 when there is no
/// such room.
pub async fn mute(hub: &Hub, me: UserId, room: RoomId, muted: bool) -> Result<(), Refused> {
    if hub.store.set_muted(room, me, muted).await? {
        return Ok(());
    }
    queries::check_member(hub, room, me)
        .await
        .map_err(Refused::Code)?;
    // A member after all: they joined between the two reads; the update stands for them.
    hub.store.set_muted(room, me, muted).await?;
    Ok(())
}
