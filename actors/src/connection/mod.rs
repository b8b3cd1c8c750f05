//! `ConnectionActor`: one WebSocket. A single task waits on its outbound queue, its socket,
//! its commands in flight and its rare signals (see `ConnectionActor::poll_wake`): it reads
//! commands and answers those it can from memory, starts the others as tasks off the loop (so
//! a slow store never stops its writes), writes queued frames in batches with one flush, and
//! closes with a documented code when the client is too slow, misbehaves, or the node shuts
//! down. A panic here ends this connection only.
//!
//! - this file: the actor (start, the loop, stop), sign-in, reading frames;
//! - `wake`: what woke the loop, polled most frequent first, and the socket's read waker;
//! - `write`: batches of queued frames with one flush, each room position once, the close;
//! - `remote`: its rooms on other nodes, and the cluster's notices about them;
//! - `commands`, `pending`, `tasks`: each command, and those that run off the loop (the
//!   people commands in `people`).

mod commands;
mod pending;
mod people;
mod remote;
mod room_list;
mod tasks;
mod wake;
mod write;

use wake::{ReadWake, Wakeup};
use write::Batch;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::task::Waker;
use std::time::Instant;

use futures::task::AtomicWaker;
use kameo::error::Infallible;
use kameo::mailbox::{MailboxReceiver, Signal};
use kameo::prelude::*;
use switchboard_engine::auth::Identity;
use switchboard_engine::limits::RateLimiter;
use switchboard_engine::protocol::{self as p, ServerFrame};
use switchboard_engine::{Codec, ConnId, ErrorCode, RoomId, UserId, close};
use switchboard_persistence::cluster::throttle::{Class, Subject};
use tokio::sync::watch;

use crate::error::Refused;
use crate::hub::Hub;
use crate::metrics as names;
use crate::outbound::{self, Outbound, OutboundReceiver, Stop};
use crate::refusal::{self, Refusal};
use crate::revocation::Pass;
use crate::room::{Caller, Command, RoomCommand};
use crate::socket::Socket;
use crate::transport::{Inbound, Transport};

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
        conn.hub.register_fault_target(id, conn.out.clone());
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
            // Nothing is sent to a connection's mailbox but kameo's start-up signal: the
            // connection ends itself, and test faults come through its queue. So once started,
            // it stops polling the mailbox (a mailbox poll on every turn was a visible share of
            // a fan-out's CPU).
            let wakeup = if self.started {
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
            } else if self.rx.is_remote(room) {
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
