//! `switchboard-load worker`: one load process. It reads a `Job` line on stdin, opens its
//! sockets from their source addresses at the job's pace, says `joined`; on `watch` each socket
//! subscribes to the presence it watches, at the same pace as the connects (once every member
//! has joined, so the right to see them holds), and the worker says `watched`; on `go` it runs
//! the traffic for the hold time, keeps reading for the drain time, and reports. It stops by
//! itself: at the end of the run, when its stdin closes (the coordinator is gone), or at the
//! job's deadline.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use futures::{SinkExt as _, StreamExt as _};
use hdrhistogram::Histogram;
use switchboard_engine::protocol::{self as p, ClientFrame, ServerFrame};
use switchboard_engine::{Codec, ErrorCode, Position, RoomId, UserId};
use tokio::io::AsyncBufReadExt as _;
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::scenario::{NodeKind, SendKind};
use crate::track::{self, Arrival, SenderTrack};
use crate::wire::{self, Counts, Final, Job, Progress, Report, SocketJob};

/// How long one socket may take to connect, authenticate and join.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// What every socket task adds to. The worker runs on one thread, so these locks are never
/// contended; none is held across an `.await`.
#[derive(Default)]
struct Shared {
    counts: Mutex<Counts>,
    interval: Mutex<Option<Histogram<u64>>>,
    latency: Mutex<Option<Histogram<u64>>>,
    connect: Mutex<Option<Histogram<u64>>>,
    sent_per_room: Mutex<HashMap<u32, u64>>,
    /// Connect attempts finished, either way.
    attempted: AtomicU64,
    /// Presence subscriptions answered, either way.
    watched: AtomicU64,
    /// Plan indexes of sockets that failed to connect.
    failed: Mutex<Vec<u32>>,
}

impl Shared {
    fn count(&self, f: impl FnOnce(&mut Counts)) {
        f(&mut self.counts.lock().unwrap_or_else(|p| p.into_inner()));
    }

    fn record(slot: &Mutex<Option<Histogram<u64>>>, micros: u64) {
        let mut h = slot.lock().unwrap_or_else(|p| p.into_inner());
        // Out of bounds (over two minutes) is saturated rather than lost.
        h.get_or_insert_with(wire::new_histogram)
            .saturating_record(micros.max(1));
    }

    fn sent_to(&self, room: u32) {
        *self
            .sent_per_room
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(room)
            .or_default() += 1;
    }

    fn take(slot: &Mutex<Option<Histogram<u64>>>) -> Histogram<u64> {
        slot.lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or_else(wire::new_histogram)
    }
}

fn emit(report: &Report) {
    let line = serde_json::to_string(report).expect("reports serialise");
    let mut out = std::io::stdout().lock();
    // The coordinator reads these lines; if it is gone there is no one to tell.
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        std::process::exit(3);
    }
}

pub fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let job: Job = serde_json::from_str(&stdin.next_line().await?.context("no job on stdin")?)?;
    let job = Arc::new(job);
    let deadline = Duration::from_secs(job.deadline_secs);
    tokio::time::timeout(deadline, drive(job, stdin))
        .await
        .context("worker deadline passed")?
}

