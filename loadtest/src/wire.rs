//! What the coordinator and its worker processes say to each other: one JSON object per line,
//! a `Job`, then `watch` and `go`, on the worker's stdin, `Report`s on its stdout.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use anyhow::Context as _;
use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use crate::scenario::{Mix, NodeKind};

/// Everything a worker needs; the worker knows nothing of scenarios or plans.
#[derive(Serialize, Deserialize)]
pub struct Job {
    pub kind: NodeKind,
    pub sockets: Vec<SocketJob>,
    /// This worker's share of the scenario's ramp (sockets per second; 0: unpaced).
    pub ramp_per_sec: f64,
    pub connect_concurrency: usize,
    pub send_rate: f64,
    pub window: usize,
    pub message_bytes: usize,
    /// Which sends are reactions and read marks instead of messages.
    pub mix: Mix,
    pub hold_secs: u64,
    pub drain_secs: u64,
    /// Seconds after which the worker exits whatever happens (its coordinator may be gone).
    pub deadline_secs: u64,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct SocketJob {
    /// The socket's index in the plan (senders put it in every message).
    pub index: u32,
    /// `host:port` of its node.
    pub node: String,
    pub token: Option<String>,
    /// The local address it connects from.
    pub source: Ipv4Addr,
    /// Room ids to join (room indexes on the floor).
    pub rooms: Vec<u64>,
    /// The room index and id it sends into, when it sends.
    pub sends_into: Option<(u32, u64)>,
    /// User ids whose presence it watches.
    pub watch: Vec<u64>,
    /// `host:port` it reconnects to when its node goes away during the hold (failover runs).
    pub fallback: Option<String>,
}

/// A worker's line on stdout.
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Report {
    /// Every second: counts so far, and the latencies of the deliveries since the last one.
    Progress(Progress),
    /// Every socket has connected and joined, or failed to.
    Joined,
    /// Every connected socket's presence subscription was answered.
    Watched,
    /// The drain is over: the sockets wait for `close`.
    Drained,
    Done(Box<Final>),
}

#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Progress {
    pub connected: u64,
    pub connect_failed: u64,
    pub sent: u64,
    pub delivered: u64,
    /// Base64 of the delivery latency histogram (µs) of this interval.
    pub interval: String,
}

/// Delivered against expected, by kind, and everything that went wrong, by code.
#[derive(Clone, Default, Debug, Serialize, Deserialize)]
pub struct Counts {
    pub connected: u64,
    pub connect_failed: u64,
    pub sent: u64,
    /// Sends the server acknowledged (`sent`); on the floor, every send written.
    pub acked: u64,
    /// Sends with no answer when the run ended.
    pub unanswered: u64,
    /// Of the acknowledged, read marks (answered `done`): each owes its `read_receipt` to every
    /// member of the room but the marking socket.
    #[serde(default)]
    pub receipts: u64,
    pub delivered: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub presence_events: u64,
    /// Error replies by code.
    pub errors: BTreeMap<String, u64>,
    /// Sockets the server closed before the run ended, by close code (or `reset`).
    pub disconnects: BTreeMap<String, u64>,
    /// Sockets that reconnected to their fallback node and rejoined their rooms.
    pub reconnected: u64,
    /// The slowest of those: milliseconds from losing the socket to rejoined.
    pub reconnect_max_ms: u64,
    /// Upgrades and joins answered busy, and reconnects that failed, each tried again, by
    /// reason.
    #[serde(default)]
    pub retries: BTreeMap<String, u64>,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.connected += o.connected;
        self.connect_failed += o.connect_failed;
        self.sent += o.sent;
        self.acked += o.acked;
        self.unanswered += o.unanswered;
        self.receipts += o.receipts;
        self.delivered += o.delivered;
        self.duplicated += o.duplicated;
        self.reordered += o.reordered;
        self.presence_events += o.presence_events;
        self.reconnected += o.reconnected;
        self.reconnect_max_ms = self.reconnect_max_ms.max(o.reconnect_max_ms);
        for (k, v) in &o.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.disconnects {
            *self.disconnects.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.retries {
            *self.retries.entry(k.clone()).or_default() += v;
        }
    }
}

#[derive(Serialize, Deserialize)]
pub struct Final {
    pub counts: Counts,
    /// Plan indexes of the sockets that never connected (they are owed nothing).
    pub failed: Vec<u32>,
    /// Acknowledged sends per room index.
    pub sent_per_room: Vec<(u32, u64)>,
    /// Base64 histograms (µs): send → deliver, and connect + auth + join.
    pub latency: String,
    pub connect: String,
}

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds")
}

pub fn encode(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .expect("a histogram serialises into memory");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn decode(s: &str) -> anyhow::Result<Histogram<u64>> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(s)?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .context("histogram")
}
