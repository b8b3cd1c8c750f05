//! The axum router. HTTP errors carry the same codes as WebSocket `error` frames:
//! `{"error": {"code": 2001, "message": "invalid token"}}`.

mod api;
mod guard;
mod ws;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use switchboard_actors::Hub;
use switchboard_engine::ErrorCode;
use switchboard_engine::auth::Identity;
use switchboard_engine::limits::Limits;

use crate::accounts::Accounts;

#[derive(Clone)]
pub struct AppState {
    pub hub: Arc<Hub>,
    pub accounts: Arc<Accounts>,
    pub metrics: PrometheusHandle,
    pub limits: Limits,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { Html(include_str!("../../static/index.html")) }),
        )
        .route(
            "/app.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    include_str!("../../static/app.js"),
                )
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(api::ready))
        .route("/metrics", get(api::metrics))
        .route("/ws", get(ws::upgrade))
        .route("/api/signup", post(api::sign_up))
        .route("/api/signin", post(api::sign_in))
        .route("/api/rooms", get(api::rooms))
        .route("/api/rooms/{id}/history", get(api::history))
        .route("/api/search", get(api::search))
        .with_state(state)
}

/// An error response with its code.
pub struct ApiError(pub ErrorCode);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::json!({
            "error": { "code": self.0 as u16, "message": self.0.describe() }
        });
        (status, Json(body)).into_response()
    }
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        ApiError(code)
    }
}

/// The caller named by the `Authorization: Bearer` header.
fn bearer(state: &AppState, headers: &HeaderMap) -> Result<Identity, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError(ErrorCode::Unauthenticated))?;
    state
        .hub
        .tokens
        .verify(token)
        .map_err(|e| ApiError(e.code()))
}
