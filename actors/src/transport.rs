//! A connection's socket as a `Stream` of inbound frames and a `Sink` of outbound ones.
//! The server adapts axum's WebSocket to this; tests can use channels. No business rules here.

use bytes::Bytes;
use futures::{Sink, Stream};

/// What the socket delivered.
#[derive(Debug)]
pub enum Inbound {
    /// One WebSocket data message; `text` is true for a text message.
    Data { bytes: Bytes, text: bool },
    /// A message over the size limit arrived; the socket cannot continue.
    TooLarge,
    /// The peer sent its close frame (or dropped the connection).
    Closed,
    /// The client broke the WebSocket protocol (RFC 6455): close with `code` (1002, or 1007
    /// for invalid UTF-8).
    Violation { code: u16, reason: &'static str },
    /// The socket failed (reset, I/O error).
    Failed(String),
}

/// What to write to the socket. Closing the sink sends what is queued and then waits (within
/// the caller's timeout) for the peer's close frame, completing the close handshake.
#[derive(Debug)]
pub enum OutFrame {
    Data { bytes: Bytes, text: bool },
    Close { code: u16, reason: String },
}

#[derive(Debug, thiserror::Error)]
#[error("transport: {0}")]
pub struct TransportError(pub String);

/// A WebSocket, or anything that behaves like one.
pub trait Transport:
    Stream<Item = Inbound> + Sink<OutFrame, Error = TransportError> + Send + Unpin + 'static
{
}

impl<T> Transport for T where
    T: Stream<Item = Inbound> + Sink<OutFrame, Error = TransportError> + Send + Unpin + 'static
{
}
