//! `ConnectionActor`: one WebSocket. A single task waits on its outbound queue, its socket,
//! its commands in flight and its rare signals (see [`ConnectionActor::poll_wake`]): it reads
//! commands and answers those it can from memory, starts the others as tasks off the loop (so
//! a slow store never stops its writes), writes queued frames in batches with one flush, and
//! closes with a documented code when the client is too slow, misbehaves, or the node shuts
//! down. A panic here ends this connection only.

mod commands;
mod pending;
mod tasks;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{self, Poll, Wake, Waker};
use std::time::Instant;

use futures::task::AtomicWaker;
use futures::{SinkExt, StreamExt};
use kameo::error::Infallible;
use kameo::mailbox::{MailboxReceiver, Signal};
use kameo::prelude::*;
use switchboard_engine::auth::Identity;
use switchboard_engine::limits::RateLimiter;
use switchboard_engine::protocol::{self as p, ServerFrame};
use switchboard_engine::ring::{NodeId, Ring};
use switchboard_engine::{Codec, ConnId, ErrorCode, Position, RoomId, UserId, close};
use switchboard_persistence::cluster::throttle::{Class, Subject};
use tokio::sync::watch;

use crate::error::Refused;
use crate::hub::Hub;
use crate::metrics as names;
use crate::outbound::{self, Notice, Origin, Outbound, OutboundReceiver, Outgoing, Stop};
use crate::refusal::{self, Refusal};
use crate::revocation::Pass;
use crate::room::{Caller, Command, RoomCommand};
use crate::socket::Socket;
use crate::transport::{Inbound, OutFrame, Transport};

/// Frames written per flush at most, so one busy connection yields to its mailbox.
const WRITE_BATCH: usize = 256;

pub struct ConnArgs {
    pub hub: Arc<Hub>,
    pub transport: Box<dyn Transport>,
    pub codec: Codec,
    /// Set when the token came with the upgrade request.
    pub identity: Option<Identity>,
    /// With `identity`, when the token was an identity provider's.
    pub pass: Option<Pass>,
    /// The transport's TCP socket, when it has one: a MessagePack connection's events are
    /// then written straight to it by whoever fans them out (see `Outbound::event`).
    pub socket: Option<Arc<Socket>>,
}

pub struct ConnectionActor {
    id: ConnId,
    hub: Arc<Hub>,
    transport: Box<dyn Transport>,
    codec: Codec,
    out: Outbound,
    rx: OutboundReceiver,
    identity: Option<Identity>,
    /// The identity provider's subject of a user signed in with a provider's token: this
    /// connection is in the node's `Revocations` sessions under it until it stops.
    subject: Option<String>,
    /// Rooms this connection asked to join (and did not leave), here or on other nodes.
    joined: Vec<RoomId>,
    /// Rooms it is subscribed to at another node, and that node: from the `joined` reply
    /// until a leave or a reset (`Notice`). Their messages from anywhere else are dropped.
    remote: Vec<(RoomId, NodeId)>,
    /// Users whose presence this connection watches.
    watching: Vec<UserId>,
    limiter: RateLimiter,
    /// Commands running off the loop or waiting for one with their key.
    pending: pending::Pending,
    /// The write in progress, if any (see [`ConnectionActor::write_batch`]).
    batch: Batch,
    bad_frames: u32,
    /// When the socket opened: a signed-in client that leaves soon after is reconnecting in a
    /// loop, which an operator should see.
    opened: Instant,
    /// Until the client signs in: when the connection is closed if it has not. Made once, not
    /// on every turn of the loop.
    auth_timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Whether the socket may have something to read; see [`ReadWake`].
    read: Arc<ReadWake>,
    /// Wakes this task through `read` (made once).
    read_waker: Waker,
    /// The last read found nothing and left `read_waker` with the socket.
    read_parked: bool,
    /// The node's shutdown signal, as one future made once: it keeps this task's waker
    /// registered, so it is polled again only when `shutdown_seen` says the signal changed
    /// (polling it takes the lock of a list shared by every connection).
    shutdown: Pin<Box<dyn Future<Output = ()> + Send>>,
    shutdown_seen: watch::Receiver<bool>,
    /// The waker `shutdown` holds, once polled.
    shutdown_waker: Option<Waker>,
    /// kameo's start-up signal has come through the mailbox.
    started: bool,
    /// Keeps the mailbox open while the socket lives: nobody else holds this actor's ref.
    /// Dropped when the actor stops.
    self_ref: Option<ActorRef<Self>>,
}

