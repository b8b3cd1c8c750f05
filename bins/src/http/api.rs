//! JSON routes: accounts, the caller's rooms, history, readiness and metrics.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use switchboard_actors::queries;
use switchboard_engine::{ErrorCode, Position, RoomId, UserId};

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

/// A room id no store can hold names no room: 404, before it reaches the store.
fn existing(room: RoomId) -> Result<RoomId, ApiError> {
    if room.can_exist() {
        Ok(room)
    } else {
        Err(ErrorCode::NotFound.into())
    }
}

/// `EPOCH:SEQ`, each at most `i64::MAX` (a larger one no room can have assigned): else 400.
fn position(s: &str) -> Result<Position, ApiError> {
    let (epoch, seq) = s.split_once(':').ok_or(ErrorCode::InvalidArgument)?;
    match (epoch.parse(), seq.parse()) {
        (Ok(epoch), Ok(seq)) if Position::new(epoch, seq).in_range() => {
            Ok(Position::new(epoch, seq))
        }
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
    let room = existing(RoomId(room))?;
    let before = q.before.as_deref().map(position).transpose()?;
    let after = q.after.as_deref().map(position).transpose()?;
    let (messages, more) = queries::history_page(
        &state.hub,
        me.user,
        room,
        before,
        after,
        q.limit.unwrap_or(50),
        false,
    )
    .await?;
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
    let room = p.room.map(|r| existing(RoomId(r))).transpose()?;
    let messages = queries::search(&state.hub, me.user, &p.q, room, p.limit.unwrap_or(50)).await?;
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
