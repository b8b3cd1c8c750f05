//! The live cluster dashboard's data. Every node runs a [`Reporter`]: once per interval it
//! samples the gauges nobody updates on the hot path (mailbox and forwarder depths, process
//! CPU and memory), reads its own metrics back into a [`Snapshot`], posts it on the cluster's
//! [`Board`] (Redis, or in-process on a single node) with a time to live of a few intervals,
//! and reads the snapshots of the nodes in its ring. Any node thus shows every node, and a
//! node that left drops off within one interval (it leaves the ring) or a few (its post lapses).
//!
//! # Layout
//! - [`scrape`]: the node's `/metrics` text read back: sums and histogram buckets.
//! - [`snapshot`]: `Snapshot`, one node's numbers, and latency quantiles from buckets.

pub mod scrape;
pub mod snapshot;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{Value, json};
use switchboard_actors::Hub;
use switchboard_actors::supervised::{Policy, Supervised, Supervisor, Task};
use switchboard_engine::metrics as names;
use switchboard_engine::ring::{NodeId, Ring};
use switchboard_persistence::cluster::board::Board;
use tokio::sync::watch;

use crate::telemetry::{self, process};
use scrape::Scrape;
use snapshot::{Previous, Snapshot};

/// The latest snapshot of each node in this node's ring, as the reporter last read them.
#[derive(Clone, Debug, Default)]
pub struct View {
    pub me: String,
    pub ring: Vec<String>,
    pub nodes: Vec<Snapshot>,
}

/// What the reporter needs.
pub struct ReporterArgs {
    pub me: NodeId,
    pub addr: String,
    pub hub: Arc<Hub>,
    pub metrics: PrometheusHandle,
    pub board: Arc<dyn Board>,
    /// The cluster's ring; `None` on a single node.
    pub ring: Option<watch::Receiver<Ring>>,
    pub interval: Duration,
}

pub struct Reporter;

impl Reporter {
    /// Starts the reporter under `tasks`; the node stops it at shutdown. The receiver always
    /// holds the latest view.
    pub fn spawn(
        args: ReporterArgs,
        tasks: &Supervisor,
    ) -> (Supervised, watch::Receiver<Arc<View>>) {
        let (tx, rx) = watch::channel(Arc::new(View {
            me: args.me.0.clone(),
            ..View::default()
        }));
        let (args, started) = (Arc::new(args), Instant::now());
        // Restart: a run keeps only its previous sample, so after a restart the rates start
        // again from the next interval.
        let task = tasks.spawn(Task::Dashboard, Policy::RESTART, move || {
            Some(run(args.clone(), tx.clone(), started))
        });
        (task, rx)
    }
}