/// The socket's read waker: notes that the socket woke this task before waking it, so a turn
/// woken by the outbound queue (nearly every turn in a fan-out) does not poll the socket, whose
/// waker still stands from the last read.
struct ReadWake {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for ReadWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// A batch of writes in progress.
#[derive(Default)]
struct Batch {
    /// The next frame for the socket, with the room position it carries.
    unsent: Option<(bytes::Bytes, Option<(RoomId, Position)>)>,
    /// Items taken from the queue for this batch.
    taken: usize,
    /// A notice met in the queue: the batch stops there, and it is applied after the flush.
    notice: Option<Arc<Notice>>,
    /// Done feeding: only the flush is left, and nothing more is taken from the queue.
    flushing: bool,
}

/// What woke the connection's loop.
enum Wakeup {
    Queued(Outgoing),
    Inbound(Option<Inbound>),
    Done(pending::Done),
    End(End),
}

/// Why the connection is ending.
enum End {
    /// The socket failed: nothing more to write.
    Gone,
    /// The peer sent its close frame: the answer goes (the socket echoes the peer's code).
    PeerClosed,
    /// The client broke the WebSocket protocol: a close frame with `code`, no `disconnect`
    /// frame (its WebSocket layer is not in a state to read one).
    Violation { code: u16, reason: &'static str },
    /// Close with this code after a final `disconnect` frame.
    Close {
        code: u16,
        reason: &'static str,
        reconnect: bool,
    },
}

/// How a connection whose queue stopped closes.
fn stop_end(stop: Stop) -> End {
    match stop {
        Stop::Slow => End::Close {
            code: close::SLOW_CONSUMER,
            reason: "slow consumer",
            reconnect: true,
        },
        Stop::Revoked => End::Close {
            code: close::REVOKED,
            reason: "revoked",
            reconnect: false,
        },
    }
}

impl Actor for ConnectionActor {
    type Args = ConnArgs;
    type Error = Infallible;

    async fn on_start(args: ConnArgs, self_ref: ActorRef<Self>) -> Result<Self, Infallible> {
        let hub = args.hub;
        let id = hub.next_conn_id();
        let config = &hub.config;
        let (out, rx) = outbound::channel(
            id,
            args.codec,
            config.outbound_frames,
            config.outbound_bytes,
        );
        if let Some(socket) = args.socket
            && args.codec == Codec::MsgPack
        {
            rx.write_through(socket);
        }
        let limits = &config.limits;
        let read = Arc::new(ReadWake {
            woken: AtomicBool::new(false),
            task: AtomicWaker::new(),
        });
        let mut shutdown = hub.shutdown_signal();
        let shutdown_seen = shutdown.clone();
        let mut conn = ConnectionActor {
            id,
            codec: args.codec,
            transport: args.transport,
            out,
            rx,
            identity: None,
            subject: None,
            joined: Vec::new(),
            remote: Vec::new(),
            watching: Vec::new(),
            limiter: RateLimiter::new(
                limits.commands_per_sec,
                limits.command_burst,
                Instant::now(),
            ),
            pending: pending::Pending::new(config.commands_in_flight),
            batch: Batch::default(),
            bad_frames: 0,
            opened: Instant::now(),
            auth_timer: Some(Box::pin(tokio::time::sleep(config.auth_timeout))),
            read_waker: Waker::from(read.clone()),
            read,
            read_parked: false,
            // A closed signal (the hub is gone) ends the connection as a change does.
            shutdown: Box::pin(async move {
                let _ = shutdown.changed().await;
            }),
            shutdown_seen,
            shutdown_waker: None,
            started: false,
            self_ref: Some(self_ref),
            hub,
        };
        let user = args
            .identity
            .as_ref()
            .map(|i| switchboard_engine::domain::UserInfo {
                id: i.user,
                name: i.name.clone(),
            });
        let limits = &conn.hub.config.limits;
        conn.out.frame(&ServerFrame::Hello(p::Hello {
            protocol: switchboard_engine::PROTOCOL_VERSION,
            conn: id.0,
            user,
            max_frame_bytes: limits.max_frame_bytes,
            max_text_bytes: limits.max_text_bytes,
            commands_per_sec: limits.commands_per_sec,
        }));
        if let Some(identity) = args.identity {
            Box::pin(conn.authenticated(identity, args.pass)).await;
        }
        #[cfg(feature = "testing")]
        if let Some(me) = &conn.self_ref {
            let target = me.clone().recipient::<crate::faults::InjectPanic>();
            conn.hub.register_fault_target(id, target.downgrade());
        }
        metrics::gauge!(names::CONNECTIONS).increment(1);
        conn.hub.connection_opened();
        Ok(conn)
    }

