//! `/ws`: the WebSocket upgrade, and the upgraded socket adapted to the actors' `Transport`.
//!
//! The handshake is done here rather than by axum's `WebSocketUpgrade`, because the socket has
//! to keep the raw byte stream within reach: a [`FrameGuard`] under tungstenite refuses
//! oversized frames before they are buffered and drains the input at close, so that every
//! close ends in a close handshake instead of a reset (RFC 6455 §7.1.1).

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Version, header};
use axum::response::Response;
use futures::{Sink, Stream};
use hyper_util::rt::TokioIo;
use kameo::actor::Spawn;
use serde::Deserialize;
use switchboard_actors::connection::ConnArgs;
use switchboard_actors::refusal::{self, Refusal};
use switchboard_actors::socket::SocketIo;
use switchboard_actors::{ConnectionActor, Inbound, OutFrame, TransportError};
use switchboard_engine::codec::{SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK};
use switchboard_engine::{Codec, ErrorCode, close};
use tokio::sync::OwnedSemaphorePermit;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message, Utf8Bytes};

use super::guard::FrameGuard;
use super::{ApiError, AppState};
use crate::listener;

#[derive(Deserialize)]
pub struct WsParams {
    token: Option<String>,
}

/// Socket read buffer, held for the connection's whole life. Small on purpose: idle
/// connections dominate memory (at 1 KiB this buffer was a sixteenth of an idle connection),
/// typical command frames are a few hundred bytes, and larger frames are still read, in
/// several reads.
const READ_BUFFER: usize = 512;

type Socket = WebSocketStream<FrameGuard<SocketIo>>;

pub async fn upgrade(
    State(state): State<AppState>,
    Query(params): Query<WsParams>,
    request: Request,
) -> Result<Response, ApiError> {
    if state.hub.is_shutting_down() {
        return Err(ErrorCode::ShuttingDown.into());
    }
    let (mut parts, _) = request.into_parts();
    let key = handshake_key(&parts.method, parts.version, &parts.headers)
        .ok_or(ApiError(ErrorCode::BadFrame))?;
    let on_upgrade = parts
        .extensions
        .remove::<hyper::upgrade::OnUpgrade>()
        .ok_or(ApiError(ErrorCode::BadFrame))?;
    let (identity, pass) = match params.token {
        Some(token) => {
            let (identity, pass) = state.hub.authenticate_pass(&token).await.map_err(|code| {
                refusal::note(
                    Refusal::AuthFailed,
                    format_args!("/ws token: {}", code.describe()),
                );
                ApiError(code)
            })?;
            (Some(identity), pass)
        }
        None => (None, None),
    };
    let protocol = select_protocol(&parts.headers);
    let codec = Codec::from_subprotocol(protocol);
    let limits = &state.limits;
    let max_frame = limits.max_frame_bytes as usize;
    let discard = u64::from(limits.oversize_discard_bytes);
    let hub = state.hub.clone();
    // Owned by the connection actor once the upgrade completes; a failed upgrade (the client
    // left before it) ends here with nothing to clean up.
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        // Back to the accepted TCP socket (every connection is served by `listener`), so
        // that events can be written to it from outside the connection's task.
        let Ok(parts) = upgraded.downcast::<TokioIo<listener::Socket>>() else {
            tracing::error!("an upgraded connection is not a listener socket");
            return;
        };
        metrics::counter!(switchboard_engine::metrics::CONNECTS).increment(1);
        let (tcp, slot) = parts.io.into_inner().into_parts();
        let tcp = switchboard_actors::socket::Socket::new(tcp);
        let io = SocketIo::new(tcp.clone(), parts.read_buf);
        let guard = FrameGuard::new(io, max_frame as u64, discard);
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .write_buffer_size(0)
            .max_write_buffer_size(usize::MAX)
            .max_message_size(Some(max_frame))
            .max_frame_size(Some(max_frame));
        let socket = WebSocketStream::from_raw_socket(guard, Role::Server, Some(config)).await;
        ConnectionActor::spawn(ConnArgs {
            hub,
            transport: Box::new(WireTransport {
                ws: socket,
                _slot: slot,
            }),
            codec,
            identity,
            pass,
            socket: Some(tcp),
        });
    });
    let mut response = Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, HeaderValue::from_static("upgrade"))
        .header(header::UPGRADE, HeaderValue::from_static("websocket"))
        .header(header::SEC_WEBSOCKET_ACCEPT, key);
    if let Some(protocol) = protocol {
        response = response.header(header::SEC_WEBSOCKET_PROTOCOL, protocol);
    }
    response
        .body(Body::empty())
        .map_err(|_| ApiError(ErrorCode::Internal))
}

