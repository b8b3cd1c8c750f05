//! `WriteBehind`: the journal between a room's owner and the store.
//!
//! Rooms assign positions and fan messages out at once; the write-behind makes them durable in
//! batches and only then runs each message's acknowledgement ("stored").
//!
//! - **Bounded.** Before assigning a position a room reserves room in the queue by count and by
//!   bytes ([`WriteBehind::reserve`]). When either bound is reached the reservation fails with
//!   [`Busy`] and the sender is told to retry; memory never grows past the bounds.
//! - **Group commit, no timer** (unless `commit_delay_ms` asks for one). A message that
//!   reaches an idle lane is committed at once;
//!   messages that arrive while a commit is in flight form the next batch (at most
//!   `max_batch`), cut the moment that commit returns, as a database's WAL writer does. So a
//!   lone sender waits for one commit, and under load batches grow with the commit's own
//!   latency. Rooms are spread over `lanes` (2 by default); each lane has one batch in flight
//!   at a time, so a room's messages commit in submission order.
//! - **Retried.** A failed commit is retried with exponential backoff until it succeeds; the
//!   store skips rows already present, so a retry never duplicates.
//! - **Fenced.** A row whose room has since been taken by a newer owner (a higher epoch) is
//!   refused by the store; its acknowledgement is told [`Outcome::Fenced`] instead.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kameo::error::Infallible;
use kameo::mailbox::{MailboxReceiver, Signal};
use kameo::message::{Context, Message};
use kameo::prelude::*;
use kameo::reply::{DelegatedReply, ReplySender};
use serde::{Deserialize, Serialize};
use switchboard_engine::domain::ChatMessage;
use switchboard_engine::settings::ms;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::store::Store;
use switchboard_engine::metrics as names;

/// What became of a message the write-behind took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It is durable.
    Stored,
    /// Not stored: its room has a newer owner (epoch) now. The sender should retry there.
    Fenced,
}

/// Runs once the message's batch has committed.
pub type OnStored = Box<dyn FnOnce(&ChatMessage, Outcome) + Send>;

/// `[write_behind]` in the node's configuration, deserialised directly.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WriteBehindConfig {
    /// Independent batch writers. Each room always uses the same lane, so its messages commit
    /// in order; several lanes let the database work on several batches at once.
    pub lanes: usize,
    /// Most messages in one committed batch. A batch is cut whenever its lane has no commit in
    /// flight, so this bounds only a backlog's batches.
    pub max_batch: usize,
    /// `commit_delay_ms`: how long a batch's oldest message waits for company before the batch
    /// is cut (once no commit is in flight). 0, the default, cuts at once: a lone sender's
    /// `sent` costs one commit, and a batch is whatever arrived during the commit before it.
    /// A delay trades that latency for fewer, larger commits when messages arrive just far
    /// enough apart to find the lane idle each time; 10 is the behaviour before December 2026
    /// (docs/BENCHMARKS.md measures both).
    #[serde(rename = "commit_delay_ms", with = "ms")]
    pub commit_delay: Duration,
    /// Most messages queued or in flight; beyond it sends are refused with `busy` (4001).
    pub max_queued: usize,
    /// Most message bytes (text + cmid) queued or in flight; beyond it sends are refused with
    /// `busy` (4001).
    pub max_queued_bytes: usize,
    /// Fixed, not in the file: first retry delay after a failed commit; doubles up to
    /// `max_backoff`.
    #[serde(skip)]
    pub min_backoff: Duration,
    #[serde(skip)]
    pub max_backoff: Duration,
}

impl Default for WriteBehindConfig {
    fn default() -> Self {
        WriteBehindConfig {
            lanes: 2,
            max_batch: 1024,
            commit_delay: Duration::ZERO,
            max_queued: 100_000,
            max_queued_bytes: 64 * 1024 * 1024,
            min_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_secs(2),
        }
    }
}

/// The queue is full: retry the send later (with the same client message id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("write-behind queue is full")]
pub struct Busy;

/// Room held in the queue for one message, returned when its batch commits.
#[derive(Debug)]
pub struct Permit {
    bytes: usize,
}

#[derive(Debug, Default)]
struct Usage {
    count: usize,
    bytes: usize,
}

/// Queue accounting shared by every room and the actor. The mutex guards two integers and is
/// never held across an `.await`.
#[derive(Debug)]
struct Budget {
    usage: Mutex<Usage>,
    max_count: usize,
    max_bytes: usize,
}

impl Budget {
    fn reserve(&self, bytes: usize) -> Result<Permit, Busy> {
        let mut u = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        if u.count + 1 > self.max_count || u.bytes + bytes > self.max_bytes {
            metrics::counter!(names::WRITE_BEHIND_BUSY).increment(1);
            return Err(Busy);
        }
        u.count += 1;
        u.bytes += bytes;
        metrics::gauge!(names::WRITE_BEHIND_QUEUED).set(u.count as f64);
        Ok(Permit { bytes })
    }