    async fn next(
        &mut self,
        _: WeakActorRef<Self>,
        mailbox: &mut MailboxReceiver<Self>,
    ) -> Result<Option<Signal<Self>>, Infallible> {
        let end = loop {
            // Nothing is sent to a connection's mailbox but kameo's start-up signal and test
            // faults: the connection ends itself. So once started, a release build stops
            // polling it (a mailbox poll on every turn was a visible share of a fan-out's CPU).
            let wakeup = if self.started && !cfg!(feature = "testing") {
                std::future::poll_fn(|cx| self.poll_wake(cx)).await
            } else {
                tokio::select! {
                    biased;
                    wakeup = std::future::poll_fn(|cx| self.poll_wake(cx)) => wakeup,
                    signal = mailbox.recv() => {
                        self.started |= matches!(signal, Some(Signal::StartupFinished));
                        return Ok(signal);
                    }
                }
            };
            match wakeup {
                Wakeup::Queued(item) => {
                    // Commands that finished count as done before their room's answer goes
                    // out: a client that sends its next command on seeing the answer must
                    // not find the slot still taken.
                    while let Some(done) = self.pending.try_next() {
                        self.on_done(done);
                    }
                    if let Err(end) = self.write_batch(item).await {
                        break end;
                    }
                }
                Wakeup::Inbound(inbound) => match inbound {
                    Some(Inbound::Data { bytes, text }) => {
                        if let Err(end) = self.on_data(&bytes, text).await {
                            break end;
                        }
                    }
                    Some(Inbound::TooLarge) => {
                        break End::Close {
                            code: close::MESSAGE_TOO_BIG,
                            reason: "frame too large",
                            reconnect: false,
                        };
                    }
                    Some(Inbound::Closed) => break End::PeerClosed,
                    Some(Inbound::Violation { code, reason }) => {
                        break End::Violation { code, reason };
                    }
                    None => break End::Gone,
                    Some(Inbound::Failed(e)) => {
                        tracing::debug!(conn = %self.id, error = %e, "socket failed");
                        break End::Gone;
                    }
                },
                Wakeup::Done(done) => self.on_done(done),
                Wakeup::End(end) => break end,
            }
        };
        Box::pin(self.end(end)).await;
        Ok(None)
    }

