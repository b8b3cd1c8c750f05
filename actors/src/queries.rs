//! Read-only queries shared by the WebSocket commands and the HTTP routes, so both follow one
//! set of rules for who may read what and how a page is cut.

use switchboard_engine::domain::ChatMessage;
use switchboard_engine::{ErrorCode, Position, RoomId, UserId};
use switchboard_persistence::HistoryQuery;
use switchboard_persistence::store::search_terms;

use crate::hub::Hub;

pub(crate) fn internal<E: std::fmt::Display>(e: E) -> ErrorCode {
    tracing::warn!(error = %e, "command failed");
    ErrorCode::Internal
}

/// A page of `room`'s history for `user`, oldest first, and whether more lies beyond it in the
/// queried direction. `known_member` skips the membership lookup (a joined connection).
pub async fn history_page(
    hub: &Hub,
    user: UserId,
    room: RoomId,
    before: Option<Position>,
    after: Option<Position>,
    limit: u32,
    known_member: bool,
) -> Result<(Vec<ChatMessage>, bool), ErrorCode> {
    if limit == 0
        || limit > hub.config.limits.max_history_page
        || (before.is_some() && after.is_some())
    {
        return Err(ErrorCode::InvalidArgument);
    }
    let store = &hub.store;
    let is_member = known_member
        || store
            .members(room)
            .await
            .map_err(internal)?
            .iter()
            .any(|(u, _)| *u == user);
    if !is_member {
        return Err(if store.room(room).await.map_err(internal)?.is_some() {
            ErrorCode::Forbidden
        } else {
            ErrorCode::NotFound
        });
    }
    let mut messages = store
        .history(
            room,
            HistoryQuery {
                before,
                after,
                limit: limit + 1,
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
