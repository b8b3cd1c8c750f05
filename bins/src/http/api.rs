//! JSON routes: accounts, the caller's rooms, history, readiness and metrics.

use axum::Json;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use switchboard_actors::refusal::{self, Refusal};
use switchboard_actors::{error, queries};
use switchboard_engine::metrics as names;
use switchboard_engine::{ErrorCode, Position, RoomId, UserId};

use super::edge::JsonObject;
use super::{ApiError, AppState, bearer, error_response};
use crate::accounts::{AccountError, Admission};

/// `GET /api/auth`: how this node signs people in, so a page or app knows which routes to use
/// (`/api/signup` and `/api/signin`, or `/api/cognito/*`).
pub async fn auth(State(state): State<AppState>) -> impl IntoResponse {
    let provider = if state.cognito.is_some() {
        "cognito"
    } else {
        "local"
    };
    Json(serde_json::json!({ "provider": provider }))
}

#[derive(Deserialize)]
pub struct Credentials {
    pub(super) name: String,
    pub(super) password: String,
}

pub async fn sign_up(
    State(state): State<AppState>,
    JsonObject(c): JsonObject<Credentials>,
) -> Result<impl IntoResponse, AccountError> {
    Ok(Json(state.accounts.sign_up(&c.name, &c.password).await?))
}

/// Sign-in, throttled before any hashing: a guessing run is refused with 429 (4000) per source
/// address and per name from that address, whether the name exists or not; a name tried from
/// many addresses is slowed down, never refused (`Accounts::admit_sign_in`).
pub async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    JsonObject(c): JsonObject<Credentials>,
) -> Result<impl IntoResponse, AccountError> {
    admit_sign_in(&state, peer, &c.name).await?;
    let session = state
        .accounts
        .sign_in(&c.name, &c.password)
        .await
        .inspect_err(|e| sign_in_failed(&c.name, e))?;
    Ok(Json(session))
}

/// The sign-in throttle (local accounts and Cognito alike): refuses, waits, or lets through.
pub(super) async fn admit_sign_in(
    state: &AppState,
    peer: SocketAddr,
    name: &str,
) -> Result<(), AccountError> {
    match state
        .accounts
        .admit_sign_in(&*state.throttle, name, peer.ip())
    {
        Admission::Now => Ok(()),
        Admission::After(wait) => {
            refusal::note(
                Refusal::RateLimited,
                format_args!(
                    "sign-in as {name:?} from {peer}: the name is tried too often; slowed by {wait:?}"
                ),
            );
            // Holds nothing but this request's connection: no hashing slot, no queue place.
            tokio::time::sleep(wait).await;
            Ok(())
        }
        Admission::Refused => {
            metrics::counter!(names::SIGN_IN_FAILURES, "reason" => "throttled").increment(1);
            refusal::note(
                Refusal::RateLimited,
                format_args!("sign-in as {name:?} from {peer}: throttled"),
            );
            Err(ErrorCode::RateLimited.into())
        }
    }
}

/// Counts and logs (at a bounded rate) a refused sign-in.
pub(super) fn sign_in_failed(name: &str, e: &AccountError) {
    let reason = match e.code {
        ErrorCode::RateLimited | ErrorCode::Busy => "busy",
        _ => "wrong_credentials",
    };
    metrics::counter!(names::SIGN_IN_FAILURES, "reason" => reason).increment(1);
    refusal::note(
        Refusal::AuthFailed,
        format_args!("sign-in as {name:?}: {}", e.message),
    );
}

pub async fn rooms(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let me = bearer(&state, &headers).await?;
    let rooms = state
        .store
        .rooms_of(me.user)
        .await
        .map_err(error::internal)?;
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
pub(super) fn existing(room: RoomId) -> Result<RoomId, ApiError> {
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
    let me = bearer(&state, &headers).await?;
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
    let me = bearer(&state, &headers).await?;
    let room = p.room.map(|r| existing(RoomId(r))).transpose()?;
    let messages = queries::search(&state.hub, me.user, &p.q, room, p.limit.unwrap_or(50)).await?;
    Ok(Json(serde_json::json!({ "messages": messages })))
}

/// Ready when the store answers, the node is not shutting down, and no long-lived task's death
/// failed it (the node stays out of service from then on; its log says which task).
pub async fn ready(State(state): State<AppState>) -> axum::response::Response {
    let unavailable =
        |code, message: &str| error_response(StatusCode::SERVICE_UNAVAILABLE, code, message);
    if state.hub.is_shutting_down() {
        return unavailable(ErrorCode::ShuttingDown, "shutting down");
    }
    if let Some(task) = state.tasks.failed() {
        return unavailable(
            ErrorCode::Internal,
            &format!("node failed: its {} task died", task.name()),
        );
    }
    match state.store.user(UserId(0)).await {
        Ok(_) => "ready".into_response(),
        Err(e) => {
            error::store_failed(format_args!("readiness check: {e}"));
            unavailable(ErrorCode::Internal, "store unavailable")
        }
    }
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    state.metrics.render()
}