    async fn on_stop(
        &mut self,
        _: WeakActorRef<Self>,
        _: kameo::error::ActorStopReason,
    ) -> Result<(), Infallible> {
        // Waits for mailbox room rather than dropping: a lost Detach would leave the user
        // online forever, a lost Unsubscribe would keep a room from going idle. A room on
        // another node is told through the router without waiting; should that be lost, the
        // room forgets the connection at its next delivery here (the inbox finds it gone).
        // Closed first: the cluster link registers no closed queue, so a command task still
        // running cannot make it known again after `forget` below.
        self.rx.close();
        let user = self.identity.as_ref().map_or(UserId(0), |i| i.user);
        for room in self.joined.drain(..) {
            let caller = Caller::local(&self.out, user, 0);
            let unsubscribe = Command::new(room, caller, RoomCommand::Unsubscribe);
            if let Some(actor) = self.hub.rooms().active(room) {
                let _ = actor.tell(unsubscribe).await;
            } else if self.remote.iter().any(|(r, _)| *r == room) {
                self.hub.router().send_now(unsubscribe);
            }
        }
        if let Some(link) = self.hub.cluster() {
            link.forget(self.id);
        }
        if let Some(subject) = self.subject.take() {
            self.hub.revocations().leave(&subject, self.id);
        }
        let mut users = std::mem::take(&mut self.watching);
        users.extend(self.identity.as_ref().map(|i| i.user));
        self.hub.presence().detach(self.id, &users).await;
        self.self_ref = None;
        #[cfg(feature = "testing")]
        self.hub.forget_fault_target(self.id);
        metrics::gauge!(names::CONNECTIONS).decrement(1);
        self.hub.connection_closed();
        Ok(())
    }
}

impl ConnectionActor {
    /// What the loop does next, most frequent first: a queued frame, the socket, a command
    /// that finished, then the rare ends (slow consumer, shutdown, authentication deadline).
    /// Nothing starves: a write takes at most a batch, and an overflowing queue is seen inside
    /// the write. Sources whose waker still stands are not polled again: the outbound queue's
    /// poll stores the one waker both a push and an overflow use; the socket is read only after
    /// it woke the task (`read`); the shutdown future only once its signal changed.
    fn poll_wake(&mut self, cx: &mut task::Context<'_>) -> Poll<Wakeup> {
        if let Poll::Ready(Some(item)) = self.rx.poll_recv(cx) {
            return Poll::Ready(Wakeup::Queued(item));
        }
        // The wakers stored with the socket and the shutdown signal stand while this task's
        // waker is the one they were stored with (always, on tokio; checked all the same).
        let armed = self
            .shutdown_waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()));
        // Cleared before the read, so a wake during it is seen on the next turn.
        if !armed || self.read.woken.swap(false, Ordering::Acquire) {
            self.read_parked = false;
        }
        // With its most commands pending, the connection stops reading its socket until one
        // finishes: a pipelining client is slowed by TCP, not refused (`busy`).
        if !self.read_parked && !self.pending.is_full() {
            self.read.task.register(cx.waker());
            let mut read_cx = task::Context::from_waker(&self.read_waker);
            match self.transport.poll_next_unpin(&mut read_cx) {
                Poll::Ready(inbound) => return Poll::Ready(Wakeup::Inbound(inbound)),
                Poll::Pending => self.read_parked = true,
            }
        }
        if let Poll::Ready(done) = self.pending.poll_next(cx) {
            return Poll::Ready(Wakeup::Done(done));
        }
        // `poll_recv` stored the waker an overflow (or a revocation) wakes.
        if let Some(stop) = self.rx.stopped() {
            return Poll::Ready(Wakeup::End(stop_end(stop)));
        }
        if !armed || !matches!(self.shutdown_seen.has_changed(), Ok(false)) {
            if self.shutdown.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Wakeup::End(End::Close {
                    code: close::SERVICE_RESTART,
                    reason: "server restarting",
                    reconnect: true,
                }));
            }
            self.shutdown_waker = Some(cx.waker().clone());
        }
        if let Some(timer) = &mut self.auth_timer
            && timer.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Wakeup::End(End::Close {
                code: close::AUTH_TIMEOUT,
                reason: "authentication timeout",
                reconnect: false,
            }));
        }
        Poll::Pending
    }

    fn user(&self) -> Result<UserId, ErrorCode> {
        self.identity
            .as_ref()
            .map(|i| i.user)
            .ok_or(ErrorCode::Unauthenticated)
    }

    async fn authenticated(&mut self, identity: Identity, pass: Option<Pass>) {
        self.auth_timer = None;
        if let Some(pass) = pass {
            self.subject = Some(pass.subject.clone());
            self.hub.revocations().join(pass, self.id, &self.out);
        }
        let user = identity.user;
        self.identity = Some(identity);
        self.hub.presence().attach(&self.out, user).await;
    }

    /// The bytes of `item` and the room position it carries; `None` for a position this
    /// connection already wrote (a connection never sends a room position twice or out of
    /// order), and for a room's frame from a node it is not subscribed at. (Notices never come
    /// here: `write_batch` stops at one.)
    fn bytes_of(
        rx: &OutboundReceiver,
        remote: &mut Vec<(RoomId, NodeId)>,
        codec: Codec,
        item: Outgoing,
    ) -> Option<(bytes::Bytes, Option<(RoomId, Position)>)> {
        match item {
            Outgoing::Event(e) => {
                if let Some(origin) = &e.origin
                    && !Self::takes_from(remote, origin, e.room_pos)
                {
                    return None;
                }
                match e.room_pos {
                    Some((room, pos)) if !rx.is_new(room, pos) => None,
                    room_pos => Some((e.bytes(codec), room_pos)),
                }
            }
            Outgoing::Frame(b) => Some((b, None)),
            Outgoing::Notice(_) | Outgoing::Flush => None,
        }
    }

    /// Whether a frame from another node reaches the client: a room's messages (and resume
    /// replies) only while subscribed at that node. After a reset nothing comes until the
    /// rejoin is answered, so the replay that follows picks up exactly where the client was.
    fn takes_from(
        remote: &mut Vec<(RoomId, NodeId)>,
        origin: &Origin,
        room_pos: Option<(RoomId, Position)>,
    ) -> bool {
        if let Some(room) = origin.joined {
            remote.retain(|(r, _)| *r != room);
            remote.push((room, origin.node.clone()));
            return true;
        }
        let room = room_pos.map(|(room, _)| room).or(origin.if_subscribed);
        room.is_none_or(|room| remote.iter().any(|(r, n)| *r == room && *n == origin.node))
    }

    /// Applies news of this connection's rooms on other nodes: each room that starts over gets
    /// a `room_reset` (queued behind what is queued now, none of which is from that room).
    fn on_notice(&mut self, notice: &Notice) {
        match notice {
            Notice::Lost(node) => self.reset_remote(|_, n| node.as_ref().is_none_or(|l| l == n)),
            Notice::Dropped { room, node } => self.reset_remote(|r, n| r == *room && n == node),
            Notice::Ring { before, after } => {
                self.reset_remote(|room, n| after.owner(room) != Some(n));
                self.rehome(before, after);
            }
        }
    }

    fn reset_remote(&mut self, moved: impl Fn(RoomId, &NodeId) -> bool) {
        let out = &self.out;
        self.remote.retain(|(room, node)| {
            if !moved(*room, node) {
                return true;
            }
            out.frame(&ServerFrame::RoomReset(p::RoomReset { room: *room }));
            false
        });
    }

    /// After the ring changed: attaches again as a device, and watches again, where a user's
    /// home moved (off the loop, like a command). Away is reset.
    fn rehome(&mut self, before: &Ring, after: &Ring) {
        let Some(me) = self.identity.as_ref().map(|i| i.user) else {
            return;
        };
        let moved = |user: UserId| before.home(user) != after.home(user);
        let device = moved(me);
        let watch: Vec<UserId> = self
            .watching
            .iter()
            .copied()
            .filter(|u| moved(*u))
            .collect();
        if !device && watch.is_empty() {
            return;
        }
        let (hub, out) = (self.hub.clone(), self.out.clone());
        self.pending.spawn(None, 0, async move {
            if device {
                hub.presence().attach(&out, me).await;
            }
            for user in watch {
                hub.presence().watch(&out, me, user).await;
            }
            Ok(tasks::Effect::Answered)
        });
    }

    /// Writes `first` and whatever else is queued (up to a batch), then flushes once. Gives up
    /// if the queue overflows meanwhile: the client is not reading. The write's state is kept
    /// in `self.batch`, so the loop's future holds none of it while the connection idles.
    async fn write_batch(&mut self, first: Outgoing) -> Result<(), End> {
        self.batch = Batch::default();
        self.take_into_batch(first);
        let written = std::future::poll_fn(|cx| self.poll_write(cx)).await;
        self.rx.written_out();
        // Applied once what was queued before it is written; what came after it waits in the
        // queue for the next turn.
        if let Some(notice) = self.batch.notice.take() {
            self.on_notice(&notice);
        }
        written
    }

    /// Makes `item` the batch's next frame, or notes it as the notice the batch stops at.
    fn take_into_batch(&mut self, item: Outgoing) {
        self.batch.taken += 1;
        match item {
            Outgoing::Notice(n) => self.batch.notice = Some(n),
            item => {
                self.batch.unsent = Self::bytes_of(&self.rx, &mut self.remote, self.codec, item);
            }
        }
    }

    /// The body of [`Self::write_batch`]: feeds frames while the socket takes them, stopping
    /// at a notice or a full batch, then flushes. While the socket is not ready it watches the
    /// queue's slow signal; a write that completes at once (the usual case) never looks at it.
    fn poll_write(&mut self, cx: &mut task::Context<'_>) -> Poll<Result<(), End>> {
        let text = self.codec.is_text();
        while !self.batch.flushing {
            if let Some((bytes, room_pos)) = self.batch.unsent.take() {
                match self.transport.poll_ready_unpin(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(_)) => return Poll::Ready(Err(End::Gone)),
                    Poll::Pending => {
                        self.batch.unsent = Some((bytes, room_pos));
                        return self.poll_stopped(cx);
                    }
                }
                if self
                    .transport
                    .start_send_unpin(OutFrame::Data { bytes, text })
                    .is_err()
                {
                    return Poll::Ready(Err(End::Gone));
                }
                if let Some((room, pos)) = room_pos {
                    self.rx.note_written(room, pos);
                }
            }
            let next = if self.batch.notice.is_some() || self.batch.taken >= WRITE_BATCH {
                None
            } else {
                self.rx.try_recv()
            };
            match next {
                Some(next) => self.take_into_batch(next),
                None => self.batch.flushing = true,
            }
        }
        match self.transport.poll_flush_unpin(cx) {
            Poll::Ready(res) => Poll::Ready(res.map_err(|_| End::Gone)),
            Poll::Pending => self.poll_stopped(cx),
        }
    }

    /// While a write waits on the socket: the end, if the queue overflowed meanwhile.
    fn poll_stopped(&self, cx: &mut task::Context<'_>) -> Poll<Result<(), End>> {
        self.rx.poll_stop(cx).map(|stop| Err(stop_end(stop)))
    }

    /// Ends the connection: the final `disconnect` frame when the server chose to close, the
    /// close frame, and then the close handshake, all within the close timeout.
    async fn end(&mut self, end: End) {
        self.rx.close();
        if matches!(end, End::Gone | End::PeerClosed)
            && self.opened.elapsed() < refusal::CHURN_WINDOW
            && let Some(identity) = &self.identity
        {
            refusal::note(
                Refusal::Churn,
                format_args!(
                    "conn {} (user {}) left {:?} after it opened",
                    self.id,
                    identity.user.0,
                    self.opened.elapsed()
                ),
            );
        }
        let close_timeout = self.hub.config.close_timeout;
        let (code, reason, reconnect) = match end {
            End::Gone => {
                metrics::counter!(names::DISCONNECTS, "reason" => "gone").increment(1);
                return;
            }
            End::PeerClosed => {
                metrics::counter!(names::DISCONNECTS, "reason" => "peer closed").increment(1);
                let _ = tokio::time::timeout(close_timeout, self.transport.close()).await;
                return;
            }
            End::Violation { code, reason } => {
                metrics::counter!(names::DISCONNECTS, "reason" => reason).increment(1);
                refusal::note(
                    Refusal::ProtocolError,
                    format_args!("closed conn {}: {code} {reason}", self.id),
                );
                let transport = &mut self.transport;
                let _ = tokio::time::timeout(close_timeout, async {
                    let reason = reason.to_owned();
                    let _ = transport.send(OutFrame::Close { code, reason }).await;
                    let _ = transport.close().await;
                })
                .await;
                return;
            }
            End::Close {
                code,
                reason,
                reconnect,
            } => (code, reason, reconnect),
        };
        metrics::counter!(names::DISCONNECTS, "reason" => reason).increment(1);
        let refused = match code {
            close::SLOW_CONSUMER => Some(Refusal::SlowConsumer),
            close::MESSAGE_TOO_BIG => Some(Refusal::Oversized),
            close::AUTH_TIMEOUT => Some(Refusal::AuthTimeout),
            close::UNSUPPORTED_DATA | close::TOO_MANY_ERRORS => Some(Refusal::ProtocolError),
            _ => None,
        };
        if let Some(class) = refused {
            let user = self.identity.as_ref().map(|i| i.user.0);
            refusal::note(
                class,
                format_args!("closed conn {} (user {user:?}): {code} {reason}", self.id),
            );
        }
        let resume = self
            .rx
            .written()
            .into_iter()
            .filter(|(room, _)| self.joined.contains(room))
            .map(|(room, pos)| p::RoomPosition { room, pos })
            .collect();
        let frame = outbound::encode(
            self.codec,
            &ServerFrame::Disconnect(p::Disconnect {
                code,
                reason: reason.to_owned(),
                reconnect,
                resume,
            }),
        );
        let text = self.codec.is_text();
        let transport = &mut self.transport;
        let _ = tokio::time::timeout(close_timeout, async {
            // After a read error the data frame may be refused; the close frame still goes.
            let _ = transport.send(OutFrame::Data { bytes: frame, text }).await;
            let _ = transport
                .send(OutFrame::Close {
                    code,
                    reason: reason.to_owned(),
                })
                .await;
            // Waits for the peer's close frame: closing a socket with unread input resets it,
            // and the peer could lose our close frame.
            let _ = transport.close().await;
        })
        .await;
    }

    /// Queues an error reply.
    fn refuse(&self, rid: Option<u64>, why: Refused) {
        self.out.frame(&why.frame(rid));
    }

    /// Whether a frame is within this connection's rate and, once authenticated, its user's
    /// over all connections and nodes. Only frames the connection admits count for the user,
    /// so one flooding device does not also spend its user's other devices' share twice.
    fn admit_frame(&mut self) -> bool {
        self.limiter.try_acquire(Instant::now())
            && self.identity.as_ref().is_none_or(|i| {
                self.hub
                    .throttle
                    .hit(Class::Commands, &Subject::User(i.user.0))
            })
    }

    /// One data frame from the socket.
    async fn on_data(&mut self, data: &[u8], text: bool) -> Result<(), End> {
        if text != self.codec.is_text() {
            return Err(End::Close {
                code: close::UNSUPPORTED_DATA,
                reason: if text {
                    "text frame on a MessagePack connection"
                } else {
                    "binary frame on a JSON connection"
                },
                reconnect: false,
            });
        }
        // Every frame counts, malformed ones included, before any work is spent on it.
        if !self.admit_frame() {
            refusal::note(
                Refusal::RateLimited,
                format_args!("conn {}: over its command rate", self.id),
            );
            self.refuse(self.codec.salvage_rid(data), Refused::RateLimited);
            return Ok(());
        }
        let frame = match self.codec.decode::<p::ClientFrame>(data) {
            Ok(frame) => frame,
            Err(e) => {
                self.bad_frames += 1;
                self.refuse(
                    self.codec.salvage_rid(data),
                    Refused::BadFrame(e.to_string()),
                );
                if self.bad_frames >= self.hub.config.max_bad_frames {
                    return Err(End::Close {
                        code: close::TOO_MANY_ERRORS,
                        reason: "too many malformed frames",
                        reconnect: false,
                    });
                }
                return Ok(());
            }
        };
        self.bad_frames = 0;
        let rid = frame.rid();
        // Boxed: the command futures are large, and an idle connection's task should not
        // carry their space while it waits.
        if let Err(why) = Box::pin(self.dispatch(frame)).await {
            self.refuse(Some(rid), why);
        }
        Ok(())
    }
}

#[cfg(feature = "testing")]
impl Message<crate::faults::InjectPanic> for ConnectionActor {
    type Reply = ();

    async fn handle(&mut self, _: crate::faults::InjectPanic, _: &mut Context<Self, ()>) {
        panic!("injected panic in connection {}", self.id);
    }
}