async fn drive(
    job: Arc<Job>,
    mut stdin: tokio::io::Lines<tokio::io::BufReader<tokio::io::Stdin>>,
) -> anyhow::Result<()> {
    let shared = Arc::new(Shared::default());
    let (go_tx, go_rx) = watch::channel(Phase::Connect);
    tokio::spawn(async move {
        // End of input means the coordinator is gone: stop now.
        while let Ok(Some(line)) = stdin.next_line().await {
            match line.trim() {
                "watch" => go_tx.send_replace(Phase::Watch),
                "go" => go_tx.send_replace(Phase::Go(Instant::now())),
                "close" => go_tx.send_replace(Phase::Close),
                _ => continue,
            };
        }
        std::process::exit(3);
    });
    let progress = tokio::spawn(report_progress(shared.clone()));

    let n = job.sockets.len();
    let permits = Arc::new(Semaphore::new(job.connect_concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    let mut pace = (job.ramp_per_sec > 0.0).then(|| {
        let mut t = tokio::time::interval(Duration::from_secs_f64(1.0 / job.ramp_per_sec));
        t.set_missed_tick_behavior(MissedTickBehavior::Burst);
        t
    });
    for i in 0..n {
        if let Some(t) = &mut pace {
            t.tick().await;
        }
        let permit = permits.clone().acquire_owned().await?;
        let (job, shared, go) = (job.clone(), shared.clone(), go_rx.clone());
        tasks.spawn(async move { socket(&job, i, &shared, permit, go).await });
    }
    while shared.attempted.load(Relaxed) < n as u64 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    emit(&progress_now(&shared));
    emit(&Report::Joined);
    let connected = shared
        .counts
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .connected;
    if job.sockets.iter().any(|s| !s.watch.is_empty()) {
        let mut phase = go_rx.clone();
        phase.wait_for(|p| *p != Phase::Connect).await?;
        while shared.watched.load(Relaxed) < connected {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        emit(&Report::Watched);
    }
    // The sockets stop at the end of the drain and stay open until the coordinator, told so,
    // has measured the traffic: closing them is not traffic.
    let mut phase = go_rx.clone();
    let go_at = match *phase.wait_for(|p| matches!(p, Phase::Go(_))).await? {
        Phase::Go(at) => at,
        _ => unreachable!("waited for go"),
    };
    tokio::time::sleep_until(go_at + Duration::from_secs(job.hold_secs + job.drain_secs)).await;
    emit(&progress_now(&shared));
    emit(&Report::Drained);
    while tasks.join_next().await.is_some() {}
    progress.abort();

    let mut sent_per_room: Vec<(u32, u64)> = shared
        .sent_per_room
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .drain()
        .collect();
    sent_per_room.sort_unstable();
    let counts = shared
        .counts
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let failed = std::mem::take(&mut *shared.failed.lock().unwrap_or_else(|p| p.into_inner()));
    emit(&Report::Done(Box::new(Final {
        counts,
        failed,
        sent_per_room,
        latency: wire::encode(&Shared::take(&shared.latency)),
        connect: wire::encode(&Shared::take(&shared.connect)),
    })));
    Ok(())
}

async fn report_progress(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        emit(&progress_now(&shared));
    }
}

fn progress_now(shared: &Shared) -> Report {
    let c = shared
        .counts
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    Report::Progress(Progress {
        connected: c.connected,
        connect_failed: c.connect_failed,
        sent: c.sent,
        delivered: c.delivered,
        interval: wire::encode(&Shared::take(&shared.interval)),
    })
}

/// Where the run is, as the coordinator said.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connect,
    Watch,
    Go(Instant),
    /// The coordinator has measured the traffic: the sockets close.
    Close,
}

/// The next phase this socket acts on: `Watch` until it has subscribed, then `Go`.
async fn next_phase(
    go: &mut watch::Receiver<Phase>,
    watching: bool,
) -> Result<Phase, watch::error::RecvError> {
    go.wait_for(|p| *p != Phase::Connect && !(watching && *p == Phase::Watch))
        .await
        .map(|p| *p)
}

/// The rid of the presence subscription (joins use 1..=rooms, sends 1,000 and up).
const WATCH_RID: u64 = 999;

type Ws = WebSocketStream<TcpStream>;

/// One socket's whole life: connect, join, traffic, drain.
async fn socket(
    job: &Job,
    i: usize,
    shared: &Shared,
    permit: tokio::sync::OwnedSemaphorePermit,
    mut go: watch::Receiver<Phase>,
) {
    let s = &job.sockets[i];
    let started = Instant::now();
    let opened = tokio::time::timeout(CONNECT_TIMEOUT, open_patiently(job.kind, s, shared)).await;
    drop(permit);
    let mut ws = match opened {
        Ok(Ok(ws)) => {
            Shared::record(&shared.connect, started.elapsed().as_micros() as u64);
            shared.count(|c| c.connected += 1);
            ws
        }
        failed => {
            let key = match failed {
                Ok(Err(e)) => connect_error(&e),
                _ => "connect_timeout".into(),
            };
            shared.count(|c| {
                *c.errors.entry(key).or_default() += 1;
                c.connect_failed += 1;
            });
            shared
                .failed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(s.index);
            shared.attempted.fetch_add(1, Relaxed);
            return;
        }
    };
    shared.attempted.fetch_add(1, Relaxed);
    let mut state = SocketState {
        me: s.index,
        send_room: s.sends_into.map(|(index, _)| index),
        seen: Seen {
            room: s.sends_into.map(|(_, id)| RoomId(id)),
            ..Seen::default()
        },
        ..SocketState::default()
    };
    // Keep reading until `go` (presence changes arrive while others connect).
    let mut watching = s.watch.is_empty();
    if watching {
        // Nothing to watch (a room of one): answered already.
        shared.watched.fetch_add(1, Relaxed);
    }
    // Subscriptions are ramped like connects: each one costs the node a store read, and a
    // whole population subscribing in the same instant only measures the pool's queue.
    let mut watch_at = None;
    let go_at = loop {
        tokio::select! {
            phase = next_phase(&mut go, watching || watch_at.is_some()) => match phase {
                Ok(Phase::Go(at)) => break at,
                Ok(_) => {
                    let delay = if job.ramp_per_sec > 0.0 { i as f64 / job.ramp_per_sec } else { 0.0 };
                    watch_at = Some(Instant::now() + Duration::from_secs_f64(delay));
                }
                Err(_) => return,
            },
            _ = async { tokio::time::sleep_until(watch_at.expect("set")).await }, if !watching && watch_at.is_some() => {
                watching = true;
                let users = s.watch.iter().map(|u| UserId(*u)).collect();
                let watch = ClientFrame::PresenceSubscribe(p::PresenceSubscribe { rid: WATCH_RID, users });
                let bytes = Codec::MsgPack.encode(&watch).expect("client frames encode");
                if ws.send(Message::Binary(bytes)).await.is_err() {
                    shared.watched.fetch_add(1, Relaxed);
                    return;
                }
            },
            msg = ws.next() => if !state.take(job.kind, msg, shared) {
                return;
            },
        }
    };
    let stop_sending = go_at + Duration::from_secs(job.hold_secs);
    let end = stop_sending + Duration::from_secs(job.drain_secs);
    let sender = s.sends_into;
    let mut tick = sender.and_then(|_| {
        (job.send_rate > 0.0).then(|| {
            let period = Duration::from_secs_f64(1.0 / job.send_rate);
            // Spread the senders over the period rather than all firing at once.
            let offset = period.mul_f64(((s.index as u64 * 2_654_435_761) % 1_000) as f64 / 1e3);
            let mut t = tokio::time::interval_at(go_at + offset, period);
            t.set_missed_tick_behavior(MissedTickBehavior::Skip);
            t
        })
    });
    let mut seq = 0u64;
    let mut fallback = s.fallback.clone();
    loop {
        let may_send = sender.is_some() && Instant::now() < stop_sending;
        let free = state.inflight.len() < job.window;
        tokio::select! {
            _ = tokio::time::sleep_until(end) => break,
            msg = ws.next() => if !state.take(job.kind, msg, shared) {
                // Its node is gone: a failover run reconnects it elsewhere, once.
                match fallback.take() {
                    Some(node) => match reconnect(job, s, ws, node, end, shared).await {
                        Some(again) => ws = again,
                        None => return,
                    },
                    None => return,
                }
            },
            _ = async { tick.as_mut().expect("rate set").tick().await }, if may_send && tick.is_some() => {
                if free {
                    seq += 1;
                    if !send(&mut ws, job, s, seq, &mut state, shared).await {
                        return;
                    }
                }
            },
            _ = std::future::ready(()), if may_send && tick.is_none() && free => {
                seq += 1;
                if !send(&mut ws, job, s, seq, &mut state, shared).await {
                    return;
                }
            },
        }
    }
    shared.count(|c| c.unanswered += state.inflight.len() as u64);
    let _ = go.wait_for(|p| *p == Phase::Close).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
}

/// After its node went away: connects to `node` instead and rejoins its rooms (which move to
/// a live node once the cluster sees the death), trying again until `end` as PROTOCOL §8.10
/// asks of clients: a jittered pause that doubles after each failure, up to 5 s, so thousands
/// of clients of a dead node do not hammer the survivors in step.
async fn reconnect(
    job: &Job,
    s: &SocketJob,
    lost_socket: Ws,
    node: String,
    end: Instant,
    shared: &Shared,
) -> Option<Ws> {
    let lost = Instant::now();
    // Closed first: a worker holds as many sockets as it may open files, less a margin.
    drop(lost_socket);
    let again = SocketJob { node, ..s.clone() };
    let mut pause = Backoff::new(Duration::from_millis(100 + u64::from(s.index % 400)));
    while Instant::now() < end {
        let reason =
            match tokio::time::timeout(CONNECT_TIMEOUT, open(job.kind, &again, shared)).await {
                Ok(Ok(ws)) => {
                    let ms = lost.elapsed().as_millis() as u64;
                    shared.count(|c| {
                        c.reconnected += 1;
                        c.reconnect_max_ms = c.reconnect_max_ms.max(ms);
                    });
                    return Some(ws);
                }
                Ok(Err(e)) => connect_error(&e),
                Err(_) => "connect_timeout".into(),
            };
        shared.count(|c| *c.retries.entry(reason).or_default() += 1);
        pause.wait().await;
    }
    None
}

/// The pause before a client tries again (PROTOCOL §8.10): jittered by the caller's first
/// pause, doubling after each failure up to 5 s, so thousands of clients turned away at once
/// do not come back in step.
struct Backoff(Duration);

impl Backoff {
    const MAX: Duration = Duration::from_secs(5);

    fn new(first: Duration) -> Self {
        Backoff(first)
    }

    async fn wait(&mut self) {
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(Self::MAX);
    }
}

/// Whether the node turned this attempt away as busy, asking the client to try again: a
/// command answered 4001, or the upgrade answered 503.
fn is_busy(e: &anyhow::Error) -> bool {
    use tokio_tungstenite::tungstenite::Error as WsError;
    e.downcast_ref::<Refused>()
        .is_some_and(|r| r.1 == ErrorCode::Busy as u16)
        || matches!(e.downcast_ref::<WsError>(),
            Some(WsError::Http(response)) if response.status().as_u16() == 503)
}

/// The error key of a failed connect: its io error kind, the code a join or watch was refused
/// with, or the stage that failed.
fn connect_error(e: &anyhow::Error) -> String {
    use tokio_tungstenite::tungstenite::Error as WsError;
    // An io error by kind, or by errno where the kind says nothing.
    let io_key = |io: &std::io::Error| {
        let kind = format!("{:?}", io.kind()).to_lowercase();
        match io.raw_os_error() {
            Some(errno) if kind == "uncategorized" || kind == "other" => {
                format!("connect_errno_{errno}")
            }
            _ => format!("connect_{kind}"),
        }
    };
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        return io_key(io);
    }
    if let Some(Refused(stage, code, why)) = e.downcast_ref::<Refused>() {
        return format!("{stage}_{code}{why}");
    }
    match e.downcast_ref::<WsError>() {
        Some(WsError::Io(io)) => io_key(io),
        Some(WsError::Http(response)) => format!("connect_http_{}", response.status().as_u16()),
        Some(WsError::ConnectionClosed | WsError::AlreadyClosed) => "connect_closed".into(),
        Some(WsError::Protocol(_)) => "connect_websocket_protocol".into(),
        Some(_) => "connect_websocket".into(),
        None => "connect_protocol".into(),
    }
}

