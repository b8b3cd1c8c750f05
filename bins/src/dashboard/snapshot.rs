//! `Snapshot`: one node's numbers for the dashboard, built once per interval from its own
//! metrics and shared with the other nodes as MessagePack. Bounded: fixed fields, the node's
//! ring (as many names as nodes) and one count per latency bucket.

use serde::{Deserialize, Serialize};
use switchboard_engine::metrics::{self as names, LATENCY_BUCKETS};

use super::scrape::{Scrape, quantile};
use crate::telemetry::process::ProcessStats;

/// Largest encoded snapshot read from another node; a bigger one is ignored.
pub const MAX_BYTES: usize = 64 * 1024;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub node: String,
    pub addr: String,
    pub version: String,
    pub commit: String,
    /// When it was taken, in ms since the Unix epoch.
    pub at_ms: u64,
    pub uptime_s: f64,
    /// The nodes this node's ring holds.
    pub ring: Vec<String>,
    pub connections: f64,
    pub rooms: f64,
    /// Rates over the last interval, per second.
    pub messages_per_s: f64,
    pub deliveries_per_s: f64,
    pub connects_per_s: f64,
    pub forwarded_per_s: f64,
    /// Command errors, refusals, and bus, Redis, store and forwarder failures.
    pub errors_per_s: f64,
    pub messages_total: f64,
    pub deliveries_total: f64,
    pub write_behind_queued: f64,
    pub forward_queued: f64,
    pub mailbox_queued: f64,
    pub mailbox_max: f64,
    pub cpu_percent: f64,
    pub rss_bytes: f64,
    pub open_fds: f64,
    /// Sends timed in the last interval, per latency bucket (`LATENCY_BUCKETS`, then +Inf).
    pub deliver_buckets: Vec<f64>,
    pub stored_buckets: Vec<f64>,
}

/// The counters whose increase counts as an error.
const ERRORS: &[&str] = &[
    names::COMMAND_ERRORS,
    names::REFUSALS,
    names::BUS_FAILURES,
    names::REDIS_ERRORS,
    names::WRITE_BEHIND_FAILURES,
    names::FORWARD_REFUSED,
    names::FORWARD_UNANSWERED,
];

/// What the previous interval's snapshot needs from the one before.
pub struct Previous {
    pub scrape: Scrape,
    pub cpu_seconds: f64,
    pub at: std::time::Instant,
}

/// The rate and bucket parts of a snapshot: `now` against `before`, `secs` apart.
pub fn measure(s: &mut Snapshot, now: &Scrape, before: &Scrape, secs: f64, process: ProcessStats) {
    let rate = |name: &str| ((now.sum(name) - before.sum(name)) / secs).max(0.0);
    s.connections = now.sum(names::CONNECTIONS);
    s.rooms = now.sum(names::ROOMS_ACTIVE);
    s.messages_per_s = rate(names::MESSAGES);
    s.deliveries_per_s = rate(names::DELIVERIES);
    s.connects_per_s = rate(names::CONNECTS);
    s.forwarded_per_s = rate(names::FORWARD_ENVELOPES);
    s.errors_per_s = ERRORS.iter().map(|n| rate(n)).sum();
    s.messages_total = now.sum(names::MESSAGES);
    s.deliveries_total = now.sum(names::DELIVERIES);
    s.write_behind_queued = now.sum(names::WRITE_BEHIND_QUEUED);
    s.forward_queued = now.sum(names::FORWARD_QUEUED);
    s.mailbox_queued = now.sum(names::ROOM_MAILBOX_QUEUED);
    s.mailbox_max = now.sum(names::ROOM_MAILBOX_MAX);
    s.rss_bytes = process.resident_bytes as f64;
    s.open_fds = process.open_fds as f64;
    s.deliver_buckets = increase(now, before, names::SEND_TO_DELIVER_SECONDS);
    s.stored_buckets = increase(now, before, names::SEND_TO_STORED_SECONDS);
}

/// Each latency bucket's increase, in `LATENCY_BUCKETS` order then +Inf.
fn increase(now: &Scrape, before: &Scrape, name: &str) -> Vec<f64> {
    let (now, before) = (now.histogram(name), before.histogram(name));
    let count = |h: &[(f64, f64)], bound: f64| {
        h.iter()
            .find(|(le, _)| *le == bound)
            .map_or(0.0, |(_, n)| *n)
    };
    LATENCY_BUCKETS
        .iter()
        .copied()
        .chain([f64::INFINITY])
        .map(|b| (count(&now, b) - count(&before, b)).max(0.0))
        .collect()
}

/// A latency quantile in milliseconds from per-bucket counts as a snapshot carries them.
pub fn quantile_ms(counts: &[f64], q: f64) -> Option<f64> {
    let buckets: Vec<(f64, f64)> = LATENCY_BUCKETS
        .iter()
        .copied()
        .chain([f64::INFINITY])
        .zip(counts.iter().copied())
        .collect();
    quantile(&buckets, q).map(|s| s * 1000.0)
}

/// Per-bucket counts of several nodes added up (histograms merge; percentiles do not).
pub fn merge(all: impl Iterator<Item = Vec<f64>>) -> Vec<f64> {
    let mut sum = vec![0.0; LATENCY_BUCKETS.len() + 1];
    for counts in all {
        for (s, c) in sum.iter_mut().zip(counts) {
            *s += c;
        }
    }
    sum
}
