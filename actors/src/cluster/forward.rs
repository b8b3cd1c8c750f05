//! `Forwarder`: the bounded queue of envelopes for one other node, and the task that sends
//! them. Everything from this node to that node goes through it, in order: commands, the
//! owner's deliveries, replies, handoffs. The task takes whatever has queued up (a batch) and
//! publishes it as one bus message, so under load a node pays far less than one Redis command
//! per message.
//!
//! A batch that nobody received because the receiver is not subscribed to its inbox (after
//! Redis came back, nodes subscribe again each in its own time) is published again until the
//! receiver listens, for up to [`HOLD_UNHEARD`]: a command in it (a member's rejoin after its
//! `room_reset`) is delayed rather than lost until its reply deadline.
//!
//! A room posting a message sent from the receiving node asks its forwarder to hold
//! ([`Forwarder::hold_for_reply`]): the next batch waits, up to `ForwardLimits::reply_hold`,
//! for the post's `sent`, so that the message's delivery to that node and its answer leave in
//! one `PUBLISH`. Whatever is queued meanwhile waits behind, in order; past the hold (a store
//! outage) it all goes without the answer, so live delivery never stops on the store.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard_engine::ring::NodeId;
use switchboard_persistence::cluster::bus::Bus;
use tokio::sync::Notify;

use super::awaited::Awaited;
use super::wire::{self, Envelope};
use crate::config::ForwardLimits;
use crate::metrics as names;
use crate::supervised::{Policy, Supervisor, Task};

/// Most envelopes in one bus message.
const MAX_BATCH: usize = 512;
/// Most frame bytes in one bus message (Redis pub/sub messages should stay small).
const MAX_BATCH_BYTES: usize = 256 * 1024;
/// How long a batch nobody received waits for its receiver to subscribe: well past the time a
/// live node takes to subscribe again after Redis came back (it tries every 250 ms,
/// `link::RESUBSCRIBE_DELAY`). A receiver that stays silent that long is taken for gone (it
/// crashed, and the ring drops it soon): later batches to it are not held until it listens
/// again.
pub(super) const HOLD_UNHEARD: Duration = Duration::from_secs(1);
/// Pause between two publishes of a held batch.
const HOLD_RETRY: Duration = Duration::from_millis(10);

/// Most answers one hold waits for; posts past it do not extend the hold.
const MAX_HELD: usize = 256;

struct Queue {
    items: VecDeque<(Envelope, usize)>,
    bytes: usize,
    /// The tokens of the answers the next batch waits for, and until when it waits.
    held: Vec<u64>,
    hold_until: Option<tokio::time::Instant>,
}

impl Queue {
    /// The end of the hold the next batch waits for; `None` when it need not wait (nothing
    /// held, the hold is over, or the batch is full already). A hold that ended forgets its
    /// tokens: their answers come in some later batch.
    fn hold(&mut self, now: tokio::time::Instant) -> Option<tokio::time::Instant> {
        let until = self.hold_until?;
        if now < until
            && !self.held.is_empty()
            && self.items.len() < MAX_BATCH
            && self.bytes < MAX_BATCH_BYTES
        {
            return Some(until);
        }
        self.held.clear();
        self.hold_until = None;
        None
    }
}

pub struct Forwarder {
    /// This node, and the node it forwards to.
    me: NodeId,
    node: NodeId,
    limits: ForwardLimits,
    queue: Mutex<Queue>,
    data: Notify,
    closed: AtomicBool,
    /// This node's awaited replies: commands in a batch that could not be published are
    /// answered `busy` at once.
    awaited: Arc<Awaited>,
}

fn size(e: &Envelope) -> usize {
    match e {
        Envelope::Deliver { conns, frame, .. } => frame.len() + conns.len() * 8 + 16,
        Envelope::Command(c) => match &c.cmd {
            crate::room::RoomCommand::Post {
                cmid,
                text,
                attachments,
                ..
            } => cmid.len() + text.len() + attachments.len() * 8 + 80,
            crate::room::RoomCommand::Change { cmid, text, .. } => cmid.len() + text.len() + 112,
            _ => 64,
        },
        _ => 32,
    }
}

