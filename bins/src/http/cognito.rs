//! `/api/cognito/*`: a Cognito user pool's account flows, for apps without a sign-in UI of
//! their own (served only with `auth.provider = "cognito"`, PROTOCOL §3.2).

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::json;
use switchboard_engine::ErrorCode;
use switchboard_engine::domain::UserInfo;

use super::AppState;
use super::api::{Credentials, admit_sign_in, sign_in_failed};
use super::edge::JsonObject;
use crate::accounts::AccountError;
use crate::cognito::CognitoAccounts;
use crate::cognito::accounts::PoolTokens;
use crate::cognito::revoke::{self, Cause};

#[derive(Deserialize)]
pub struct SignUp {
    name: String,
    password: String,
    /// Required by pools that verify an e-mail address.
    #[serde(default)]
    email: Option<String>,
}

#[derive(Deserialize)]
pub struct Confirm {
    name: String,
    code: String,
}

#[derive(Deserialize)]
pub struct Refresh {
    refresh_token: String,
}

/// A signed-in pool user: the pool's tokens and the Switchboard user they name.
#[derive(Serialize)]
struct PoolSession {
    #[serde(flatten)]
    tokens: PoolTokens,
    user: UserInfo,
}

fn pool(state: &AppState) -> Result<&CognitoAccounts, AccountError> {
    // Routed only when set.
    state.cognito.as_deref().ok_or(ErrorCode::NotFound.into())
}

pub async fn sign_up(
    State(state): State<AppState>,
    JsonObject(c): JsonObject<SignUp>,
) -> Result<impl IntoResponse, AccountError> {
    let pool = pool(&state)?;
    let confirmed = pool
        .sign_up(&c.name, &c.password, c.email.as_deref())
        .await?;
    Ok(Json(json!({ "confirmed": confirmed })))
}

pub async fn confirm(
    State(state): State<AppState>,
    JsonObject(c): JsonObject<Confirm>,
) -> Result<impl IntoResponse, AccountError> {
    pool(&state)?.confirm(&c.name, &c.code).await?;
    Ok(Json(json!({})))
}

/// Throttled like the local sign-in (`admit_sign_in`) before the pool is asked;
/// the user is created on first sight, as for any token of the pool.
pub async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    JsonObject(c): JsonObject<Credentials>,
) -> Result<impl IntoResponse, AccountError> {
    admit_sign_in(&state, peer, &c.name).await?;
    let tokens = pool(&state)?
        .sign_in(&c.name, &c.password)
        .await
        .inspect_err(|e| sign_in_failed(&c.name, e))?;
    let me = state.hub.authenticate(&tokens.token).await?;
    let user = UserInfo {
        id: me.user,
        name: me.name,
    };
    Ok(Json(PoolSession { tokens, user }))
}

pub async fn refresh(
    State(state): State<AppState>,
    JsonObject(c): JsonObject<Refresh>,
) -> Result<impl IntoResponse, AccountError> {
    Ok(Json(pool(&state)?.refresh(&c.refresh_token).await?))
}

/// Signs out everywhere with the access token in `Authorization: Bearer`. A token this node
/// accepts revokes its user at once, here and (through the store) on the other nodes: their
/// connections close with 4003 and their older tokens are refused, whether they used this
/// access token or an ID token.
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, AccountError> {
    let access = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(AccountError::from(ErrorCode::Unauthenticated))?;
    let pool = pool(&state)?;
    // Asked before the sign-out, while the token still stands; the pool has the last word on
    // tokens this node refuses.
    let pass = state
        .hub
        .authenticate_pass(access)
        .await
        .ok()
        .and_then(|(_, p)| p);
    pool.sign_out(access).await?;
    if let Some(pass) = pass {
        let now = revoke::now_secs();
        revoke::record(
            &state.hub,
            &*state.store,
            &pass.subject,
            now,
            Cause::SignOut,
        )
        .await;
    }
    Ok(Json(json!({})))
}
