//! JSON routes: accounts, the caller's rooms, history, readiness and metrics.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use switchboard_engine::{ErrorCode, Position, RoomId, UserId};
use switchboard_persistence::HistoryQuery;

use super::{ApiError, AppState, bearer};

#[derive(Deserialize)]
pub struct Credentials {
    name: String,
    password: String,
}

pub async fn sign_up(
    State(state): State<AppState>,
    Json(c): Json<Credentials>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(state.accounts.sign_up(&c.name, &c.password).await?))
}

pub async fn sign_in(
    State(state): State<AppState>,
    Json(c): Json<Credentials>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(state.accounts.sign_in(&c.name, &c.password).await?))
}

pub async fn rooms(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let me = bearer(&state, &headers)?;
    let rooms = state
        .hub
        .store
        .rooms_of(me.user)
        .await
        .map_err(|_| ErrorCode::Internal)?;
    Ok(Json(serde_json::json!({ "rooms": rooms })))
}

#[derive(Deserialize)]
pub struct HistoryParams {
    limit: Option<u32>,
    /// `EPOCH:SEQ`
    before: Option<String>,
    /// `EPOCH:SEQ`
    after: Option<String>,
}

fn position(s: &str) -> Result<Position, ApiError> {
    let (epoch, seq) = s.split_once(':').ok_or(ErrorCode::InvalidArgument)?;
    match (epoch.parse(), seq.parse()) {
        (Ok(epoch), Ok(seq)) => Ok(Position::new(epoch, seq)),
        _ => Err(ErrorCode::InvalidArgument.into()),
    }
}

pub async fn history(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(room): Path<u64>,
    Query(q): Query<HistoryParams>,
) -> Result<impl IntoResponse, ApiError> {
    let me = bearer(&state, &headers)?;
    let room = RoomId(room);
    let limit = q.limit.unwrap_or(50);
    if limit == 0
        || limit > state.limits.max_history_page
        || (q.before.is_some() && q.after.is_some())
    {
        return Err(ErrorCode::InvalidArgument.into());
    }
    let store = &state.hub.store;
    let members = store.members(room).await.map_err(|_| ErrorCode::Internal)?;
    if !members.iter().any(|(u, _)| *u == me.user) {
        let exists = store
            .room(room)
            .await
            .map_err(|_| ErrorCode::Internal)?
            .is_some();
        return Err(if exists {
            ErrorCode::Forbidden
        } else {
            ErrorCode::NotFound
        }
        .into());
    }
    let before = q.before.as_deref().map(position).transpose()?;
    let after = q.after.as_deref().map(position).transpose()?;
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
        .map_err(|_| ErrorCode::Internal)?;
    let more = messages.len() > limit as usize;
    if more {
        if after.is_some() {
            messages.pop();
        } else {
            messages.remove(0);
        }
    }
    Ok(Json(
        serde_json::json!({ "messages": messages, "more": more }),
    ))
}

#[derive(Deserialize)]
pub struct SearchParams {
    q: String,
    room: Option<u64>,
    limit: Option<u32>,
}

/// Full-text search over the caller's rooms: `GET /api/search?q=words&room=ID&limit=N`.
pub async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<SearchParams>,
) -> Result<impl IntoResponse, ApiError> {
    let me = bearer(&state, &headers)?;
    let limit = p.limit.unwrap_or(50);
    if limit == 0
        || limit > state.limits.max_history_page
        || p.q.len() > state.limits.max_search_query_bytes as usize
        || switchboard_persistence::store::search_terms(&p.q).is_empty()
    {
        return Err(ErrorCode::InvalidArgument.into());
    }
    let messages = state
        .hub
        .store
        .search(me.user, &p.q, p.room.map(RoomId), limit)
        .await
        .map_err(|_| ErrorCode::Internal)?;
    Ok(Json(serde_json::json!({ "messages": messages })))
}

/// Ready when the store answers and the node is not shutting down.
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    if state.hub.is_shutting_down() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    match state.hub.store.user(UserId(0)).await {
        Ok(_) => (StatusCode::OK, "ready"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "store unavailable"),
    }
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    state.metrics.render()
}
