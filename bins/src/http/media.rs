//! `/media/{key}`: the local media store's signed URLs, served by the node (with an S3 store
//! these routes answer 404: clients go to S3). `PUT` stores an upload, `GET` (and `HEAD`)
//! serves a download; both only with a valid, unexpired signature from this node.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use switchboard_actors::refusal::{self, Refusal};
use switchboard_engine::ErrorCode;
use switchboard_engine::metrics as names;
use switchboard_media::local::{Grant, LinkError, LocalMedia, SignedQuery, UploadError};
use switchboard_media::{MediaError, MediaKey};

use super::{ApiError, AppState, error_response, status_of};

/// The local store and the key a request names; 404 when the node uses S3 or the key is not
/// one the node could have chosen.
fn target(state: &AppState, key: &str) -> Result<(std::sync::Arc<LocalMedia>, MediaKey), ApiError> {
    let local = state.media.local.clone().ok_or(ErrorCode::NotFound)?;
    let key = MediaKey::parse(key).map_err(|_| ErrorCode::NotFound)?;
    Ok((local, key))
}

fn refused(e: &UploadError) -> Response {
    match e {
        UploadError::Store(e) => {
            tracing::warn!(error = %e, "media: storing an upload failed");
        }
        UploadError::Link(_) => refusal::note(Refusal::AuthFailed, format_args!("media PUT: {e}")),
        UploadError::TooLarge(_) => {
            refusal::note(Refusal::Oversized, format_args!("media PUT: {e}"))
        }
        _ => refusal::note(Refusal::ProtocolError, format_args!("media PUT: {e}")),
    }
    let code = e.code();
    let message = match e {
        // Never a path or an OS error.
        UploadError::Store(_) => code.describe().to_owned(),
        e => e.to_string(),
    };
    error_response(status_of(code), code, &message)
}

fn link_refused(e: LinkError) -> Response {
    refusal::note(Refusal::AuthFailed, format_args!("media GET: {e}"));
    ApiError(match e {
        LinkError::BadSignature => ErrorCode::BadSignature,
        LinkError::Expired => ErrorCode::LinkExpired,
    })
    .into_response()
}

/// `PUT /media/{key}?type=&size=&expires=&sig=`: the signature and expiry first, then the
/// exact `Content-Type` and `Content-Length`, all before a byte of the body is read; the body
/// is stored only whole, within `media.upload_timeout_secs`.
pub async fn put(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(query): Query<SignedQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (local, key) = target(&state, &key)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let content_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let upload = local.receive(
        &key,
        &query,
        content_type,
        content_length,
        body.into_data_stream(),
    );
    let done = tokio::time::timeout(state.media.config.upload_timeout, upload).await;
    let outcome = match &done {
        Ok(Ok(())) => "stored",
        Ok(Err(e)) => e.outcome(),
        Err(_) => "timeout",
    };
    metrics::counter!(names::MEDIA_UPLOADS, "outcome" => outcome).increment(1);
    match done {
        Ok(Ok(())) => Ok(StatusCode::OK.into_response()),
        Ok(Err(e)) => Ok(refused(&e)),
        Err(_) => {
            refusal::note(
                Refusal::SlowHttp,
                format_args!("media PUT of {key}: too slow"),
            );
            Ok(error_response(
                StatusCode::REQUEST_TIMEOUT,
                ErrorCode::BadFrame,
                "the upload did not arrive within media.upload_timeout_secs",
            ))
        }
    }
}

/// `GET /media/{key}?expires=&sig=`: the object, with its stored type, as a download (never
/// shown inline by a browser navigating to it).
pub async fn get(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(query): Query<SignedQuery>,
) -> Result<Response, ApiError> {
    let (local, key) = target(&state, &key)?;
    if query.content_type.is_some() || query.size.is_some() {
        // An upload URL used for a download.
        return Ok(link_refused(LinkError::BadSignature));
    }
    if let Err(e) = local.check(&key, Grant::Get, &query) {
        return Ok(link_refused(e));
    }
    let (info, chunks) = match local.open_object(&key).await {
        Ok(found) => found,
        Err(MediaError::NotFound) => return Err(ErrorCode::NotFound.into()),
        Err(e) => {
            tracing::warn!(error = %e, "media: reading an object failed");
            return Err(ErrorCode::Internal.into());
        }
    };
    let content_type = HeaderValue::from_str(&info.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_LENGTH, HeaderValue::from(info.size)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=60"),
            ),
        ],
        Body::from_stream(chunks),
    )
        .into_response())
}
