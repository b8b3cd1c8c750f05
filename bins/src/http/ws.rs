//! `/ws`: the WebSocket upgrade, and axum's socket adapted to the actors' `Transport`.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use futures::{Sink, Stream};
use kameo::actor::Spawn;
use serde::Deserialize;
use switchboard_actors::connection::ConnArgs;
use switchboard_actors::refusal::{self, Refusal};
use switchboard_actors::{ConnectionActor, Inbound, OutFrame, TransportError};
use switchboard_engine::Codec;
use switchboard_engine::codec::{SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK};
use tokio_tungstenite::tungstenite;

use super::{ApiError, AppState};

#[derive(Deserialize)]
pub struct WsParams {
    token: Option<String>,
}

/// Socket read buffer, held for the connection's whole life. Small on purpose: idle
/// connections dominate memory (at 1 KiB this buffer was a sixteenth of an idle connection),
/// typical command frames are a few hundred bytes, and larger frames are still read, in
/// several reads.
const READ_BUFFER: usize = 512;

pub async fn upgrade(
    State(state): State<AppState>,
    Query(params): Query<WsParams>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    if state.hub.is_shutting_down() {
        return Err(switchboard_engine::ErrorCode::ShuttingDown.into());
    }
    let identity = match params.token {
        Some(token) => Some(state.hub.authenticate(&token).await.map_err(|code| {
            refusal::note(
                Refusal::AuthFailed,
                format_args!("/ws token: {}", code.describe()),
            );
            ApiError(code)
        })?),
        None => None,
    };
    let max_frame = state.limits.max_frame_bytes as usize;
    let ws = ws
        .protocols([SUBPROTOCOL_MSGPACK, SUBPROTOCOL_JSON])
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(usize::MAX)
        .max_message_size(max_frame)
        .max_frame_size(max_frame);
    let codec = Codec::from_subprotocol(ws.selected_protocol().and_then(|p| p.to_str().ok()));
    let hub = state.hub.clone();
    Ok(ws
        .on_upgrade(move |socket| async move {
            ConnectionActor::spawn(ConnArgs {
                hub,
                transport: Box::new(AxumTransport(socket)),
                codec,
                identity,
            });
        })
        .into_response())
}

/// axum's WebSocket as a `Transport`.
struct AxumTransport(WebSocket);

fn is_too_large(e: &axum::Error) -> bool {
    use std::error::Error as _;
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(tungstenite::Error::Capacity(_)) = s.downcast_ref::<tungstenite::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

impl Stream for AxumTransport {
    type Item = Inbound;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Inbound>> {
        loop {
            let item = ready!(Pin::new(&mut self.0).poll_next(cx));
            return Poll::Ready(Some(match item {
                None => return Poll::Ready(None),
                Some(Ok(Message::Binary(bytes))) => Inbound::Data { bytes, text: false },
                Some(Ok(Message::Text(text))) => Inbound::Data {
                    bytes: text.into(),
                    text: true,
                },
                // tungstenite answers pings itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Close(_))) => Inbound::Closed,
                Some(Err(e)) if is_too_large(&e) => Inbound::TooLarge,
                Some(Err(e)) => Inbound::Failed(e.to_string()),
            }));
        }
    }
}

fn transport_error(e: axum::Error) -> TransportError {
    TransportError(e.to_string())
}

impl Sink<OutFrame> for AxumTransport {
    type Error = TransportError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.0)
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
                code,
                reason: reason.into(),
            })),
        };
        Pin::new(&mut self.0)
            .start_send(message)
            .map_err(transport_error)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.0)
            .poll_flush(cx)
            .map_err(transport_error)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.0)
            .poll_close(cx)
            .map_err(transport_error)
    }
}
