//! People over HTTP, for the caller named by the Bearer token: `GET /api/users?ids=1,2,3`
//! (names for ids), `GET /api/users/search?prefix=..&limit=..` (users by name) and
//! `PUT /api/profile` (the caller's display name and status). The rules, bounds and rate
//! limit are `switchboard_actors::people`'s, as for the WebSocket commands.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use switchboard_actors::error::{Refused, store_failed};
use switchboard_actors::people::{self, MAX_PROFILE_IDS};
use switchboard_engine::domain::Profile;
use switchboard_engine::{ConnId, ErrorCode, UserId};

use super::edge::JsonObject;
use super::{ApiError, AppState, bearer, error_response, status_of};

/// A refusal with its code and its message (which bound, which field).
fn refused(r: Refused) -> Response {
    if let Refused::Store(e) = &r {
        store_failed(format_args!("people route failed: {e}"));
    }
    error_response(status_of(r.code()), r.code(), &r.to_string())
}

fn users(users: Vec<Profile>) -> Response {
    Json(serde_json::json!({ "users": users })).into_response()
}

#[derive(Deserialize)]
pub struct IdsParams {
    /// Comma-separated user ids.
    ids: String,
}

/// `ids` as user ids: each a number; at most [`MAX_PROFILE_IDS`] of them (checked again by
/// `people::profiles`, with its message). An id no store can hold names nobody: left out.
fn parse_ids(ids: &str) -> Result<Vec<UserId>, ApiError> {
    let mut out = Vec::new();
    for id in ids.split(',').filter(|s| !s.is_empty()) {
        if out.len() > MAX_PROFILE_IDS {
            break;
        }
        let id: u64 = id
            .trim()
            .parse()
            .map_err(|_| ApiError(ErrorCode::InvalidArgument))?;
        out.push(UserId(id));
    }
    Ok(out)
}

/// `GET /api/users?ids=1,2,3`: `{"users": [Profile]}`, the ids that name a user.
pub async fn profiles(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<IdsParams>,
) -> Result<Response, ApiError> {
    bearer(&state, &headers).await?;
    let mut ids = parse_ids(&q.ids)?;
    let named = ids.len();
    ids.retain(|id| id.can_exist());
    if ids.is_empty() && named > 0 {
        return Ok(users(Vec::new()));
    }
    Ok(match people::profiles(&state.hub, &ids).await {
        Ok(found) => users(found),
        Err(r) => refused(r),
    })
}

#[derive(Deserialize)]
pub struct SearchParams {
    prefix: String,
    limit: Option<u32>,
}

/// `GET /api/users/search?prefix=an&limit=10`: `{"users": [Profile]}` (limit 1 to 20, 20 when
/// absent or larger).
pub async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<SearchParams>,
) -> Result<Response, ApiError> {
    let me = bearer(&state, &headers).await?;
    let limit = q.limit.unwrap_or(u32::MAX);
    Ok(
        match people::find_users(&state.hub, me.user, &q.prefix, limit).await {
            Ok(found) => users(found),
            Err(r) => refused(r),
        },
    )
}

#[derive(Deserialize)]
pub struct ProfileChange {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

/// `PUT /api/profile` with `{"display_name"?, "status"?}`: the caller's profile as now stored.
pub async fn set_profile(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonObject(change): JsonObject<ProfileChange>,
) -> Result<Response, ApiError> {
    let me = bearer(&state, &headers).await?;
    let (name, status) = (change.display_name.as_deref(), change.status.as_deref());
    // No connection asked: every connection of the caller hears of it.
    let set = people::set_profile(&state.hub, me.user, ConnId(0), name, status).await;
    Ok(match set {
        Ok(profile) => Json(profile).into_response(),
        Err(r) => refused(r),
    })
}
