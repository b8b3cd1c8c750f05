//! Read-only queries shared by the WebSocket commands and the HTTP routes, so both follow one
//! set of rules for who may read what and how a page is cut.

use switchboard_engine::domain::ChatMessage;
use switchboard_engine::{ErrorCode, Position, RoomId, UserId};
use switchboard_persistence::HistoryQuery;
use switchboard_persistence::store::search_terms;

use crate::error::internal;
use crate::hub::Hub;

/// A page of `room`'s history for `user`, oldest first, and whether more lies beyond it in the
/// queried direction. Membership is asked of the store every time: a connection's memory of
/// having joined outlives a leave on another connection.
pub async fn history_page(
    hub: &Hub,
    user: UserId,
    room: RoomId,
    before: Option<Position>,
    after: Option<Position>,
    limit: u32,
) -> Result<(Vec<ChatMessage>, bool), ErrorCode> {
    if limit == 0
        || limit > hub.config.limits.max_history_page
        || (before.is_some() && after.is_some())
    {
        return Err(ErrorCode::InvalidArgument);
    }
    check_member(hub, room, user).await?;
    let store = &hub.store;
    let mut messages = store
        .history(
            room,
            HistoryQuery {
                before,
                after,
                limit: limit + 1,
                viewer: Some(user),
                changes: false,
            },
        )
        .await
        .map_err(internal)?;
    let more = messages.len() > limit as usize;
    if more {
        // One extra row was read to learn whether more exist; drop it on the far side.
        if after.is_some() {
            messages.pop();
        } else {
            messages.remove(0);
        }
    }
    Ok((messages, more))
}

/// `Ok` when `user` is a member of `room` now; 3000 for a room they are not in, 3001 for a
/// room that does not exist.
pub async fn check_member(hub: &Hub, room: RoomId, user: UserId) -> Result<(), ErrorCode> {
    let store = &hub.store;
    if store.is_member(room, user).await.map_err(internal)? {
        return Ok(());
    }
    Err(if store.room(room).await.map_err(internal)?.is_some() {
        ErrorCode::Forbidden
    } else {
        ErrorCode::NotFound
    })
}

/// Messages with every word of `query` in `user`'s rooms (only `room` when given), newest first.
pub async fn search(
    hub: &Hub,
    user: UserId,
    query: &str,
    room: Option<RoomId>,
    limit: u32,
) -> Result<Vec<ChatMessage>, ErrorCode> {
    let limits = &hub.config.limits;
    if limit == 0
        || limit > limits.max_history_page
        || query.len() > limits.max_search_query_bytes as usize
        || search_terms(query).is_empty()
    {
        return Err(ErrorCode::InvalidArgument);
    }
    hub.store
        .search(user, query, room, limit)
        .await
        .map_err(internal)
}
