//! `Outbound`: a connection's send queue, shared with everyone who sends it frames.
//!
//! The queue is bounded by frame count and by bytes. A push never waits: when either bound is
//! reached the connection is marked slow, the push fails, and the connection closes itself with
//! close code 4008 and its resume positions. Whoever pushed simply drops that recipient, so a
//! slow reader never delays anyone else. A queue marked revoked ([`Outbound::revoke`]: the
//! identity provider revoked its user) refuses pushes the same way, and its connection closes
//! itself with 4003.
//!
//! The connection is the queue's one consumer and its task the only waker stored: a push wakes
//! it only when the queue goes from empty to not empty (a consumer that has not yet seen the
//! queue empty will find the item without a wake), and an overflow wakes it too, so the queue
//! is the one wake source on a fan-out's hot path.
//!
//! An event for an idle MessagePack connection skips even that: [`Outbound::event`] writes its
//! frame straight to the connection's socket (see [`crate::socket`]) when nothing is queued,
//! the connection is not writing, and its last such write is [`DIRECT_GAP`] old. An event
//! from another node goes the same way when the connection takes that room's frames from that
//! node: the queue keeps the connection's subscriptions on other nodes ([`Queue::remote`]),
//! which the connection updates as it writes what came before.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::task::AtomicWaker;
use serde::Serialize;
use switchboard_engine::protocol::ServerFrame;
use switchboard_engine::ring::{NodeId, Ring};
use switchboard_engine::{Codec, ConnId, Position, RoomId};

use crate::socket::{Direct, Socket};

/// A server frame encoded once (MessagePack) and shared by every recipient. The JSON form is
/// made on first use by a JSON (debugging) connection, then shared too.
#[derive(Debug)]
pub struct Event {
    /// The room and position a `message` frame carries, for resume bookkeeping.
    pub room_pos: Option<(RoomId, Position)>,
    /// Set on frames from another node.
    pub origin: Option<Origin>,
    /// When it was made: a connection that had an event written straight to its socket less
    /// than [`DIRECT_GAP`] before gets this one queued.
    made: Instant,
    msgpack: Bytes,
    json: OnceLock<Bytes>,
    /// The MessagePack encoding as a WebSocket binary frame, made on the first write straight
    /// to a socket (see [`Outbound::event`]), then shared.
    frame: OnceLock<Bytes>,
}

/// The node a frame came from, and what it tells the connection about its subscriptions
/// there. A connection takes a room's messages (and resume replies) from another node only
/// while subscribed there: from the `joined` reply until a reset (see [`Notice`]).
#[derive(Debug)]
pub struct Origin {
    pub node: NodeId,
    /// On a `joined` reply: the connection is now subscribed to this room at `node`.
    pub joined: Option<RoomId>,
    /// On a resume reply: it counts only while the connection is subscribed to this room.
    pub if_subscribed: Option<RoomId>,
}

/// What the cluster tells a connection about its rooms on other nodes, queued in order with
/// its frames. Each room it resets gets a `room_reset` (the client rejoins from its position).
#[derive(Debug)]
pub enum Notice {
    /// Frames from `node` (from every node: `None`) were lost: its rooms start over.
    Lost(Option<NodeId>),
    /// `node` no longer sends `room` (a `joined` that came after its command's `busy`).
    Dropped { room: RoomId, node: NodeId },
    /// The ring changed: rooms whose owner changed start over, and the connection attaches
    /// and watches again at users' new homes.
    Ring { before: Ring, after: Ring },
    /// Fault injection: the connection panics when it comes to this.
    #[cfg(feature = "testing")]
    Panic,
}

impl Event {
    pub fn new(room_pos: Option<(RoomId, Position)>, frame: &ServerFrame) -> Arc<Event> {
        Arc::new(Event {
            room_pos,
            origin: None,
            made: Instant::now(),
            msgpack: encode(Codec::MsgPack, frame),
            json: OnceLock::new(),
            frame: OnceLock::new(),
        })
    }

