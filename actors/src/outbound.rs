//! `Outbound`: a connection's send queue, shared with everyone who sends it frames.
//!
//! The queue is bounded by frame count and by bytes. A push never waits: when either bound is
//! reached the connection is marked slow, the push fails, and the connection closes itself with
//! close code 4008 and its resume positions. Whoever pushed simply drops that recipient, so a
//! slow reader never delays anyone else.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde::Serialize;
use switchboard_engine::protocol::ServerFrame;
use switchboard_engine::{Codec, ConnId, Position, RoomId};
use tokio::sync::{Notify, mpsc};

/// A server frame encoded once (MessagePack) and shared by every recipient. The JSON form is
/// made on first use by a JSON (debugging) connection, then shared too.
#[derive(Debug)]
pub struct Event {
    /// The room and position a `message` frame carries, for resume bookkeeping.
    pub room_pos: Option<(RoomId, Position)>,
    msgpack: Bytes,
    json: OnceLock<Bytes>,
}

impl Event {
    pub fn new(room_pos: Option<(RoomId, Position)>, frame: &ServerFrame) -> Arc<Event> {
        Arc::new(Event {
            room_pos,
            msgpack: encode(Codec::MsgPack, frame),
            json: OnceLock::new(),
        })
    }

    pub fn bytes(&self, codec: Codec) -> Bytes {
        match codec {
            Codec::MsgPack => self.msgpack.clone(),
            Codec::Json => self
                .json
                .get_or_init(|| {
                    rmp_serde::from_slice::<serde_json::Value>(&self.msgpack)
                        .ok()
                        .and_then(|v| serde_json::to_vec(&v).ok())
                        .map(Bytes::from)
                        .unwrap_or_default()
                })
                .clone(),
        }
    }

    pub fn len(&self) -> usize {
        self.msgpack.len()
    }

    pub fn is_empty(&self) -> bool {
        self.msgpack.is_empty()
    }
}

/// Encodes a frame the server built itself; such frames always encode.
pub fn encode<T: Serialize>(codec: Codec, frame: &T) -> Bytes {
    codec.encode(frame).unwrap_or_else(|e| {
        tracing::error!(error = %e, "server frame failed to encode");
        Bytes::new()
    })
}

/// One queued item.
#[derive(Debug)]
pub enum Outgoing {
    /// A shared event.
    Event(Arc<Event>),
    /// A frame for this connection only, already in its codec.
    Frame(Bytes),
}

impl Outgoing {
    fn len(&self) -> usize {
        match self {
            Outgoing::Event(e) => e.len(),
            Outgoing::Frame(b) => b.len(),
        }
    }
}

struct Shared {
    conn: ConnId,
    codec: Codec,
    tx: mpsc::Sender<Outgoing>,
    queued_bytes: AtomicUsize,
    max_bytes: usize,
    slow: AtomicBool,
    slow_signal: Notify,
}

/// The sending side of a connection's queue; cheap to clone.
#[derive(Clone)]
pub struct Outbound {
    shared: Arc<Shared>,
}

/// The connection's side of its queue.
pub struct OutboundReceiver {
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Outgoing>,
}

/// Creates a queue holding at most `max_frames` frames and `max_bytes` bytes.
pub fn channel(
    conn: ConnId,
    codec: Codec,
    max_frames: usize,
    max_bytes: usize,
) -> (Outbound, OutboundReceiver) {
    let (tx, rx) = mpsc::channel(max_frames.max(1));
    let shared = Arc::new(Shared {
        conn,
        codec,
        tx,
        queued_bytes: AtomicUsize::new(0),
        max_bytes,
        slow: AtomicBool::new(false),
        slow_signal: Notify::new(),
    });
    (
        Outbound {
            shared: shared.clone(),
        },
        OutboundReceiver { shared, rx },
    )
}

impl Outbound {
    pub fn conn(&self) -> ConnId {
        self.shared.conn
    }

    pub fn codec(&self) -> Codec {
        self.shared.codec
    }

    /// Queues an item. False when the connection is gone or too slow; the caller should stop
    /// sending to it.
    pub fn push(&self, item: Outgoing) -> bool {
        let s = &self.shared;
        if s.slow.load(Ordering::Relaxed) {
            return false;
        }
        let len = item.len();
        if s.queued_bytes.fetch_add(len, Ordering::Relaxed) + len > s.max_bytes {
            s.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            self.mark_slow();
            return false;
        }
        match s.tx.try_send(item) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                s.queued_bytes.fetch_sub(len, Ordering::Relaxed);
                self.mark_slow();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    pub fn event(&self, event: &Arc<Event>) -> bool {
        self.push(Outgoing::Event(event.clone()))
    }

    /// Encodes `frame` in this connection's codec and queues it.
    pub fn frame(&self, frame: &ServerFrame) -> bool {
        self.push(Outgoing::Frame(encode(self.shared.codec, frame)))
    }

    pub fn is_closed(&self) -> bool {
        self.shared.tx.is_closed()
    }

    fn mark_slow(&self) {
        if !self.shared.slow.swap(true, Ordering::Relaxed) {
            self.shared.slow_signal.notify_one();
        }
    }
}

impl OutboundReceiver {
    pub async fn recv(&mut self) -> Option<Outgoing> {
        let item = self.rx.recv().await?;
        self.shared
            .queued_bytes
            .fetch_sub(item.len(), Ordering::Relaxed);
        Some(item)
    }

    pub fn try_recv(&mut self) -> Option<Outgoing> {
        let item = self.rx.try_recv().ok()?;
        self.shared
            .queued_bytes
            .fetch_sub(item.len(), Ordering::Relaxed);
        Some(item)
    }

    /// Resolves once the queue has overflowed. Owns what it needs, so it can be awaited
    /// beside a write that borrows the connection.
    pub fn slow(&self) -> impl Future<Output = ()> + Send + 'static {
        let shared = self.shared.clone();
        async move {
            if shared.slow.load(Ordering::Relaxed) {
                return;
            }
            shared.slow_signal.notified().await;
        }
    }

    pub fn is_slow(&self) -> bool {
        self.shared.slow.load(Ordering::Relaxed)
    }

    /// Stops accepting items and drops what is queued.
    pub fn close(&mut self) {
        self.rx.close();
        while self.rx.try_recv().is_ok() {}
    }
}
