//! The axum router. HTTP errors carry the same codes as WebSocket `error` frames:
//! `{"error": {"code": 2001, "message": "invalid token"}}`.
//!
//! # Layout
//! - [`edge`]: around every route: security headers, the error shape, request limits.
//! - `api`: the JSON routes. `ws`: the WebSocket upgrade. `dashboard`: the live dashboard.
//! - `attachments`: upload slots and download redirects for a room's members.
//! - `cognito`: the user pool's account routes, `/api/cognito/*` (with Cognito only).
//! - `media`: the local media store's signed upload and download URLs.
//! - `people`: profiles, names for ids and the search for users by name.
//! - `room_list`: the caller's room list, a page by activity (`GET /api/rooms/list`).

mod api;
mod attachments;
mod cognito;
mod dashboard;
pub mod edge;
mod guard;
mod media;
mod people;
mod room_list;
mod ws;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{MethodRouter, get, post, put};
use metrics_exporter_prometheus::PrometheusHandle;
use switchboard_actors::Hub;
use switchboard_actors::supervised::Supervisor;
use switchboard_engine::ErrorCode;
use switchboard_engine::auth::Identity;
use switchboard_engine::limits::Limits;

use tokio::sync::watch;

use crate::accounts::{AccountError, Accounts};
use crate::cognito::CognitoAccounts;
use crate::dashboard::View;

#[derive(Clone)]
pub struct AppState {
    pub hub: Arc<Hub>,
    /// The node's store (read by `/readyz`) and rate counters (sign-in), the same the hub uses.
    pub store: Arc<dyn switchboard_persistence::Store>,
    pub throttle: Arc<dyn switchboard_persistence::cluster::throttle::Throttle>,
    pub accounts: Arc<Accounts>,
    pub metrics: PrometheusHandle,
    /// The latest snapshots of the ring's nodes, for `/api/dashboard`.
    pub dashboard: watch::Receiver<Arc<View>>,
    /// `dashboard.admin_token`: the bearer token `/api/dashboard` requires, when set.
    pub admin_token: Option<Arc<str>>,
    /// The user pool's account operations, with `auth.provider = "cognito"`; then the
    /// `/api/cognito/*` routes are served instead of the local `/api/signup` and `/api/signin`.
    pub cognito: Option<Arc<CognitoAccounts>>,
    pub limits: Limits,
    /// `http.body_read_timeout_ms`: the time a request body may take to arrive.
    pub body_read_timeout: Duration,
    /// `http.max_body_bytes`: the largest request body read.
    pub max_body_bytes: usize,
    /// The node's long-lived tasks: `/readyz` answers 503 once one's death failed the node.
    pub tasks: Supervisor,
    /// Where attachments live; the local store's URLs are served by `/media/{key}`.
    pub media: crate::media::Media,
}

pub use edge::error_response;

pub fn router(state: AppState) -> Router {
    let router = Router::new()
        .route(
            "/",
            get(|| async { Html(include_str!("../../static/index.html")) }),
        )
        .route(
            "/app.css",
            page_file(CSS, include_str!("../../static/app.css")),
        )
        .route(
            "/app.js",
            page_file(JS, include_str!("../../static/app.js")),
        )
        .route(
            "/people.js",
            page_file(JS, include_str!("../../static/people.js")),
        )
        .route(
            "/changes.js",
            page_file(JS, include_str!("../../static/changes.js")),
        )
        .route(
            "/compose.js",
            page_file(JS, include_str!("../../static/compose.js")),
        )
        .route(
            "/rooms.js",
            page_file(JS, include_str!("../../static/rooms.js")),
        )
        .route(
            "/timeline.js",
            page_file(JS, include_str!("../../static/timeline.js")),
        )
        .route(
            "/ticks.js",
            page_file(JS, include_str!("../../static/ticks.js")),
        )
        .route(
            "/mentions.js",
            page_file(JS, include_str!("../../static/mentions.js")),
        )
        .route(
            "/pins.js",
            page_file(JS, include_str!("../../static/pins.js")),
        )
        .route(
            "/msgpack.js",
            page_file(JS, include_str!("../../static/msgpack.js")),
        )
        // The page has no icon; an empty answer keeps browsers from logging a 404 for it.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(api::ready))
        .route("/metrics", get(api::metrics))
        .route(
            "/dashboard",
            get(|| async { Html(include_str!("../../static/dashboard.html")) }),
        )
        .route(
            "/dashboard.css",
            page_file(CSS, include_str!("../../static/dashboard.css")),
        )
        .route(
            "/dashboard.js",
            page_file(JS, include_str!("../../static/dashboard.js")),
        )
        .route("/api/dashboard", get(dashboard::data))
        .route("/api/auth", get(api::auth))
        .route("/ws", get(ws::upgrade))
        .route("/api/rooms", get(api::rooms))
        .route("/api/rooms/list", get(room_list::list))
        .route("/api/rooms/{id}/history", get(api::history))
        .route("/api/search", get(api::search))
        .route("/api/users", get(people::profiles))
        .route("/api/users/search", get(people::search))
        .route("/api/profile", put(people::set_profile))
        .route("/api/rooms/{id}/attachments", post(attachments::open_slot))
        .route(
            "/api/rooms/{id}/attachments/{attachment}",
            get(attachments::download),
        )
        .route("/media/{*key}", put(media::put).get(media::get));
    // With Cognito, accounts live in the user pool: its routes, no local sign-up or sign-in.
    let router = match state.cognito {
        None => router
            .route("/api/signup", post(api::sign_up))
            .route("/api/signin", post(api::sign_in)),
        Some(_) => router
            .route("/api/cognito/signup", post(cognito::sign_up))
            .route("/api/cognito/confirm", post(cognito::confirm))
            .route("/api/cognito/signin", post(cognito::sign_in))
            .route("/api/cognito/refresh", post(cognito::refresh))
            .route("/api/cognito/signout", post(cognito::sign_out)),
    };
    let csp = edge::policy(state.media.config.foreign_origin().as_deref());
    router
        .layer(axum::middleware::from_fn_with_state(csp, edge::edge))
        .with_state(state)
}

const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// A file of the web page, compiled into the binary. The page keeps its script and style in
/// such files, so it runs under a Content-Security-Policy that forbids inline code.
fn page_file(content_type: &'static str, body: &'static str) -> MethodRouter<AppState> {
    get(move || async move { ([(header::CONTENT_TYPE, content_type)], body) })
}

/// An error response with its code.
pub struct ApiError(pub ErrorCode);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(status_of(self.0), self.0, self.0.describe())
    }
}

/// Account errors keep their specific message (which sign-up rule failed).
impl IntoResponse for AccountError {
    fn into_response(self) -> Response {
        error_response(status_of(self.code), self.code, self.message)
    }
}

/// The HTTP status a code is answered with.
fn status_of(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        ApiError(code)
    }
}

/// The caller named by the `Authorization: Bearer` header.
async fn bearer(state: &AppState, headers: &HeaderMap) -> Result<Identity, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError(ErrorCode::Unauthenticated))?;
    Ok(state.hub.authenticate(token).await?)
}