    fn release(&self, count: usize, bytes: usize) {
        let mut u = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        u.count -= count;
        u.bytes -= bytes;
        metrics::gauge!(names::WRITE_BEHIND_QUEUED).set(u.count as f64);
    }

    fn queued(&self) -> (usize, usize) {
        let u = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        (u.count, u.bytes)
    }
}

/// Handle to the write-behind actor; cheap to clone.
#[derive(Clone)]
pub struct WriteBehind {
    /// Rooms are spread over lanes by id; each lane commits one batch at a time.
    lanes: Vec<ActorRef<WriteBehindActor>>,
    budget: Arc<Budget>,
}

impl WriteBehind {
    pub fn spawn(store: Arc<dyn Store>, config: WriteBehindConfig) -> Self {
        let budget = Arc::new(Budget {
            usage: Mutex::default(),
            max_count: config.max_queued,
            max_bytes: config.max_queued_bytes,
        });
        // The mailboxes are unbounded on purpose: every message in them holds a `Permit`, so
        // the shared budget above is their bound, by count and by bytes.
        let lanes = (0..config.lanes.max(1))
            .map(|_| {
                WriteBehindActor::spawn_with_mailbox(
                    WriteBehindActor {
                        store: store.clone(),
                        config: config.clone(),
                        budget: budget.clone(),
                        pending: Vec::new(),
                        oldest: None,
                        in_flight: None,
                        submitted: 0,
                        committed: 0,
                        syncs: VecDeque::new(),
                    },
                    kameo::mailbox::unbounded(),
                )
            })
            .collect();
        WriteBehind { lanes, budget }
    }

    /// Resolves when a lane's actor has stopped: at shutdown, or because it died (then sends
    /// could no longer become durable, and the node must say so).
    pub async fn stopped(&self) {
        let lanes = self.lanes.iter().map(|l| Box::pin(l.wait_for_shutdown()));
        futures::future::select_all(lanes).await;
    }

    /// Fault injection for tests: stops the first lane's actor as if it had died.
    #[cfg(feature = "testing")]
    pub fn kill_lane(&self) {
        self.lanes[0].kill();
    }

    /// Reserves queue room for a message of `bytes` bytes, or says the queue is full.
    pub fn reserve(&self, bytes: usize) -> Result<Permit, Busy> {
        self.budget.reserve(bytes)
    }

    /// Queues `msg` for storage; `on_stored` runs after its batch commits. Never blocks and
    /// never fails for lack of room: the permit holds that room.
    pub fn submit(&self, permit: Permit, msg: ChatMessage, on_stored: OnStored) {
        // A room always uses the same lane, so its messages commit in position order.
        let lane = &self.lanes[(msg.room.0 % self.lanes.len() as u64) as usize];
        let entry = Entry {
            msg,
            on_stored,
            bytes: permit.bytes,
        };
        if lane.tell(entry).try_send().is_err() {
            // Only after the actor stopped (shutdown); nothing acknowledged is affected.
            self.budget.release(1, permit.bytes);
            tracing::warn!("write-behind stopped; message dropped before acknowledgement");
        }
    }

    /// Resolves once every message submitted before this call is durable.
    pub async fn sync(&self) {
        for lane in &self.lanes {
            let _ = lane.ask(Sync).await;
        }
    }

    /// (messages, bytes) queued or in flight.
    pub fn queued(&self) -> (usize, usize) {
        self.budget.queued()
    }

    /// Commits everything queued, then stops the actors.
    pub async fn shutdown(&self) {
        self.sync().await;
        for lane in &self.lanes {
            let _ = lane.stop_gracefully().await;
            lane.wait_for_shutdown().await;
        }
    }
}

struct Entry {
    msg: ChatMessage,
    on_stored: OnStored,
    bytes: usize,
}

struct Batch {
    msgs: Arc<Vec<ChatMessage>>,
    acks: Vec<OnStored>,
    bytes: usize,
}

struct Sync;

pub struct WriteBehindActor {
    store: Arc<dyn Store>,
    config: WriteBehindConfig,
    budget: Arc<Budget>,
    pending: Vec<Entry>,
    /// When the oldest pending message arrived.
    oldest: Option<Instant>,
    in_flight: Option<JoinHandle<(Batch, Vec<usize>)>>,
    submitted: u64,
    committed: u64,
    /// Sync requests waiting for `committed` to reach their mark, in mark order.
    syncs: VecDeque<(u64, ReplySender<()>)>,
}

impl Actor for WriteBehindActor {
    type Args = Self;
    type Error = Infallible;

    async fn on_start(state: Self, _: ActorRef<Self>) -> Result<Self, Infallible> {
        Ok(state)
    }

