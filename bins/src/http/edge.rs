//! What every HTTP response goes through: security headers, the documented error shape for
//! every error (axum's own rejections included), and the limits on what a request may send
//! (URI length; body size and the time to send it, for the routes that read a body).

use std::borrow::Cow;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use http_body_util::BodyExt as _;
use serde::de::DeserializeOwned;
use switchboard_actors::refusal::{self, Refusal};
use switchboard_engine::ErrorCode;
use tokio::time::Instant;

use super::AppState;

/// Longest request target accepted (414 beyond). Every route's URI is short; only a search
/// query or a token grows it, and those are bounded far below this.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// The page's policy: nothing inline, nothing from elsewhere but the media store's images and
/// uploads (`media_origin`, the S3 store's origin; the local store is the node itself), never
/// framed. `connect-src 'self'` covers the WebSocket at the same host.
pub fn policy(media_origin: Option<&str>) -> HeaderValue {
    let media = media_origin.map_or(String::new(), |o| format!(" {o}"));
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:{media}; \
         connect-src 'self'{media}; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    // An origin from the configuration with a character a header cannot hold: no media origin.
    HeaderValue::from_str(&csp).unwrap_or_else(|_| policy(None))
}

/// Most of a refused request body that is read and dropped before the answer goes out, counted
/// from its first byte (*fixed*). Closing a socket with bytes still unread resets it, and the
/// reset destroys the answer on its way to a client that sends its whole body before reading
/// (most simple clients): so a body refused before it was read whole is first read to its end,
/// if it is no larger than this and arrives within the body read timeout; a larger one is
/// answered at once and may see the reset. Either way the connection then closes.
pub const DISCARD_BYTES: u64 = 4 * 1024 * 1024;

/// Largest error body (axum's rejection texts) carried into the JSON message.
const MAX_MESSAGE_BYTES: usize = 1024;

/// An error answer with its status, code and a message saying what was wrong.
pub fn error_response(status: StatusCode, code: ErrorCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": { "code": code as u16, "message": message } });
    (status, Json(body)).into_response()
}

/// The code an error status carries when the handler gave none (axum's own rejections).
fn code_for(status: StatusCode) -> ErrorCode {
    match status.as_u16() {
        401 => ErrorCode::Unauthenticated,
        403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        409 => ErrorCode::Conflict,
        413 | 422 => ErrorCode::InvalidArgument,
        429 => ErrorCode::RateLimited,
        503 => ErrorCode::ShuttingDown,
        500..=599 => ErrorCode::Internal,
        // 400, 405, 408, 414, 415, ...: the request is not one this API takes.
        _ => ErrorCode::BadFrame,
    }
}

/// The middleware around every route.
pub async fn edge(State(csp): State<HeaderValue>, req: Request, next: Next) -> Response {
    let uri_len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    let mut response = if uri_len > MAX_URI_BYTES {
        refusal::note(
            Refusal::Oversized,
            format_args!("URI over {MAX_URI_BYTES} bytes"),
        );
        error_response(
            StatusCode::URI_TOO_LONG,
            ErrorCode::BadFrame,
            "request URI too long",
        )
    } else {
        next.run(req).await
    };
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if (status.is_client_error() || status.is_server_error()) && !is_json {
        response = reshape(response).await;
    }
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// An error response without our shape (axum's plain-text rejections, empty 404 and 405) in
/// the documented shape, keeping its status and its text as the message.
async fn reshape(response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_MESSAGE_BYTES)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let message = match text.trim() {
        "" => Cow::Borrowed(parts.status.canonical_reason().unwrap_or("error")),
        text => Cow::Owned(text.to_owned()),
    };
    let code = code_for(parts.status);
    if matches!(parts.status.as_u16(), 400 | 405 | 415 | 422) {
        refusal::note(
            Refusal::ProtocolError,
            format_args!("HTTP {}: {message}", parts.status.as_u16()),
        );
    }
    let mut reshaped = error_response(parts.status, code, &message);
    // Keep what the rejection said beyond its body (e.g. `Allow`, or the upgrade headers).
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            reshaped.headers_mut().insert(name, value.clone());
        }
    }
    reshaped
}

/// A JSON object in a request body, read within `http.body_read_timeout_ms` and
/// `http.max_body_bytes`. Unlike `axum::Json`, refuses a JSON array where an object is expected
/// (serde would read a struct from an array of its fields).
pub struct JsonObject<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonObject<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let deadline = Instant::now() + state.body_read_timeout;
        if !is_json(&req) {
            let refused = error_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::BadFrame,
                "expected Content-Type: application/json",
            );
            let declared = declared_length(&req);
            return Err(refuse_unread(req.into_body(), 0, declared, deadline, refused).await);
        }
        let bytes = read_body(req, deadline, state.max_body_bytes).await?;
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first != Some(&b'{') {
            return Err(error_response(
                StatusCode::BAD_REQUEST,
                ErrorCode::BadFrame,
                "the body must be a JSON object",
            ));
        }
        match Json::<T>::from_bytes(&bytes) {
            Ok(Json(value)) => Ok(JsonObject(value)),
            Err(rejection) => Err(rejection.into_response()),
        }
    }
}

fn is_json(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim();
            mime.eq_ignore_ascii_case("application/json")
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
}

/// The `Content-Length` a request declares, if any.
fn declared_length(req: &Request) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// The body, if it is at most `limit` bytes and arrives by `deadline`: else 413 or 408.
async fn read_body(req: Request, deadline: Instant, limit: usize) -> Result<Bytes, Response> {
    let declared = declared_length(&req);
    let mut body: Body = req.into_body();
    let too_large = || {
        refusal::note(
            Refusal::Oversized,
            format_args!("HTTP body over {limit} bytes"),
        );
        error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::InvalidArgument,
            &format!("request body over {limit} bytes"),
        )
    };
    // Refused from its header, before a byte of it is kept.
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(refuse_unread(body, 0, declared, deadline, too_large()).await);
    }
    let mut kept = BytesMut::new();
    loop {
        let data = match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(None) => return Ok(kept.freeze()),
            Ok(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => data,
                Err(_trailers) => continue,
            },
            Ok(Some(Err(_))) => {
                return Err(error_response(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::BadFrame,
                    "request body could not be read",
                ));
            }
            Err(_) => {
                refusal::note(Refusal::SlowHttp, format_args!("HTTP body not in time"));
                return Err(closing(error_response(
                    StatusCode::REQUEST_TIMEOUT,
                    ErrorCode::BadFrame,
                    "request body not received in time",
                )));
            }
        };
        let read = kept.len() + data.len();
        if read > limit {
            return Err(refuse_unread(body, read as u64, declared, deadline, too_large()).await);
        }
        kept.extend_from_slice(&data);
    }
}

/// `answer` to a request whose body was refused after `read` of its bytes: first reads the rest
/// and drops it ([`DISCARD_BYTES`]), then answers with `Connection: close`.
async fn refuse_unread(
    mut body: Body,
    mut read: u64,
    declared: Option<u64>,
    deadline: Instant,
    answer: Response,
) -> Response {
    if declared.is_none_or(|n| n <= DISCARD_BYTES) {
        while read <= DISCARD_BYTES {
            match tokio::time::timeout_at(deadline, body.frame()).await {
                Ok(Some(Ok(frame))) => {
                    read += frame.data_ref().map_or(0, |d| d.len() as u64);
                }
                Ok(None | Some(Err(_))) | Err(_) => break,
            }
        }
    }
    closing(answer)
}

/// `answer` with `Connection: close`: hyper closes the connection once it is written.
fn closing(mut answer: Response) -> Response {
    answer
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    answer
}