/// A command refused during connect: the stage (`join`, `watch`), the error code, and a busy
/// reply's reason (` (room is moving)`), or nothing.
#[derive(Debug, thiserror::Error)]
#[error("{0} refused with {1}{2}")]
struct Refused(&'static str, u16, String);

/// [`open`], tried again while the node answers the upgrade 503 (busy: it asks the client to
/// come back), after a jittered pause that doubles; the caller bounds the whole in time.
async fn open_patiently(kind: NodeKind, s: &SocketJob, shared: &Shared) -> anyhow::Result<Ws> {
    let mut pause = Backoff::new(Duration::from_millis(50 + u64::from(s.index % 100)));
    loop {
        match open(kind, s, shared).await {
            // A busy join was already tried again inside `open`; what is left is the upgrade.
            Err(e) if is_busy(&e) => {
                shared.count(|c| *c.retries.entry(connect_error(&e)).or_default() += 1);
                pause.wait().await;
            }
            opened => return opened,
        }
    }
}

/// Connects from the socket's source address, and joins (and watches) as the job says.
async fn open(kind: NodeKind, s: &SocketJob, shared: &Shared) -> anyhow::Result<Ws> {
    let tcp = tokio::net::TcpSocket::new_v4()?;
    // The port is chosen at connect, where the 4-tuple only has to be unique: chosen at bind,
    // the kernel searches every port bound on the address, which took half this process's CPU
    // in a connect storm.
    nix::sys::socket::setsockopt(&tcp, nix::sys::socket::sockopt::IpBindAddressNoPort, &true)?;
    tcp.bind((s.source, 0).into())?;
    let stream = tcp.connect(s.node.parse()?).await?;
    stream.set_nodelay(true)?;
    // Small buffers: a worker holds up to 19,000 of these and frames here are small.
    let config = WebSocketConfig::default()
        .read_buffer_size(512)
        .write_buffer_size(0);
    let mut request = match (kind, &s.token) {
        (NodeKind::Switchboard, Some(t)) => format!("ws://{}/ws?token={t}", s.node),
        _ => format!("ws://{}/ws", s.node),
    }
    .into_client_request()?;
    if kind == NodeKind::Switchboard {
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(switchboard_engine::codec::SUBPROTOCOL_MSGPACK),
        );
    }
    let (mut ws, _) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await?;
    match kind {
        NodeKind::Floor => {
            for room in &s.rooms {
                ws.send(Message::text(format!("J {room}"))).await?;
                match ws.next().await {
                    Some(Ok(Message::Text(t))) if t.as_str() == "J" => {}
                    other => anyhow::bail!("floor join: {other:?}"),
                }
            }
        }
        NodeKind::Switchboard => {
            match next_frame(&mut ws).await? {
                ServerFrame::Hello(_) => {}
                other => anyhow::bail!("expected hello, got {other:?}"),
            }
            let mut rid = 0;
            for room in &s.rooms {
                rid += 1;
                let join = ClientFrame::Join(p::Join {
                    rid,
                    room: RoomId(*room),
                    resume: None,
                });
                // Busy asks the client to try again (PROTOCOL §6.1), as a client does: after a
                // jittered pause that doubles, within the connect's deadline.
                let mut pause = Backoff::new(Duration::from_millis(50 + u64::from(s.index % 100)));
                loop {
                    match request_reply(&mut ws, &join, rid, "join").await {
                        Err(e) if is_busy(&e) => {
                            shared.count(|c| *c.retries.entry(connect_error(&e)).or_default() += 1);
                            pause.wait().await;
                        }
                        joined => break joined?,
                    }
                }
            }
        }
    }
    Ok(ws)
}

