//! `/api/dashboard`: the numbers of every node in this node's ring, as JSON for the page.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use switchboard_actors::refusal::{self, Refusal};
use switchboard_engine::ErrorCode;

use super::{ApiError, AppState};

pub async fn data(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    if let Some(expected) = &state.admin_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !same(given.as_bytes(), expected.as_bytes()) {
            refusal::note(
                Refusal::AuthFailed,
                format_args!("/api/dashboard: wrong or missing admin token"),
            );
            return Err(ErrorCode::Unauthenticated.into());
        }
    }
    let view = state.dashboard.borrow().clone();
    Ok(Json(crate::dashboard::to_json(&view)))
}

/// Equality whose time does not depend on where the inputs differ (only on their lengths),
/// so the token cannot be guessed a byte at a time.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn same_compares_whole_inputs() {
        assert!(super::same(b"secret", b"secret"));
        assert!(!super::same(b"secret", b"secreT"));
        assert!(!super::same(b"secret", b"secrets"));
        assert!(!super::same(b"", b"x"));
    }
}