async fn run(args: Arc<ReporterArgs>, tx: watch::Sender<Arc<View>>, started: Instant) {
    let ttl = args.interval * 3;
    let mut previous: Option<Previous> = None;
    let mut tick = tokio::time::interval(args.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut board_failing = false;
    loop {
        tick.tick().await;
        sample_depths(&args.hub);
        let handle = args.metrics.clone();
        let Ok((stats, now)) = tokio::task::spawn_blocking(move || {
            (process::sample(), Scrape::parse(&handle.render()))
        })
        .await
        else {
            continue;
        };
        let ring: Vec<NodeId> = match &args.ring {
            Some(ring) => ring.borrow().nodes().cloned().collect(),
            None => vec![args.me.clone()],
        };
        let mut snap = Snapshot {
            node: args.me.0.clone(),
            addr: args.addr.clone(),
            version: telemetry::VERSION.to_owned(),
            commit: telemetry::COMMIT.to_owned(),
            at_ms: unix_ms(),
            uptime_s: started.elapsed().as_secs_f64(),
            ring: ring.iter().map(|n| n.0.clone()).collect(),
            ..Snapshot::default()
        };
        if let Some(p) = &previous {
            let secs = p.at.elapsed().as_secs_f64().max(1e-3);
            snapshot::measure(&mut snap, &now, &p.scrape, secs, stats);
            snap.cpu_percent = ((stats.cpu_seconds - p.cpu_seconds) / secs * 100.0).max(0.0);
        } else {
            // No rates until an interval has passed: against an empty scrape, a reporter that
            // restarts mid-run would show everything counted since the node started as one
            // second's worth.
            snapshot::measure(&mut snap, &now, &now, 1.0, stats);
        }
        previous = Some(Previous {
            scrape: now,
            cpu_seconds: stats.cpu_seconds,
            at: Instant::now(),
        });
        let nodes = match exchange(&*args.board, &snap, &ring, ttl).await {
            Ok(nodes) => {
                board_failing = false;
                nodes
            }
            Err(e) => {
                // One line when it starts failing, not one per interval; this node's own
                // numbers are still shown.
                if !board_failing {
                    tracing::warn!(error = %e, "dashboard: snapshot exchange failed");
                }
                board_failing = true;
                vec![snap.clone()]
            }
        };
        let view = View {
            me: args.me.0.clone(),
            ring: snap.ring,
            nodes,
        };
        tx.send_replace(Arc::new(view));
    }
}

/// Posts this node's snapshot and reads those of the ring's nodes (this one included).
async fn exchange(
    board: &dyn Board,
    snap: &Snapshot,
    ring: &[NodeId],
    ttl: Duration,
) -> anyhow::Result<Vec<Snapshot>> {
    let me = NodeId(snap.node.clone());
    let encoded = rmp_serde::to_vec_named(snap)?;
    board.post(&me, Bytes::from(encoded), ttl).await?;
    let mut nodes: Vec<Snapshot> = board
        .read(ring)
        .await?
        .into_iter()
        .filter(|(_, b)| b.len() <= snapshot::MAX_BYTES)
        .filter_map(|(_, b)| rmp_serde::from_slice(&b).ok())
        .collect();
    // Our own numbers are the freshest we have, even if the board lost them.
    nodes.retain(|n: &Snapshot| n.node != snap.node);
    nodes.push(snap.clone());
    nodes.sort_by(|a, b| a.node.cmp(&b.node));
    Ok(nodes)
}

/// The depths kept off the hot path: read here once per interval.
fn sample_depths(hub: &Hub) {
    let (mut queued, mut deepest) = (0usize, 0usize);
    for (_, room) in hub.rooms().all_active() {
        let mailbox = room.mailbox_sender();
        let depth = mailbox
            .max_capacity()
            .zip(mailbox.capacity())
            .map_or(0, |(max, free)| max - free);
        queued += depth;
        deepest = deepest.max(depth);
    }
    metrics::gauge!(names::ROOM_MAILBOX_QUEUED).set(queued as f64);
    metrics::gauge!(names::ROOM_MAILBOX_MAX).set(deepest as f64);
    let forward = hub.cluster().map_or(0, |link| link.forward_queued());
    metrics::gauge!(names::FORWARD_QUEUED).set(forward as f64);
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The JSON the page polls: each node's numbers with its latency quantiles, and the cluster's
/// (sums, and quantiles of the merged histograms).
pub fn to_json(view: &View) -> Value {
    let q = |counts: &[f64], q: f64| snapshot::quantile_ms(counts, q);
    let nodes: Vec<Value> = view
        .nodes
        .iter()
        .map(|n| {
            let mut v = serde_json::to_value(n).unwrap_or(Value::Null);
            if let Value::Object(o) = &mut v {
                o.remove("deliver_buckets");
                o.remove("stored_buckets");
                o.insert("deliver_p50_ms".into(), json!(q(&n.deliver_buckets, 0.5)));
                o.insert("deliver_p99_ms".into(), json!(q(&n.deliver_buckets, 0.99)));
                o.insert("stored_p50_ms".into(), json!(q(&n.stored_buckets, 0.5)));
                o.insert("stored_p99_ms".into(), json!(q(&n.stored_buckets, 0.99)));
            }
            v
        })
        .collect();
    let sum = |f: fn(&Snapshot) -> f64| view.nodes.iter().map(f).sum::<f64>();
    let deliver = snapshot::merge(view.nodes.iter().map(|n| n.deliver_buckets.clone()));
    let stored = snapshot::merge(view.nodes.iter().map(|n| n.stored_buckets.clone()));
    json!({
        "me": view.me,
        "ring": view.ring,
        "at_ms": unix_ms(),
        "cluster": {
            "nodes": view.nodes.len(),
            "connections": sum(|n| n.connections),
            "rooms": sum(|n| n.rooms),
            "messages_per_s": sum(|n| n.messages_per_s),
            "deliveries_per_s": sum(|n| n.deliveries_per_s),
            "connects_per_s": sum(|n| n.connects_per_s),
            "forwarded_per_s": sum(|n| n.forwarded_per_s),
            "errors_per_s": sum(|n| n.errors_per_s),
            "write_behind_queued": sum(|n| n.write_behind_queued),
            "forward_queued": sum(|n| n.forward_queued),
            "mailbox_queued": sum(|n| n.mailbox_queued),
            "deliver_p50_ms": q(&deliver, 0.5),
            "deliver_p99_ms": q(&deliver, 0.99),
            "stored_p50_ms": q(&stored, 0.5),
            "stored_p99_ms": q(&stored, 0.99),
        },
        "nodes": nodes,
    })
}