async fn next_frame(ws: &mut Ws) -> anyhow::Result<ServerFrame> {
    loop {
        match ws.next().await.context("closed")?? {
            Message::Binary(b) => return Ok(Codec::MsgPack.decode(&b)?),
            Message::Close(f) => anyhow::bail!("closed: {f:?}"),
            _ => {}
        }
    }
}

/// Sends a command and waits for its reply, skipping events (nothing is sent yet).
async fn request_reply(
    ws: &mut Ws,
    frame: &ClientFrame,
    rid: u64,
    stage: &'static str,
) -> anyhow::Result<()> {
    ws.send(Message::Binary(Codec::MsgPack.encode(frame)?))
        .await?;
    loop {
        match next_frame(ws).await? {
            ServerFrame::Error(e) if e.rid == Some(rid) => {
                // A busy reply says why ("busy: room is moving; retry ..."): kept, so a report
                // tells the reasons apart.
                let why = e
                    .message
                    .strip_prefix("busy: ")
                    .and_then(|m| m.split(';').next())
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default();
                return Err(Refused(stage, e.code as u16, why).into());
            }
            ServerFrame::Joined(_) => return Ok(()),
            _ => {}
        }
    }
}

#[derive(Default)]
struct SocketState {
    me: u32,
    /// The room index this socket sends into.
    send_room: Option<u32>,
    /// What it has seen of that room: what its reactions and read marks point at.
    seen: Seen,
    /// Unanswered sends: rids on switchboard, sequence numbers on the floor (answered by the
    /// sender's own echo).
    inflight: Vec<u64>,
    senders: HashMap<u32, SenderTrack>,
}

