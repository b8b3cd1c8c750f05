//! Attachments of a room: `POST /api/rooms/{id}/attachments` opens an upload slot for a member,
//! `GET /api/rooms/{id}/attachments/{attachment}` redirects a member to a short-lived download
//! URL. The rules are `media::slot`'s (through `crate::attachments`, as for the WebSocket
//! command); membership is `queries::check_member`'s.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use switchboard_actors::queries;
use switchboard_engine::{AttachmentId, ErrorCode, RoomId};
use switchboard_media::UploadRequest;
use switchboard_media::slot::{self, SlotError};

use super::edge::JsonObject;
use super::{ApiError, AppState, bearer, error_response, status_of};

#[derive(Deserialize)]
pub struct SlotRequest {
    name: String,
    content_type: String,
    size: u64,
}

/// A refusal with its code; a limit keeps its message (which limit, and its value).
fn refused(e: SlotError) -> Response {
    let refused = crate::attachments::slot_refusal(e);
    error_response(status_of(refused.code), refused.code, &refused.message)
}

/// `POST /api/rooms/{id}/attachments` with `{"name", "content_type", "size"}`: for a member,
/// `{"attachment": {...}, "upload": {"method", "url", "headers", "expires"}}`.
pub async fn open_slot(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(room): Path<u64>,
    JsonObject(request): JsonObject<SlotRequest>,
) -> Result<Response, ApiError> {
    let me = bearer(&state, &headers).await?;
    let room = super::api::existing(RoomId(room))?;
    queries::check_member(&state.hub, room, me.user).await?;
    let upload = UploadRequest {
        name: &request.name,
        content_type: &request.content_type,
        size: request.size,
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let opened = crate::attachments::open_slot(
        &state.media,
        &*state.store,
        room,
        me.user,
        me.plan,
        upload,
        host,
    )
    .await;
    Ok(match opened {
        Ok(slot) => (StatusCode::CREATED, Json(slot)).into_response(),
        Err(e) => refused(e),
    })
}

#[derive(Deserialize)]
pub struct DownloadParams {
    /// The thumbnail rather than the file (images only).
    #[serde(default)]
    thumbnail: bool,
    /// The URL as JSON rather than a redirect (for `<img>` in a page, which cannot send the
    /// bearer token along a redirect).
    #[serde(default)]
    link: bool,
}

/// `GET /api/rooms/{id}/attachments/{attachment}[?thumbnail=true][&link=true]`: for a member, a
/// 307 redirect to a download URL that lasts `media.download_url_secs` (with `link`, that URL
/// and its expiry as JSON). An attachment of another
/// room, or another member's upload not yet attached, is 404.
pub async fn download(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((room, attachment)): Path<(u64, u64)>,
    Query(params): Query<DownloadParams>,
) -> Result<Response, ApiError> {
    let me = bearer(&state, &headers).await?;
    let room = super::api::existing(RoomId(room))?;
    queries::check_member(&state.hub, room, me.user).await?;
    let found = slot::download(
        &*state.store,
        &*state.media.store,
        &state.media.config,
        room,
        me.user,
        AttachmentId(attachment),
        params.thumbnail,
    )
    .await;
    let mut request = match found {
        Ok(Some(request)) => request,
        Ok(None) => return Err(ErrorCode::NotFound.into()),
        Err(e) => return Ok(refused(e)),
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    request.url = state.media.for_client(request.url, host);
    let no_store = (header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if params.link {
        let link = serde_json::json!({ "url": request.url, "expires": request.expires });
        return Ok(([no_store], Json(link)).into_response());
    }
    let location = HeaderValue::from_str(&request.url).map_err(|_| ErrorCode::Internal)?;
    Ok((
        StatusCode::TEMPORARY_REDIRECT,
        [(header::LOCATION, location), no_store],
    )
        .into_response())
}