/// The `Sec-WebSocket-Accept` value for a valid HTTP/1.1 upgrade request (RFC 6455 §4.2.1).
fn handshake_key(method: &Method, version: Version, headers: &HeaderMap) -> Option<String> {
    let has = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    let ok = method == Method::GET
        && version == Version::HTTP_11
        && has(header::CONNECTION, "upgrade")
        && has(header::UPGRADE, "websocket")
        && has(header::SEC_WEBSOCKET_VERSION, "13");
    let key = headers.get(header::SEC_WEBSOCKET_KEY)?;
    ok.then(|| tungstenite::handshake::derive_accept_key(key.as_bytes()))
}

/// The first of our subprotocols the client offers.
fn select_protocol(headers: &HeaderMap) -> Option<&'static str> {
    let offered: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(str::trim))
        .collect();
    [SUBPROTOCOL_MSGPACK, SUBPROTOCOL_JSON]
        .into_iter()
        .find(|p| offered.contains(p))
}

/// The upgraded socket as a `Transport`, holding its connection slot (`http.max_connections`)
/// for as long as it lives.
struct WireTransport {
    ws: Socket,
    _slot: OwnedSemaphorePermit,
}

impl WireTransport {
    /// What a read error means for the connection.
    fn classify(&self, e: tungstenite::Error) -> Inbound {
        use tungstenite::error::ProtocolError;
        if self.ws.get_ref().too_large() {
            return Inbound::TooLarge;
        }
        match e {
            tungstenite::Error::Capacity(_) => Inbound::TooLarge,
            tungstenite::Error::Utf8(_) => Inbound::Violation {
                code: close::INVALID_PAYLOAD,
                reason: "invalid UTF-8",
            },
            // The peer dropped the connection: nobody is left to tell.
            tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
                Inbound::Closed
            }
            tungstenite::Error::Protocol(_) => Inbound::Violation {
                code: close::PROTOCOL_ERROR,
                reason: "protocol error",
            },
            e => Inbound::Failed(e.to_string()),
        }
    }
}

impl Stream for WireTransport {
    type Item = Inbound;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Inbound>> {
        loop {
            let item = ready!(Pin::new(&mut self.ws).poll_next(cx));
            return Poll::Ready(Some(match item {
                None => return Poll::Ready(None),
                Some(Ok(Message::Binary(bytes))) => Inbound::Data { bytes, text: false },
                Some(Ok(Message::Text(text))) => Inbound::Data {
                    bytes: text.into(),
                    text: true,
                },
                // tungstenite answers pings itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                // tungstenite queues the answering close frame (1002 for an invalid code);
                // closing the sink sends it.
                Some(Ok(Message::Close(_))) => Inbound::Closed,
                Some(Err(e)) => self.classify(e),
            }));
        }
    }
}

fn transport_error(e: tungstenite::Error) -> TransportError {
    TransportError(e.to_string())
}

impl Sink<OutFrame> for WireTransport {
    type Error = TransportError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.ws)
            .poll_ready(cx)
            .map_err(transport_error)
    }

    fn start_send(mut self: Pin<&mut Self>, frame: OutFrame) -> Result<(), Self::Error> {
        let message = match frame {
            OutFrame::Data { bytes, text: false } => Message::Binary(bytes),
            OutFrame::Data { bytes, text: true } => Message::Text(
                Utf8Bytes::try_from(bytes).map_err(|e| TransportError(e.to_string()))?,
            ),
            OutFrame::Close { code, reason } => Message::Close(Some(CloseFrame {
                code: code.into(),
                reason: reason.into(),
            })),
        };
        Pin::new(&mut self.ws)
            .start_send(message)
            .map_err(transport_error)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.ws)
            .poll_flush(cx)
            .map_err(transport_error)
    }

    /// Sends what is queued (our close frame, or the answer to the peer's), then reads and
    /// drops input until the peer's close frame has arrived, so that dropping the socket
    /// afterwards does not reset it.
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // An error here (the peer is gone) leaves nothing to drain.
        if ready!(Pin::new(&mut self.ws).poll_close(cx)).is_err() {
            return Poll::Ready(Ok(()));
        }
        ready!(self.ws.get_mut().poll_drain(cx));
        Poll::Ready(Ok(()))
    }
}