    async fn next(
        &mut self,
        _: WeakActorRef<Self>,
        mailbox: &mut MailboxReceiver<Self>,
    ) -> Result<Option<Signal<Self>>, Infallible> {
        loop {
            // Group commit: what is pending goes once the lane is free and the oldest message
            // has waited `commit_delay` (by default not at all: no timer is ever set).
            let due = self
                .oldest
                .filter(|_| self.in_flight.is_none())
                .map(|t| t + self.config.commit_delay);
            let full = self.pending.len() >= self.config.max_batch || !self.syncs.is_empty();
            if due.is_some_and(|due| full || due <= Instant::now()) {
                self.cut();
                continue;
            }
            tokio::select! {
                signal = mailbox.recv() => return Ok(signal),
                _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                    self.cut();
                }
                done = async { self.in_flight.as_mut().expect("guarded").await }, if self.in_flight.is_some() => {
                    self.in_flight = None;
                    match done {
                        Ok((batch, fenced)) => self.committed_batch(batch, fenced),
                        // The commit task never panics; if it did, the acks are lost but the
                        // rows may still be stored, so say so loudly.
                        Err(e) => tracing::error!(error = %e, "write-behind commit task failed"),
                    }
                }
            }
        }
    }
}

impl WriteBehindActor {
    /// Starts committing up to `max_batch` pending messages, unless a commit is in flight.
    fn cut(&mut self) {
        if self.in_flight.is_some() || self.pending.is_empty() {
            return;
        }
        let take = self.pending.len().min(self.config.max_batch);
        let rest = self.pending.split_off(take);
        let entries = std::mem::replace(&mut self.pending, rest);
        // What is left beyond `max_batch` has waited already: it goes with the next cut.
        if self.pending.is_empty() {
            self.oldest = None;
        }
        let mut msgs = Vec::with_capacity(entries.len());
        let mut acks = Vec::with_capacity(entries.len());
        let mut bytes = 0;
        for e in entries {
            msgs.push(e.msg);
            acks.push(e.on_stored);
            bytes += e.bytes;
        }
        let batch = Batch {
            msgs: Arc::new(msgs),
            acks,
            bytes,
        };
        let store = self.store.clone();
        let (min, max) = (self.config.min_backoff, self.config.max_backoff);
        self.in_flight = Some(tokio::spawn(async move {
            let mut backoff = min;
            loop {
                let started = std::time::Instant::now();
                match store.append(batch.msgs.clone()).await {
                    Ok(fenced) => {
                        metrics::histogram!(names::WRITE_BEHIND_COMMIT_SECONDS)
                            .record(started.elapsed().as_secs_f64());
                        metrics::histogram!(names::WRITE_BEHIND_BATCH_SIZE)
                            .record(batch.msgs.len() as f64);
                        return (batch, fenced);
                    }
                    Err(e) => {
                        metrics::counter!(names::WRITE_BEHIND_FAILURES).increment(1);
                        tracing::warn!(error = %e, batch = batch.msgs.len(), retry_in = ?backoff, "write-behind commit failed");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(max);
                    }
                }
            }
        }));
    }

    fn committed_batch(&mut self, batch: Batch, fenced: Vec<usize>) {
        let n = batch.msgs.len();
        let mut fenced = fenced.into_iter().peekable();
        for (i, (msg, ack)) in batch.msgs.iter().zip(batch.acks).enumerate() {
            let outcome = if fenced.next_if_eq(&i).is_some() {
                metrics::counter!(names::WRITE_BEHIND_FENCED).increment(1);
                Outcome::Fenced
            } else {
                Outcome::Stored
            };
            ack(msg, outcome);
        }
        self.budget.release(n, batch.bytes);
        self.committed += n as u64;
        while self
            .syncs
            .front()
            .is_some_and(|(mark, _)| *mark <= self.committed)
        {
            let (_, tx) = self.syncs.pop_front().expect("checked");
            tx.send(());
        }
    }
}

impl Message<Entry> for WriteBehindActor {
    type Reply = ();

    async fn handle(&mut self, entry: Entry, _: &mut Context<Self, ()>) {
        if self.pending.is_empty() {
            self.oldest = Some(Instant::now());
        }
        self.pending.push(entry);
        self.submitted += 1;
    }
}

impl Message<Sync> for WriteBehindActor {
    type Reply = DelegatedReply<()>;

    async fn handle(&mut self, _: Sync, ctx: &mut Context<Self, Self::Reply>) -> Self::Reply {
        let (delegated, tx) = ctx.reply_sender();
        if let Some(tx) = tx {
            if self.committed >= self.submitted {
                tx.send(());
            } else {
                self.syncs.push_back((self.submitted, tx));
            }
        }
        delegated
    }
}