impl Forwarder {
    /// Starts the forwarder's sending task under `tasks`; it ends when the forwarder is closed.
    pub fn spawn(
        me: NodeId,
        node: NodeId,
        bus: Arc<dyn Bus>,
        limits: ForwardLimits,
        awaited: Arc<Awaited>,
        tasks: &Supervisor,
    ) -> Arc<Forwarder> {
        let f = Arc::new(Forwarder {
            me,
            node,
            limits,
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                bytes: 0,
                held: Vec::new(),
                hold_until: None,
            }),
            data: Notify::new(),
            closed: AtomicBool::new(false),
            awaited,
        });
        // Restart: the queue outlives a run. A new run numbers its batches from 1 again, so
        // the receiver sees a gap and this node's rooms resume there: nothing is lost unseen
        // from the batch that was being sent.
        let forwarder = f.clone();
        tasks.spawn(Task::Forwarder, Policy::RESTART, move || {
            let f = forwarder.clone();
            (!f.closed.load(Ordering::Relaxed)).then(|| f.run(bus.clone()))
        });
        f
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `e`; false when the queue is full (the caller decides what that costs).
    pub fn push(&self, e: Envelope) -> bool {
        self.push_inner(e, false)
    }

    /// Queues `e` even past the bounds: for the few control envelopes that tell connections
    /// to recover after a refused push.
    pub fn push_always(&self, e: Envelope) {
        self.push_inner(e, true);
    }

    /// Makes the next batch wait, up to `ForwardLimits::reply_hold`, for the answer to the
    /// forwarded command `token` (a post from the receiving node, whose `sent` comes once the
    /// message is durable). Call it before queuing anything the answer should travel with.
    pub fn hold_for_reply(&self, token: u64) {
        if token == 0 || self.limits.reply_hold.is_zero() {
            return;
        }
        let mut q = self.lock();
        if q.held.len() < MAX_HELD {
            q.held.push(token);
            let until = tokio::time::Instant::now() + self.limits.reply_hold;
            q.hold_until.get_or_insert(until);
        }
    }

    fn push_inner(&self, e: Envelope, always: bool) -> bool {
        let len = size(&e);
        {
            let mut q = self.lock();
            let full =
                q.items.len() >= self.limits.max_envelopes || q.bytes + len > self.limits.max_bytes;
            if full && !always {
                metrics::counter!(names::FORWARD_REFUSED).increment(1);
                return false;
            }
            if let Envelope::Deliver {
                answers: Some(token),
                ..
            } = &e
                && let Some(i) = q.held.iter().position(|t| t == token)
            {
                q.held.swap_remove(i);
            }
            q.items.push_back((e, len));
            q.bytes += len;
        }
        self.data.notify_one();
        true
    }

    /// Envelopes waiting to be published.
    pub fn queued(&self) -> usize {
        self.lock().items.len()
    }

    /// Stops the task (the node left the ring); what is queued is dropped.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.data.notify_one();
    }

    async fn run(self: Arc<Self>, bus: Arc<dyn Bus>) {
        let mut batch = Vec::new();
        let mut seq = 0;
        // Whether the receiver let a batch go unheard for a whole hold (see `HOLD_UNHEARD`).
        let mut silent = false;
        loop {
            if self.closed.load(Ordering::Relaxed) {
                return;
            }
            let held = self.lock().hold(tokio::time::Instant::now());
            if let Some(until) = held {
                tokio::select! {
                    () = self.data.notified() => {}
                    () = tokio::time::sleep_until(until) => {}
                }
                continue;
            }
            {
                let mut q = self.lock();
                let mut bytes = 0;
                while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
                    let Some((e, len)) = q.items.pop_front() else {
                        break;
                    };
                    q.bytes -= len;
                    bytes += len;
                    batch.push(e);
                }
            }
            if batch.is_empty() {
                self.data.notified().await;
                continue;
            }
            // Counted even when the send fails: the receiver sees the gap.
            seq += 1;
            let frame = wire::encode(&self.me, seq, &batch);
            metrics::counter!(names::FORWARD_ENVELOPES).increment(batch.len() as u64);
            metrics::counter!(names::BUS_PUBLISHES).increment(1);
            match self.publish(&*bus, frame, silent).await {
                Ok(true) => silent = false,
                Ok(false) => {
                    // Nobody subscribed the whole hold: counted as a failure, since it is lost.
                    silent = true;
                    metrics::counter!(names::BUS_FAILURES).increment(1);
                    tracing::debug!(node = %self.node, "nobody listens; batch dropped");
                    self.unsent(&batch);
                }
                Err(e) => {
                    // Redis is away: the receiver's subscription broke too, and it will make
                    // its connections resume from their positions once it is back (when
                    // batches to it are held again until it listens).
                    silent = false;
                    metrics::counter!(names::BUS_FAILURES).increment(1);
                    tracing::debug!(node = %self.node, error = %e, "forwarding failed; batch dropped");
                    self.unsent(&batch);
                }
            }
            batch.clear();
        }
    }

    /// Publishes `frame`; true once the receiver took it. Unless the receiver is `silent`,
    /// a frame nobody received is published again until someone does, Redis fails, the
    /// forwarder closes, or [`HOLD_UNHEARD`] passes. Never sent twice: a publish nobody
    /// received reached nobody.
    async fn publish(
        &self,
        bus: &dyn Bus,
        frame: bytes::Bytes,
        silent: bool,
    ) -> Result<bool, switchboard_persistence::cluster::ClusterError> {
        let until = tokio::time::Instant::now() + HOLD_UNHEARD;
        loop {
            let heard = bus.send(&self.node, frame.clone()).await?;
            if heard
                || silent
                || self.closed.load(Ordering::Relaxed)
                || tokio::time::Instant::now() >= until
            {
                return Ok(heard);
            }
            tokio::time::sleep(HOLD_RETRY).await;
        }
    }

    /// Clients of this node's commands in a batch that was dropped are told `busy` now, not
    /// at their deadline. (Commands passed on from other nodes carry those nodes' tokens.)
    fn unsent(&self, batch: &[Envelope]) {
        let tokens: Vec<u64> = batch
            .iter()
            .filter_map(|e| match e {
                Envelope::Command(c) if c.token != 0 && c.from == self.me => Some(c.token),
                _ => None,
            })
            .collect();
        if tokens.is_empty() {
            return;
        }
        for entry in self.awaited.remove(&tokens) {
            entry.answer_busy();
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use switchboard_engine::{Codec, ConnId, RoomId, UserId};
    use switchboard_persistence::cluster::bus::LocalBus;

    use super::*;
    use crate::cluster::awaited::Entry;
    use crate::cluster::wire::Forwarded;
    use crate::outbound::{self, OutboundReceiver};
    use crate::room::RoomCommand;

    /// A forwarder from node `a` to node `b` over `bus`; it runs while the supervisor lives.
    fn forwarder(
        bus: &Arc<LocalBus>,
        limits: ForwardLimits,
        awaited: &Arc<Awaited>,
    ) -> (Arc<Forwarder>, Supervisor) {
        let tasks = Supervisor::new();
        let (a, b) = (NodeId("a".into()), NodeId("b".into()));
        let f = Forwarder::spawn(a, b, bus.clone(), limits, awaited.clone(), &tasks);
        (f, tasks)
    }

    fn deliver(i: u64) -> Envelope {
        Envelope::Deliver {
            conns: Arc::from([ConnId(i)]),
            room_pos: None,
            frame: bytes::Bytes::from_static(b"x"),
            joined: None,
            answers: None,
            if_subscribed: None,
        }
    }

    fn conn_of(e: &Envelope) -> u64 {
        match e {
            Envelope::Deliver { conns, .. } => conns[0].0,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn envelopes_arrive_in_order_batched_with_rising_sequence_numbers() {
        let bus = Arc::new(LocalBus::new(1024));
        let (me, them) = (NodeId("a".into()), NodeId("b".into()));
        let mut inbox = bus.inbox(&them).await.unwrap();
        let awaited = Arc::new(Awaited::new(Duration::from_secs(5), 16));
        let (f, _tasks) = forwarder(&bus, ForwardLimits::default(), &awaited);
        // Queued before the task runs: they leave together.
        for i in 0..1000 {
            assert!(f.push(deliver(i)));
        }
        let (mut next, mut seqs, mut got) = (0, Vec::new(), 0);
        while got < 1000 {
            let bytes = tokio::time::timeout(Duration::from_secs(5), inbox.next())
                .await
                .unwrap()
                .unwrap();
            let batch = wire::decode(&bytes).unwrap();
            assert_eq!(batch.from, me);
            assert!(batch.envelopes.len() <= MAX_BATCH);
            seqs.push(batch.seq);
            for e in &batch.envelopes {
                assert_eq!(conn_of(e), next, "in order");
                next += 1;
            }
            got += batch.envelopes.len();
        }
        assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
        assert!(seqs.len() < 1000, "batched: {} bus messages", seqs.len());
    }

    /// A forwarded command of connection 1 (of this node `me`), awaited under `token`; the
    /// receiver of that connection's frames (where a `busy` goes).
    fn awaited_command(awaited: &Awaited, me: &NodeId, token: u64) -> (Envelope, OutboundReceiver) {
        let (out, rx) = outbound::channel(ConnId(1), Codec::Json, 16, 1 << 20);
        let room = RoomId(7);
        let entry = Entry {
            node: NodeId("b".into()),
            out,
            rid: token,
            room,
            join: true,
        };
        assert!(awaited.insert(token, entry, || true));
        let command = Envelope::Command(Forwarded {
            from: me.clone(),
            conn: ConnId(1),
            user: UserId(1),
            rid: token,
            token,
            hops: 0,
            room,
            cmd: RoomCommand::Join { resume: None },
        });
        (command, rx)
    }

    #[tokio::test]
    async fn a_batch_sent_before_its_receiver_subscribed_again_arrives_once_it_does() {
        let bus = Arc::new(LocalBus::new(16));
        let (me, them) = (NodeId("a".into()), NodeId("b".into()));
        let awaited = Arc::new(Awaited::new(Duration::from_secs(5), 16));
        let (f, _tasks) = forwarder(&bus, ForwardLimits::default(), &awaited);
        let (rejoin, rx) = awaited_command(&awaited, &me, 1);
        assert!(f.push(rejoin));
        // The receiver subscribes (again) a while after the command was first published.
        tokio::time::sleep(HOLD_UNHEARD / 4).await;
        let mut inbox = bus.inbox(&them).await.unwrap();
        let bytes = tokio::time::timeout(HOLD_UNHEARD, inbox.next())
            .await
            .expect("the held batch arrives")
            .unwrap();
        let batch = wire::decode(&bytes).unwrap();
        assert_eq!(batch.seq, 1);
        assert!(matches!(&batch.envelopes[..], [Envelope::Command(c)] if c.token == 1));
        assert!(
            rx.try_recv().is_none(),
            "not answered busy: its reply can come"
        );
        assert!(awaited.take(1, ConnId(1)).is_some(), "still awaited");
    }

    #[tokio::test(start_paused = true)]
    async fn a_receiver_silent_for_a_whole_hold_is_no_longer_waited_for() {
        let bus = Arc::new(LocalBus::new(16));
        let (me, them) = (NodeId("a".into()), NodeId("b".into()));
        let awaited = Arc::new(Awaited::new(Duration::from_secs(60), 16));
        let (f, _tasks) = forwarder(&bus, ForwardLimits::default(), &awaited);
        // Nobody ever subscribes (the node crashed): its command is answered busy after the
        // hold, not at its reply deadline.
        let started = tokio::time::Instant::now();
        let (first, rx) = awaited_command(&awaited, &me, 1);
        assert!(f.push(first));
        while rx.try_recv().is_none() {
            tokio::time::sleep(HOLD_RETRY).await;
        }
        let held = started.elapsed();
        assert!(
            held >= HOLD_UNHEARD && held < HOLD_UNHEARD + 4 * HOLD_RETRY,
            "{held:?}"
        );
        // The next batch is not held: answered busy at once.
        let started = tokio::time::Instant::now();
        let (second, rx) = awaited_command(&awaited, &me, 2);
        assert!(f.push(second));
        while rx.try_recv().is_none() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(started.elapsed() < HOLD_RETRY, "{:?}", started.elapsed());
        // Once the node listens again, batches reach it (and a silence is waited out again).
        let mut inbox = bus.inbox(&them).await.unwrap();
        assert!(f.push(deliver(3)));
        let bytes = inbox.next().await.unwrap();
        let batch = wire::decode(&bytes).unwrap();
        assert_eq!((batch.seq, conn_of(&batch.envelopes[0])), (3, 3));
    }

    fn answer(token: u64) -> Envelope {
        Envelope::Deliver {
            conns: Arc::from([ConnId(9)]),
            room_pos: None,
            frame: bytes::Bytes::from_static(b"sent"),
            joined: None,
            answers: Some(token),
            if_subscribed: None,
        }
    }

    async fn next_batch(
        inbox: &mut (impl futures::Stream<Item = bytes::Bytes> + Unpin),
    ) -> Vec<Envelope> {
        let bytes = tokio::time::timeout(Duration::from_secs(5), inbox.next())
            .await
            .expect("a batch arrives")
            .unwrap();
        wire::decode(&bytes).unwrap().envelopes
    }

    #[tokio::test(start_paused = true)]
    async fn a_delivery_waits_for_the_answer_it_was_held_for_and_leaves_with_it() {
        let bus = Arc::new(LocalBus::new(16));
        let them = NodeId("b".into());
        let mut inbox = bus.inbox(&them).await.unwrap();
        let awaited = Arc::new(Awaited::new(Duration::from_secs(5), 16));
        let limits = ForwardLimits {
            reply_hold: Duration::from_millis(5),
            ..Default::default()
        };
        let (f, _tasks) = forwarder(&bus, limits, &awaited);
        // The post's delivery, then (the commit took 2 ms) its answer: one publish.
        f.hold_for_reply(7);
        assert!(f.push(deliver(1)));
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert!(f.push(answer(7)));
        let batch = next_batch(&mut inbox).await;
        assert!(
            matches!(
                &batch[..],
                [
                    Envelope::Deliver { answers: None, .. },
                    Envelope::Deliver {
                        answers: Some(7),
                        ..
                    }
                ]
            ),
            "{batch:?}"
        );
        // No answer comes (the store is away): the delivery leaves after the hold, and what
        // was queued behind it follows in order.
        let started = tokio::time::Instant::now();
        f.hold_for_reply(8);
        assert!(f.push(deliver(2)));
        assert!(f.push(deliver(3)));
        let batch = next_batch(&mut inbox).await;
        assert_eq!(batch.iter().map(conn_of).collect::<Vec<_>>(), [2, 3]);
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(5) && waited < Duration::from_millis(7),
            "{waited:?}"
        );
        // The late answer travels alone, at once, and holds nothing.
        assert!(f.push(answer(8)));
        assert!(matches!(
            &next_batch(&mut inbox).await[..],
            [Envelope::Deliver {
                answers: Some(8),
                ..
            }]
        ));
        assert!(started.elapsed() < Duration::from_millis(8));
    }

    #[tokio::test]
    async fn a_full_queue_refuses_all_but_control_envelopes() {
        let bus = Arc::new(LocalBus::new(16));
        let limits = ForwardLimits {
            max_envelopes: 3,
            max_bytes: 1 << 20,
            ..Default::default()
        };
        let awaited = Arc::new(Awaited::new(Duration::from_secs(5), 16));
        // Nobody subscribed and the task not yet run: the queue only fills.
        let (f, _tasks) = forwarder(&bus, limits, &awaited);
        assert!((0..3).all(|i| f.push(deliver(i))));
        assert!(!f.push(deliver(3)), "the fourth is refused");
        f.push_always(deliver(4));
        assert_eq!(f.lock().items.len(), 4, "control envelopes pass the bound");
    }
}