/// The newest positions a sender has seen in the room it sends into, and its one emoji there.
#[derive(Default)]
struct Seen {
    room: Option<RoomId>,
    /// The newest `message`: what a reaction goes on.
    message: Option<Position>,
    /// The newest entry of any kind: what a read mark marks.
    entry: Option<Position>,
    /// The message its emoji is on, until it takes it away again.
    reacted: Option<Position>,
}

impl Seen {
    fn saw(&mut self, room: RoomId, pos: Position, message: bool) {
        if self.room == Some(room) {
            self.entry = self.entry.max(Some(pos));
            if message {
                self.message = self.message.max(Some(pos));
            }
        }
    }
}

impl SocketState {
    /// Accounts one arrival; false when the socket is gone.
    fn take(
        &mut self,
        kind: NodeKind,
        msg: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
        shared: &Shared,
    ) -> bool {
        let code = match msg {
            Some(Ok(Message::Binary(b))) if kind == NodeKind::Switchboard => {
                match Codec::MsgPack.decode::<ServerFrame>(&b) {
                    Ok(frame) => self.frame(frame, shared),
                    Err(_) => {
                        shared.count(|c| *c.errors.entry("undecodable".into()).or_default() += 1)
                    }
                }
                return true;
            }
            Some(Ok(Message::Text(t))) if kind == NodeKind::Floor => {
                // `M <room> <text>`
                if let Some(text) = t.as_str().splitn(3, ' ').nth(2)
                    && let Some((sender, seq)) = self.delivered(text, shared)
                    && sender == self.me
                {
                    self.inflight.retain(|r| *r != seq);
                }
                return true;
            }
            Some(Ok(Message::Close(f))) => {
                f.map_or("none".to_string(), |f| u16::from(f.code).to_string())
            }
            Some(Ok(_)) => return true,
            Some(Err(_)) | None => "reset".to_string(),
        };
        shared.count(|c| {
            *c.disconnects.entry(code).or_default() += 1;
            c.unanswered += self.inflight.len() as u64;
        });
        false
    }

