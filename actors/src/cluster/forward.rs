//! `Forwarder`: the bounded queue of envelopes for one other node, and the task that sends
//! them. Everything from this node to that node goes through it, in order: commands, the
//! owner's deliveries, replies, handoffs. The task takes whatever has queued up (a batch) and
//! publishes it as one bus message, so under load a node pays far less than one Redis command
//! per message.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

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

struct Queue {
    items: VecDeque<(Envelope, usize)>,
    bytes: usize,
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
            } => cmid.len() + text.len() + attachments.len() * 8 + 64,
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
        loop {
            if self.closed.load(Ordering::Relaxed) {
                return;
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
            if let Err(e) = bus.send(&self.node, frame).await {
                // Redis is away: the receiver's subscription broke too, and it will make its
                // connections resume from their positions once it is back.
                metrics::counter!(names::BUS_FAILURES).increment(1);
                tracing::debug!(node = %self.node, error = %e, "forwarding failed; batch dropped");
                self.unsent(&batch);
            }
            batch.clear();
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
    use std::time::Duration;

    use futures::StreamExt;
    use switchboard_engine::ConnId;
    use switchboard_persistence::cluster::bus::LocalBus;

    use super::*;

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
        let tasks = Supervisor::new();
        let f = Forwarder::spawn(
            me.clone(),
            them,
            bus,
            ForwardLimits::default(),
            awaited,
            &tasks,
        );
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
        let tasks = Supervisor::new();
        let (a, b) = (NodeId("a".into()), NodeId("b".into()));
        let f = Forwarder::spawn(a, b, bus, limits, awaited, &tasks);
        assert!((0..3).all(|i| f.push(deliver(i))));
        assert!(!f.push(deliver(3)), "the fourth is refused");
        f.push_always(deliver(4));
        assert_eq!(f.lock().items.len(), 4, "control envelopes pass the bound");
    }
}