    /// An event another node encoded (forwarded to this node's connections), from `origin`.
    pub fn from_msgpack(
        room_pos: Option<(RoomId, Position)>,
        msgpack: Bytes,
        origin: Option<Origin>,
    ) -> Arc<Event> {
        Arc::new(Event {
            room_pos,
            origin,
            made: Instant::now(),
            msgpack,
            json: OnceLock::new(),
            frame: OnceLock::new(),
        })
    }

    /// The MessagePack encoding (shared, not copied).
    pub fn msgpack(&self) -> Bytes {
        self.msgpack.clone()
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

    /// The MessagePack encoding in a server's (unmasked) WebSocket binary frame.
    fn ws_frame(&self) -> &[u8] {
        self.frame.get_or_init(|| {
            let len = self.msgpack.len();
            let mut frame = Vec::with_capacity(len + 10);
            frame.push(0x82); // FIN, binary
            match len {
                0..126 => frame.push(len as u8),
                126..=0xffff => {
                    frame.push(126);
                    frame.extend_from_slice(&(len as u16).to_be_bytes());
                }
                _ => {
                    frame.push(127);
                    frame.extend_from_slice(&(len as u64).to_be_bytes());
                }
            }
            frame.extend_from_slice(&self.msgpack);
            Bytes::from(frame)
        })
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

/// Events for one connection closer together than this go through its queue, where its task
/// writes them in a batch, rather than each straight to the socket: in a burst (a room filling
/// up, each join announced to every member) one `send` per event costs more than the task's
/// wake-up it saves.
const DIRECT_GAP: Duration = Duration::from_millis(5);

/// Fan-outs to at least this many of a node's connections may write straight to their sockets
/// (a room's to its subscribers here, the inbox's to the members a room on another node has
/// here). In small fan-outs the saving, a task wake for each of a few subscribers, is small,
/// and the headline preset (rooms of 50, six nodes) has not shown that writing straight there
/// does no harm (docs/BENCHMARKS.md).
pub const DIRECT_FAN_OUT: usize = 128;

/// One queued item.
#[derive(Debug)]
pub enum Outgoing {
    /// A shared event.
    Event(Arc<Event>),
    /// A frame for this connection only, already in its codec.
    Frame(Bytes),
    /// News of its rooms on other nodes (shared by every connection told).
    Notice(Arc<Notice>),
    /// A frame written straight to the socket was cut short: the connection flushes the rest
    /// before it writes anything else.
    Flush,
}

impl Outgoing {
    fn len(&self) -> usize {
        match self {
            Outgoing::Event(e) => e.len(),
            Outgoing::Frame(b) => b.len(),
            Outgoing::Notice(_) | Outgoing::Flush => 0,
        }
    }
}

struct Queue {
    items: VecDeque<Outgoing>,
    bytes: usize,
    closed: bool,
    /// The connection took items and is writing them: nobody else writes to its socket.
    busy: bool,
    /// Where events may be written straight to the socket, while nothing is queued and the
    /// connection is not writing (MessagePack connections only). Dropped at close, so the
    /// socket closes with its connection, not with the last room that holds this queue.
    direct: Option<Arc<Socket>>,
    /// When the last event written straight to the socket was made.
    last_direct: Option<Instant>,
    /// Last room position handed to the socket, per room: the resume point the connection
    /// reports, and the filter that keeps a position from going out twice or out of order.
    written: Vec<(RoomId, Position)>,
    /// The connection's rooms on other nodes, and the node it takes each one's frames from:
    /// recorded when a `joined` from that node is written, dropped when the room is reset or
    /// left.
    remote: Vec<(RoomId, NodeId)>,
}

impl Queue {
    /// Whether a frame from another node reaches the client: a room's messages (and resume
    /// replies) only while subscribed at that node. After a reset nothing comes until the
    /// rejoin is answered, so the replay that follows picks up exactly where the client was.
    /// A `joined` records the subscription (only the connection writes those).
    fn takes(&mut self, origin: &Origin, room_pos: Option<(RoomId, Position)>) -> bool {
        if let Some(room) = origin.joined {
            self.remote.retain(|(r, _)| *r != room);
            self.remote.push((room, origin.node.clone()));
            return true;
        }
        let room = room_pos.map(|(room, _)| room).or(origin.if_subscribed);
        room.is_none_or(|room| {
            self.remote
                .iter()
                .any(|(r, n)| *r == room && *n == origin.node)
        })
    }

    /// False when `pos` of `room`, or a later one, went to the socket already (a late copy
    /// from a room's previous owner, or a replay overlapping what arrived live).
    fn is_new(&self, room: RoomId, pos: Position) -> bool {
        self.written
            .iter()
            .find(|(r, _)| *r == room)
            .is_none_or(|(_, p)| pos > *p)
    }

    /// Records that `pos` of `room` is in the socket's hands. Only once it is: a frame dropped
    /// before that (the client turned out too slow) must not move the resume point past what
    /// the client can receive.
    fn note_written(&mut self, room: RoomId, pos: Position) {
        match self.written.iter_mut().find(|(r, _)| *r == room) {
            Some((_, p)) => *p = pos,
            None => self.written.push((room, pos)),
        }
    }
}

struct Shared {
    conn: ConnId,
    codec: Codec,
    /// Guards a short push or pop, never held across an `.await`. Chosen over an mpsc channel
    /// because an idle connection's empty deque holds no memory at all.
    queue: Mutex<Queue>,
    max_frames: usize,
    max_bytes: usize,
    /// The consumer's task, while it waits for items or for an overflow. Lock-free, unlike a
    /// `Notify`, whose waiter list takes a lock on every wait and every wake.
    consumer: AtomicWaker,
    /// `OPEN`, or why the queue takes no more (`SLOW`, `REVOKED`): the connection must close.
    stop: AtomicU8,
}

const OPEN: u8 = 0;
const SLOW: u8 = 1;
const REVOKED: u8 = 2;

/// Why a queue takes no more, and its connection must close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// It overflowed: the client does not read (4008).
    Slow,
    /// Its user's access was revoked (4003).
    Revoked,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The sending side of a connection's queue; cheap to clone.
#[derive(Clone)]
pub struct Outbound {
    shared: Arc<Shared>,
}

/// The connection's side of its queue.
pub struct OutboundReceiver {
    shared: Arc<Shared>,
}

/// Creates a queue holding at most `max_frames` frames and `max_bytes` bytes.
pub fn channel(
    conn: ConnId,
    codec: Codec,
    max_frames: usize,
    max_bytes: usize,
) -> (Outbound, OutboundReceiver) {
    let shared = Arc::new(Shared {
        conn,
        codec,
        queue: Mutex::new(Queue {
            items: VecDeque::new(),
            bytes: 0,
            closed: false,
            busy: false,
            direct: None,
            last_direct: None,
            written: Vec::new(),
            remote: Vec::new(),
        }),
        max_frames: max_frames.max(1),
        max_bytes,
        consumer: AtomicWaker::new(),
        stop: AtomicU8::new(OPEN),
    });
    (
        Outbound {
            shared: shared.clone(),
        },
        OutboundReceiver { shared },
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
        if self.shared.stop.load(Ordering::Relaxed) != OPEN {
            return false;
        }
        let q = self.shared.lock();
        if q.closed {
            return false;
        }
        self.queue(q, item)
    }

    fn queue(&self, mut q: MutexGuard<'_, Queue>, item: Outgoing) -> bool {
        let s = &self.shared;
        let len = item.len();
        if q.items.len() >= s.max_frames || q.bytes + len > s.max_bytes {
            drop(q);
            self.mark_slow();
            return false;
        }
        // The consumer waits only after it saw the queue empty (under the lock, after storing
        // its waker), so a push onto items it has not taken yet needs no wake.
        let was_empty = q.items.is_empty();
        q.items.push_back(item);
        q.bytes += len;
        drop(q);
        if was_empty {
            s.consumer.wake();
        }
        true
    }

    /// Sends a shared event. While nothing is queued and the connection is not writing, its
    /// frame goes straight to the socket, under the queue's lock (so it cannot overtake
    /// anything queued); otherwise, and whenever the socket does not take it at once, it is
    /// queued. False as for [`Outbound::push`].
    pub fn event(&self, event: &Arc<Event>) -> bool {
        let s = &self.shared;
        if s.stop.load(Ordering::Relaxed) != OPEN {
            return false;
        }
        let mut q = s.lock();
        if q.closed {
            return false;
        }
        if q.direct.is_some()
            && q.items.is_empty()
            && !q.busy
            && q.last_direct
                .is_none_or(|last| event.made.saturating_duration_since(last) >= DIRECT_GAP)
            && event.origin.as_ref().is_none_or(|origin| {
                // A `joined` changes the connection's state: only the connection writes it.
                origin.joined.is_none() && q.takes(origin, event.room_pos)
            })
            && let Some(socket) = &q.direct
        {
            if let Some((room, pos)) = event.room_pos
                && !q.is_new(room, pos)
            {
                return true;
            }
            let direct = socket.try_write_frame(event.ws_frame());
            if direct != Direct::Refused {
                q.last_direct = Some(event.made);
                if let Some((room, pos)) = event.room_pos {
                    q.note_written(room, pos);
                }
            }
            match direct {
                Direct::Written => return true,
                Direct::Partial => return self.queue(q, Outgoing::Flush),
                Direct::Refused => {}
            }
        }
        self.queue(q, Outgoing::Event(event.clone()))
    }

    /// Queues a shared event, never writing it to the socket here (see [`Outbound::event`]).
    pub fn queue_event(&self, event: &Arc<Event>) -> bool {
        self.push(Outgoing::Event(event.clone()))
    }

    /// Encodes `frame` in this connection's codec and queues it.
    pub fn frame(&self, frame: &ServerFrame) -> bool {
        self.push(Outgoing::Frame(encode(self.shared.codec, frame)))
    }

    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }

    fn mark_slow(&self) {
        let s = &self.shared;
        if s.stop
            .compare_exchange(OPEN, SLOW, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            s.consumer.wake();
        }
    }

    /// Tells the connection that its user's access was revoked: from now on the queue takes
    /// nothing, and the connection closes itself with 4003 (even one already closing as slow:
    /// it must not be told to reconnect). The connection's own loop does the closing, so its
    /// state keeps one owner.
    pub fn revoke(&self) {
        if self.shared.stop.swap(REVOKED, Ordering::AcqRel) != REVOKED {
            self.shared.consumer.wake();
        }
    }
}

/// Past this many slots an emptied queue gives its memory back.
const KEEP_CAPACITY: usize = 16;

impl OutboundReceiver {
    /// The next item; waits while the queue is empty. `None` once closed.
    pub async fn recv(&mut self) -> Option<Outgoing> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The next item, or `Pending` with this task's waker stored: it is woken by the next push
    /// into the empty queue, or by an overflow. `Ready(None)` once closed. An item taken makes
    /// the connection the socket's only writer until [`OutboundReceiver::written_out`].
    pub fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<Outgoing>> {
        // Stored before the queue is looked at, so a push after the look wakes this task.
        self.shared.consumer.register(cx.waker());
        let mut q = self.shared.lock();
        match Self::pop(&mut q) {
            Some(item) => Poll::Ready(Some(item)),
            None if q.closed => Poll::Ready(None),
            None => Poll::Pending,
        }
    }

    /// The next item, if one is queued; as [`OutboundReceiver::poll_recv`].
    pub fn try_recv(&self) -> Option<Outgoing> {
        Self::pop(&mut self.shared.lock())
    }

    fn pop(q: &mut Queue) -> Option<Outgoing> {
        let item = q.items.pop_front()?;
        q.busy = true;
        q.bytes -= item.len();
        if q.items.is_empty() && q.items.capacity() > KEEP_CAPACITY {
            q.items = VecDeque::new();
        }
        Some(item)
    }

    /// The connection wrote and flushed what it took: events may go straight to the socket
    /// again (see [`Outbound::event`]).
    pub fn written_out(&self) {
        self.shared.lock().busy = false;
    }

    /// From now on events may be written straight to `socket`, which must be this
    /// connection's, speaking MessagePack.
    pub fn write_through(&self, socket: Arc<Socket>) {
        debug_assert_eq!(self.shared.codec, Codec::MsgPack);
        self.shared.lock().direct = Some(socket);
    }

    /// Whether the connection writes `event`: not a room's frame from a node it is not
    /// subscribed at (see [`Queue::takes`], which a `joined` updates), nor a room position it
    /// wrote already (see [`Queue::is_new`]).
    pub fn takes(&self, event: &Event) -> bool {
        let mut q = self.shared.lock();
        if let Some(origin) = &event.origin
            && !q.takes(origin, event.room_pos)
        {
            return false;
        }
        event.room_pos.is_none_or(|(room, pos)| q.is_new(room, pos))
    }

    /// Whether the connection takes `room`'s frames from another node.
    pub fn is_remote(&self, room: RoomId) -> bool {
        self.shared.lock().remote.iter().any(|(r, _)| *r == room)
    }

    /// Stops taking the frames of the rooms on other nodes that `moved` picks; returns them.
    pub fn reset_remote(&self, moved: impl Fn(RoomId, &NodeId) -> bool) -> Vec<RoomId> {
        let mut reset = Vec::new();
        self.shared.lock().remote.retain(|(room, node)| {
            let keep = !moved(*room, node);
            if !keep {
                reset.push(*room);
            }
            keep
        });
        reset
    }

    /// Records that the socket took `pos` of `room`.
    pub fn note_written(&self, room: RoomId, pos: Position) {
        self.shared.lock().note_written(room, pos);
    }

    /// The last position of each room the socket took.
    pub fn written(&self) -> Vec<(RoomId, Position)> {
        self.shared.lock().written.clone()
    }

    /// Forgets the positions written of a room the connection left, and where it took the
    /// room's frames from.
    pub fn forget(&self, room: RoomId) {
        let mut q = self.shared.lock();
        q.written.retain(|(r, _)| *r != room);
        q.remote.retain(|(r, _)| *r != room);
    }

    /// `Ready` once the queue has stopped (overflowed, or revoked); otherwise stores this
    /// task's waker, to be woken when it does (or by a push).
    pub fn poll_stop(&self, cx: &mut Context<'_>) -> Poll<Stop> {
        if let Some(stop) = self.stopped() {
            return Poll::Ready(stop);
        }
        self.shared.consumer.register(cx.waker());
        match self.stopped() {
            Some(stop) => Poll::Ready(stop),
            None => Poll::Pending,
        }
    }

    /// Resolves once the queue has stopped.
    pub async fn stop(&self) -> Stop {
        std::future::poll_fn(|cx| self.poll_stop(cx)).await
    }

    /// Why the queue stopped, if it has.
    pub fn stopped(&self) -> Option<Stop> {
        match self.shared.stop.load(Ordering::Acquire) {
            OPEN => None,
            SLOW => Some(Stop::Slow),
            _ => Some(Stop::Revoked),
        }
    }

    pub fn is_slow(&self) -> bool {
        self.stopped() == Some(Stop::Slow)
    }

    /// Stops accepting items, drops what is queued and lets go of the socket.
    pub fn close(&mut self) {
        let mut q = self.shared.lock();
        q.closed = true;
        q.items = VecDeque::new();
        q.bytes = 0;
        q.direct = None;
        drop(q);
        // Senders may hold the queue a while longer; they should not keep the task alive.
        drop(self.shared.consumer.take());
    }
}

impl Drop for OutboundReceiver {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_engine::protocol::Done;

    fn frame() -> Outgoing {
        Outgoing::Frame(Bytes::from_static(b"0123456789"))
    }

    #[tokio::test]
    async fn a_full_queue_marks_the_connection_slow_and_refuses_more() {
        let (out, rx) = channel(ConnId(1), Codec::MsgPack, 3, 1000);
        assert!((0..3).all(|_| out.push(frame())));
        assert!(!rx.is_slow());
        assert!(!out.push(frame()), "a fourth frame overflows");
        assert!(rx.is_slow());
        assert_eq!(rx.stop().await, Stop::Slow);
        // Once slow, even a drained queue takes nothing more.
        while rx.try_recv().is_some() {}
        assert!(!out.push(frame()));
    }

    #[tokio::test]
    async fn a_revoked_queue_takes_nothing_and_wakes_its_connection() {
        let (out, rx) = channel(ConnId(1), Codec::MsgPack, 3, 1000);
        assert!(out.push(frame()));
        let waiter = tokio::spawn(async move { rx.stop().await });
        tokio::task::yield_now().await;
        out.revoke();
        assert_eq!(waiter.await.unwrap(), Stop::Revoked);
        assert!(!out.push(frame()), "a revoked queue refuses pushes");
        // Revoked wins over slow: the client must not be told to reconnect.
        let (out, rx) = channel(ConnId(2), Codec::MsgPack, 1, 1000);
        assert!(out.push(frame()) && !out.push(frame()));
        assert_eq!(rx.stopped(), Some(Stop::Slow));
        out.revoke();
        assert_eq!(rx.stopped(), Some(Stop::Revoked));
    }

    #[tokio::test]
    async fn the_byte_bound_counts_too() {
        let (out, rx) = channel(ConnId(1), Codec::MsgPack, 100, 25);
        assert!(out.push(frame()) && out.push(frame()));
        assert!(!out.push(frame()), "30 bytes > 25");
        assert!(rx.is_slow());
    }

    #[tokio::test]
    async fn items_come_out_in_order_and_close_ends_the_stream() {
        let (out, mut rx) = channel(ConnId(1), Codec::MsgPack, 100, 10_000);
        let ev = Event::new(None, &ServerFrame::Pong(Done { rid: 1 }));
        assert!(out.event(&ev) && out.push(frame()));
        assert!(matches!(rx.recv().await, Some(Outgoing::Event(_))));
        assert!(matches!(rx.recv().await, Some(Outgoing::Frame(_))));
        let waiter = tokio::spawn(async move { rx.recv().await.is_some() });
        tokio::task::yield_now().await;
        assert!(out.push(frame()));
        assert!(waiter.await.unwrap(), "a waiting receiver is woken");
        let (out, mut rx) = channel(ConnId(2), Codec::MsgPack, 100, 10_000);
        rx.close();
        assert!(!out.push(frame()) && out.is_closed());
        assert!(rx.recv().await.is_none());
    }

    /// A room's event at `seq`, made `after` the test's start, and the WebSocket binary frame
    /// the client reads for it.
    fn positioned(start: Instant, seq: u64, after: Duration) -> (Arc<Event>, Vec<u8>) {
        from_node(start, seq, after, None)
    }

    /// As [`positioned`], forwarded from another node with `origin`.
    fn from_node(
        start: Instant,
        seq: u64,
        after: Duration,
        origin: Option<Origin>,
    ) -> (Arc<Event>, Vec<u8>) {
        let frame = ServerFrame::Pong(Done { rid: seq });
        let event = Event {
            room_pos: Some((RoomId(7), Position::new(1, seq))),
            origin,
            made: start + after,
            msgpack: encode(Codec::MsgPack, &frame),
            json: OnceLock::new(),
            frame: OnceLock::new(),
        };
        let frame = event.ws_frame().to_vec();
        (Arc::new(event), frame)
    }

    #[tokio::test]
    async fn events_go_straight_to_an_idle_socket_and_never_overtake_the_queue() {
        use tokio::io::AsyncReadExt as _;
        let (out, mut rx, mut client) = connected().await;
        let room = RoomId(7);
        let start = Instant::now();
        let at = |gaps: u32| DIRECT_GAP * gaps;

        // Idle: written straight, and its position noted as written.
        let (e1, f1) = positioned(start, 1, at(0));
        assert!(out.event(&e1));
        assert!(rx.try_recv().is_none(), "nothing queued");
        assert_eq!(rx.written(), vec![(room, Position::new(1, 1))]);
        // A position already written is dropped, not sent twice.
        let (again, _) = positioned(start, 1, at(1));
        assert!(out.event(&again));
        assert!(rx.try_recv().is_none());
        let (e2, f2) = positioned(start, 2, at(1));
        assert!(out.event(&e2));
        // Within the gap: queued for the connection's batch; and behind it, after the gap too.
        let (e3, _) = positioned(start, 3, at(1) + Duration::from_millis(1));
        assert!(out.event(&e3));
        let (e4, _) = positioned(start, 4, at(3));
        assert!(out.event(&e4));
        assert!(matches!(rx.try_recv(), Some(Outgoing::Event(e)) if Arc::ptr_eq(&e, &e3)));
        assert!(matches!(rx.try_recv(), Some(Outgoing::Event(e)) if Arc::ptr_eq(&e, &e4)));
        // While the connection writes what it took, events queue too.
        let (e5, _) = positioned(start, 5, at(4));
        assert!(out.event(&e5));
        assert!(matches!(rx.try_recv(), Some(Outgoing::Event(e)) if Arc::ptr_eq(&e, &e5)));
        assert_eq!(rx.written(), vec![(room, Position::new(1, 2))]);
        rx.note_written(room, Position::new(1, 5));
        rx.written_out();
        // Idle again: straight to the socket.
        let (e6, f6) = positioned(start, 6, at(5));
        assert!(out.event(&e6));
        assert!(rx.try_recv().is_none());
        assert_eq!(rx.written(), vec![(room, Position::new(1, 6))]);
        // `queue_event` (a room with commands waiting) never writes straight.
        let (e7, _) = positioned(start, 7, at(7));
        assert!(out.queue_event(&e7));
        assert!(rx.try_recv().is_some());

        // Closing lets go of the socket: the client reads exactly the straight frames.
        rx.close();
        drop(out);
        let mut read = Vec::new();
        client.read_to_end(&mut read).await.unwrap();
        assert_eq!(read, [f1, f2, f6].concat());
    }

    /// A connection and the client's end of its socket, written straight to when idle.
    async fn connected() -> (Outbound, OutboundReceiver, tokio::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (out, rx) = channel(ConnId(1), Codec::MsgPack, 100, 1 << 20);
        rx.write_through(Socket::new(server));
        (out, rx, client)
    }

    #[tokio::test]
    async fn a_room_s_frames_from_another_node_go_straight_only_while_subscribed_there() {
        use tokio::io::AsyncReadExt as _;
        let (out, mut rx, mut client) = connected().await;
        let (a, b) = (NodeId("a".into()), NodeId("b".into()));
        let origin = |node: &NodeId, joined: Option<RoomId>| {
            Some(Origin {
                node: node.clone(),
                joined,
                if_subscribed: None,
            })
        };
        let start = Instant::now();
        let at = |gaps: u32| DIRECT_GAP * gaps;

        // Not subscribed at `a` yet: queued (the connection drops it: `takes` says no).
        let (early, _) = from_node(start, 1, at(0), origin(&a, None));
        assert!(out.event(&early));
        let Some(Outgoing::Event(e)) = rx.try_recv() else {
            panic!("queued")
        };
        assert!(!rx.takes(&e));
        rx.written_out();
        // The `joined` from `a` is always queued; once the connection took it, `a`'s frames
        // of that room are written straight, and `b`'s are not.
        let joined = Event::from_msgpack(
            None,
            Bytes::from_static(b"\x80"),
            origin(&a, Some(RoomId(7))),
        );
        assert!(out.event(&joined));
        let Some(Outgoing::Event(e)) = rx.try_recv() else {
            panic!("queued")
        };
        assert!(rx.takes(&e), "the joined is written, and subscribes");
        rx.written_out();
        let (e2, f2) = from_node(start, 2, at(1), origin(&a, None));
        assert!(out.event(&e2));
        assert!(rx.try_recv().is_none(), "written straight");
        let (stale, _) = from_node(start, 3, at(2), origin(&b, None));
        assert!(out.event(&stale));
        assert!(matches!(rx.try_recv(), Some(Outgoing::Event(e)) if Arc::ptr_eq(&e, &stale)));
        rx.written_out();
        // After a reset of the room nothing from `a` goes straight either.
        assert_eq!(rx.reset_remote(|_, n| *n == a), vec![RoomId(7)]);
        let (e4, _) = from_node(start, 4, at(3), origin(&a, None));
        assert!(out.event(&e4));
        assert!(rx.try_recv().is_some(), "queued");

        rx.close();
        drop(out);
        let mut read = Vec::new();
        client.read_to_end(&mut read).await.unwrap();
        assert_eq!(read, f2);
    }
}