    fn frame(&mut self, frame: ServerFrame, shared: &Shared) {
        match frame {
            ServerFrame::Message(m) => {
                self.seen.saw(m.room, m.pos, true);
                self.delivered(&m.text, shared);
            }
            // Its cmid carries the sender's number and time, as a message's text does.
            ServerFrame::Reaction(r) => {
                self.seen.saw(r.room, r.pos, false);
                self.delivered(&r.cmid, shared);
            }
            // It carries nothing of ours to time or order it by: counted only.
            ServerFrame::ReadReceipt(_) => shared.count(|c| c.delivered += 1),
            // Of what a worker sends, only read marks are answered `done`.
            ServerFrame::Done(d) => {
                self.inflight.retain(|r| *r != d.rid);
                shared.count(|c| {
                    c.acked += 1;
                    c.receipts += 1;
                });
                if let Some(room) = self.send_room {
                    shared.sent_to(room);
                }
            }
            ServerFrame::Sent(s) => {
                self.inflight.retain(|r| *r != s.rid);
                shared.count(|c| c.acked += 1);
                if let Some(room) = self.send_room {
                    shared.sent_to(room);
                }
            }
            ServerFrame::Presence(_) => {
                shared.watched.fetch_add(1, Relaxed);
            }
            ServerFrame::Error(e) => {
                let mut code = (e.code as u16).to_string();
                if e.rid == Some(WATCH_RID) {
                    shared.watched.fetch_add(1, Relaxed);
                    code = format!("watch_{code}");
                }
                if let Some(rid) = e.rid {
                    self.inflight.retain(|r| *r != rid);
                }
                shared.count(|c| *c.errors.entry(code).or_default() += 1);
            }
            ServerFrame::PresenceChanged(_) => shared.count(|c| c.presence_events += 1),
            ServerFrame::Disconnect(d) => {
                let code = format!("disconnect_{}", d.code);
                shared.count(|c| *c.errors.entry(code).or_default() += 1);
            }
            _ => {}
        }
    }

