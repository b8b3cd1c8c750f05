//! The room list over HTTP, for the caller named by the Bearer token:
//! `GET /api/rooms/list?limit=..&before=ACTIVITY:ROOM`, the `rooms` command's page. The
//! bounds are `switchboard_actors::room_list`'s, as for the WebSocket command. (`GET
//! /api/rooms` keeps its contract: every room, as `RoomInfo`, by id.)

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use switchboard_actors::error::{Refused, store_failed};
use switchboard_actors::room_list;
use switchboard_engine::domain::RoomCursor;
use switchboard_engine::ids::MAX_STORED;
use switchboard_engine::{ErrorCode, RoomId};

use super::{ApiError, AppState, bearer, error_response, status_of};

/// A page holds this many rooms when the request names no `limit`.
const DEFAULT_LIMIT: u32 = 50;

#[derive(Deserialize)]
pub struct ListParams {
    limit: Option<u32>,
    /// `ACTIVITY:ROOM`, the `activity` and `id` of the last room of the page before.
    before: Option<String>,
}

/// `ACTIVITY:ROOM`, each at most `i64::MAX`: else 400 (1002).
fn cursor(s: &str) -> Result<RoomCursor, ApiError> {
    let bad = || ApiError(ErrorCode::InvalidArgument);
    let (activity, room) = s.split_once(':').ok_or_else(bad)?;
    let activity: u64 = activity.parse().map_err(|_| bad())?;
    let room: u64 = room.parse().map_err(|_| bad())?;
    if activity > MAX_STORED || room > MAX_STORED {
        return Err(bad());
    }
    Ok(RoomCursor {
        activity,
        room: RoomId(room),
    })
}

/// `GET /api/rooms/list`: `{"rooms": [RoomSummary], "more": bool}`, most recently active
/// first (limit 1 to 100, 50 when absent).
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ListParams>,
) -> Result<Response, ApiError> {
    let me = bearer(&state, &headers).await?;
    let before = q.before.as_deref().map(cursor).transpose()?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    Ok(
        match room_list::page(&state.hub, me.user, before, limit).await {
            Ok((rooms, more)) => {
                Json(serde_json::json!({ "rooms": rooms, "more": more })).into_response()
            }
            Err(r) => {
                if let Refused::Store(e) = &r {
                    store_failed(format_args!("room list route failed: {e}"));
                }
                error_response(status_of(r.code()), r.code(), &r.to_string())
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_activity_colon_room_within_range() {
        assert_eq!(
            cursor("1735689600000:7").ok().map(|c| (c.activity, c.room)),
            Some((1_735_689_600_000, RoomId(7)))
        );
        for bad in ["", "7", "a:1", "1:b", "1:2:3", "9223372036854775808:1"] {
            assert!(cursor(bad).is_err(), "{bad}");
        }
    }
}
