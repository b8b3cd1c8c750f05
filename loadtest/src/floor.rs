//! `switchboard-load floor-server`: the floor every figure is a ratio to. A bare
//! tokio-tungstenite broadcast server: one task per socket and one `tokio::sync::broadcast`
//! channel per room (a one-room scenario has exactly one), no auth, no storage, no ordering
//! beyond the channel's.
//!
//! Text frames: `J <room>` joins a room (answered `J`); `M <room> <text>` is broadcast as is to
//! every socket in the room, the sender included. It exits when its stdin closes, so it never
//! outlives the harness that started it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::{SinkExt as _, StreamExt as _};
use tokio::io::AsyncReadExt as _;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// Messages a room's channel holds for its slowest reader; one that falls further behind is
/// disconnected (as a slow consumer would be), never waited for.
const ROOM_CHANNEL: usize = 1024;

type Rooms = Arc<Mutex<HashMap<u64, broadcast::Sender<Utf8Bytes>>>>;

pub async fn serve(listen: std::net::SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let rooms = Rooms::default();
    tokio::spawn(async {
        let mut buf = [0u8; 64];
        let mut stdin = tokio::io::stdin();
        while stdin.read(&mut buf).await.is_ok_and(|n| n > 0) {}
        std::process::exit(0);
    });
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(stream, rooms.clone()));
    }
}

async fn connection(stream: tokio::net::TcpStream, rooms: Rooms) {
    // The node's own socket buffers (bins/src/http/ws.rs), so the floor's memory per
    // connection is not tungstenite's 128 KiB default read buffer.
    let config = WebSocketConfig::default()
        .read_buffer_size(512)
        .write_buffer_size(0);
    let Ok(ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    // A socket joins one room in the scenarios run against the floor; a second join replaces
    // the first (kept simple: the floor is a baseline, not a product).
    let mut rx: Option<broadcast::Receiver<Utf8Bytes>> = None;
    loop {
        let recv = async {
            match &mut rx {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            frame = stream.next() => {
                let Some(Ok(Message::Text(text))) = frame else {
                    match frame {
                        Some(Ok(_)) => continue,
                        _ => return,
                    }
                };
                let mut parts = text.as_str().splitn(3, ' ');
                let (verb, room) = (parts.next(), parts.next().and_then(|r| r.parse::<u64>().ok()));
                match (verb, room) {
                    (Some("J"), Some(room)) => {
                        let tx = rooms
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .entry(room)
                            .or_insert_with(|| broadcast::channel(ROOM_CHANNEL).0)
                            .subscribe();
                        rx = Some(tx);
                        if sink.send(Message::text("J")).await.is_err() {
                            return;
                        }
                    }
                    (Some("M"), Some(room)) => {
                        let tx = rooms.lock().unwrap_or_else(|p| p.into_inner()).get(&room).cloned();
                        if let Some(tx) = tx {
                            let _ = tx.send(text);
                        }
                    }
                    _ => return,
                }
            }
            msg = recv => match msg {
                Ok(text) => if sink.send(Message::Text(text)).await.is_err() {
                    return;
                },
                Err(_) => return,
            },
        }
    }
}