    /// Accounts a delivered message; its sender and sequence number when it is one of ours.
    fn delivered(&mut self, text: &str, shared: &Shared) -> Option<(u32, u64)> {
        let Some((sender, seq, micros)) = track::parse_text(text) else {
            shared.count(|c| *c.errors.entry("foreign_message".into()).or_default() += 1);
            return None;
        };
        let latency = crate::now_micros().saturating_sub(micros);
        match self.senders.entry(sender).or_default().arrive(seq) {
            Arrival::InOrder => shared.count(|c| c.delivered += 1),
            Arrival::Duplicate => shared.count(|c| c.duplicated += 1),
            Arrival::Reordered => shared.count(|c| {
                c.delivered += 1;
                c.reordered += 1;
            }),
        }
        Shared::record(&shared.interval, latency);
        Shared::record(&shared.latency, latency);
        Some((sender, seq))
    }
}

/// Sends message `seq`, or the reaction or read mark the job's mix makes of it; false when the
/// socket is gone.
async fn send(
    ws: &mut Ws,
    job: &Job,
    s: &SocketJob,
    seq: u64,
    state: &mut SocketState,
    shared: &Shared,
) -> bool {
    let (room_index, room) = s.sends_into.expect("only senders send");
    let text = |bytes| track::message_text(s.index, seq, crate::now_micros(), bytes);
    let msg = match job.kind {
        NodeKind::Floor => {
            state.inflight.push(seq);
            Message::text(format!("M {room} {}", text(job.message_bytes)))
        }
        NodeKind::Switchboard => {
            let (rid, room) = (1_000 + seq, RoomId(room));
            let seen = &mut state.seen;
            // The cmid of a reaction is what its event brings back: the text of a message.
            let react = |target, remove| {
                ClientFrame::React(p::React {
                    rid,
                    room,
                    cmid: text(0),
                    target,
                    emoji: "👍".into(),
                    remove,
                })
            };
            let frame = match (job.mix.kind(seq), seen.reacted, seen.message, seen.entry) {
                (SendKind::Reaction, Some(on), _, _) => {
                    seen.reacted = None;
                    react(on, true)
                }
                (SendKind::Reaction, None, Some(newest), _) => {
                    seen.reacted = Some(newest);
                    react(newest, false)
                }
                (SendKind::Receipt, _, _, Some(pos)) => {
                    ClientFrame::MarkRead(p::MarkRead { rid, room, pos })
                }
                // A message; or nothing seen yet to react to or mark.
                _ => ClientFrame::Send(p::Send {
                    rid,
                    room,
                    cmid: format!("{}-{seq}", s.index),
                    text: text(job.message_bytes),
                    attachments: Vec::new(),
                    // Each cmid is sent once: a refused send is counted, not retried.
                    first: true,
                    reply_to: None,
                }),
            };
            state.inflight.push(rid);
            Message::Binary(Codec::MsgPack.encode(&frame).expect("client frames encode"))
        }
    };
    shared.count(|c| c.sent += 1);
    if ws.send(msg).await.is_err() {
        shared.count(|c| *c.disconnects.entry("reset".into()).or_default() += 1);
        return false;
    }
    if job.kind == NodeKind::Floor {
        // The floor acknowledges nothing: a written message counts as accepted.
        shared.count(|c| c.acked += 1);
        shared.sent_to(room_index);
    }
    true
}
