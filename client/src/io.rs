//! The socket task: writes queued frames, reads frames, routes replies by `rid`.

use std::sync::Arc;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use switchboard_engine::Codec;
use switchboard_engine::protocol::ServerFrame;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::Shared;

pub(crate) enum Out {
    Frame(Bytes, bool),
    Close,
}

pub(crate) async fn run(
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    codec: Codec,
    shared: Arc<Shared>,
    mut out: mpsc::UnboundedReceiver<Out>,
    events: mpsc::Sender<ServerFrame>,
) {
    let (mut sink, mut stream) = socket.split();
    loop {
        tokio::select! {
            item = out.recv() => match item {
                Some(Out::Frame(bytes, text)) => {
                    let msg = if text {
                        match String::from_utf8(bytes.to_vec()) {
                            Ok(s) => Message::text(s),
                            Err(_) => Message::Binary(bytes),
                        }
                    } else {
                        Message::Binary(bytes)
                    };
                    if sink.send(msg).await.is_err() {
                        break;
                    }
                }
                Some(Out::Close) | None => {
                    let _ = sink.send(Message::Close(Some(CloseFrame {
                        code: 1000.into(),
                        reason: "bye".into(),
                    }))).await;
                    break;
                }
            },
            msg = stream.next() => {
                let data = match msg {
                    Some(Ok(Message::Binary(b))) => b,
                    Some(Ok(Message::Text(t))) => Bytes::from(t),
                    Some(Ok(Message::Close(frame))) => {
                        let close = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                        *shared.close.lock().unwrap_or_else(|p| p.into_inner()) = close;
                        break;
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => break,
                };
                let Ok(frame) = codec.decode::<ServerFrame>(&data) else {
                    tracing::warn!("undecodable frame from server");
                    continue;
                };

                if let Some(rid) = frame.rid() {
                    let waiter = shared.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&rid);
                    if let Some(tx) = waiter {
                        let _ = tx.send(frame);
                        continue;
                    }
                }
                // Waits when the caller is not reading: the server then sees a slow reader.
                let position = frame.room_position();
                if events.send(frame).await.is_err() {
                    break;
                }
                // Counted once handed over: a reconnect resumes after exactly what the
                // caller has or will get from the backlog.
                if let Some((room, pos)) = position {
                    let mut positions = shared.positions.lock().unwrap_or_else(|p| p.into_inner());
                    let p = positions.entry(room).or_default();
                    *p = (*p).max(pos);
                }
            }
        }
    }
    // Fail every outstanding request.
    shared
        .pending
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clear();
}
