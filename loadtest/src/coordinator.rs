//! One run of a scenario: start the servers, populate them, spread the sockets over worker
//! processes and source addresses, drive the phases (connect, traffic, drain), sample CPU and
//! memory every second, and gather the workers' counts and histograms.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use hdrhistogram::Histogram;
use indicatif::MultiProgress;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::node::raised_limits;
use crate::plan::Plan;
use crate::procstat;
use crate::report::{Outcome, ProcUsage, Sample};
use crate::scenario::{NodeKind, Scenario};
use crate::setup::{self, Cluster};
use crate::wire::{self, Counts, Job, Progress, Report, SocketJob};

/// Seconds the connect phase may take beyond what the ramp needs.
const CONNECT_SLACK_SECS: u64 = 120;

struct Worker {
    child: Child,
    stdin: ChildStdin,
}

/// Processes watched during the run, by role.
struct Watched {
    nodes: Vec<u32>,
    workers: Vec<u32>,
    /// Root pids of Redis and Postgres: their trees are counted.
    redis: Vec<u32>,
    postgres: Vec<u32>,
}

impl Watched {
    fn sample(&self) -> Snapshot {
        let each = |pids: &[u32]| {
            pids.iter()
                .map(|p| procstat::sample(*p).unwrap_or_default())
                .collect()
        };
        (
            each(&self.nodes),
            each(&self.workers),
            procstat::trees(&self.redis),
            procstat::trees(&self.postgres),
        )
    }
}

pub async fn run(s: &Scenario, mp: &MultiProgress) -> anyhow::Result<Outcome> {
    if s.nodes.kind == NodeKind::Floor {
        anyhow::ensure!(
            s.rooms_per_socket == 1,
            "the floor holds one room per socket: rooms_per_socket must be 1"
        );
    }
    let plan = Plan::new(s);
    let kind = s.nodes.kind;
    eprintln!(
        "{kind:?}: {} sockets in {} rooms on {} nodes, {} workers, {} source addresses",
        s.sockets,
        plan.rooms.len(),
        s.nodes.count,
        s.workers,
        s.sources
    );
    let started = Instant::now();
    let mut cluster = Cluster::start(s).await?;
    let population = setup::populate(s, &plan, &cluster, mp).await?;
    let setup_secs = started.elapsed().as_secs_f64();

    let (tx, mut rx) = mpsc::channel::<(usize, Report)>(1024);
    let mut workers = Vec::new();
    let per = s.sockets.div_ceil(s.workers);
    let connect_budget = if s.ramp_per_sec > 0.0 {
        (s.sockets as f64 / s.ramp_per_sec) as u64
    } else {
        0
    } + CONNECT_SLACK_SECS;
    for w in 0..s.workers {
        let range = w * per..((w + 1) * per).min(s.sockets);
        let job = Job {
            kind,
            sockets: range
                .map(|i| socket_job(s, &plan, &cluster, &population, i))
                .collect(),
            ramp_per_sec: s.ramp_per_sec / s.workers as f64,
            connect_concurrency: s.connect_concurrency,
            send_rate: s.send_rate,
            window: s.window,
            message_bytes: s.message_bytes,
            mix: s.mix(),
            hold_secs: s.hold_secs,
            drain_secs: s.drain_secs,
            // Presence subscriptions are ramped like the connects.
            deadline_secs: connect_budget * (1 + u64::from(s.presence_watch > 0))
                + s.hold_secs
                + s.drain_secs
                + 60,
        };
        workers.push(spawn_worker(w, &job, tx.clone()).await?);
    }
    drop(tx);
    let watched = Watched {
        nodes: cluster.nodes.iter().filter_map(|n| n.pid()).collect(),
        workers: workers.iter().filter_map(|w| w.child.id()).collect(),
        redis: if s.clustered() {
            procstat::roots_named("redis-server")
        } else {
            Vec::new()
        },
        postgres: if s.clustered() {
            procstat::roots_named("postgres")
        } else {
            Vec::new()
        },
    };
    let at_setup = watched.sample();

    // Connect phase: until every worker has joined all its sockets (or given up on some).
    let t0 = Instant::now();
    let connect_bar = setup::bar(mp, s.sockets as u64, "connect");
    let mut latest = vec![Progress::default(); s.workers];
    let mut timeline = Vec::new();
    let mut joined = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut second = wire::new_histogram();
    let mut prev = (watched.sample(), 0u64, 0u64, t0);
    let connect_deadline = t0 + Duration::from_secs(connect_budget);
    while joined < s.workers {
        tokio::select! {
            msg = rx.recv() => match msg.context("a worker exited while connecting")? {
                (w, Report::Progress(p)) => {
                    second.add(wire::decode(&p.interval)?)?;
                    latest[w] = p;
                    let (c, f): (u64, u64) = latest.iter().map(|p| (p.connected, p.connect_failed)).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
                    connect_bar.set_position(c + f);
                    connect_bar.set_message(format!("failed {f}"));
                }
                (_, Report::Joined) => joined += 1,
                (_, Report::Watched) => {}
                (_, Report::Done(_) | Report::Drained) => bail!("a worker finished before the traffic"),
            },
            _ = tick.tick() => {
                timeline.push(sample_second("connect", t0, &watched, &latest, &mut second, &mut prev));
                if Instant::now() > connect_deadline {
                    bail!("connect phase took longer than {connect_budget} s");
                }
            }
        }
    }
    let connect_secs = t0.elapsed().as_secs_f64();
    connect_bar.finish();
    let connected: u64 = latest.iter().map(|p| p.connected).sum();
    eprintln!("connected {connected} sockets in {connect_secs:.1} s");
    // Presence subscriptions once every member has joined (the right to watch is a shared
    // room), then idle memory once the sockets settle.
    if s.presence_watch > 0 && kind == NodeKind::Switchboard {
        tell(&mut workers, b"watch\n").await?;
        let mut answered = 0;
        while answered < s.workers {
            match tokio::time::timeout(Duration::from_secs(60), rx.recv()).await {
                Ok(Some((_, Report::Watched))) => answered += 1,
                Ok(Some((w, Report::Progress(p)))) => latest[w] = p,
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => bail!("workers did not finish their presence subscriptions"),
            }
        }
    }
    let settle_secs = settle(&watched).await;
    let at_go = watched.sample();

    tell(&mut workers, b"go\n").await?;
    let go = Instant::now();
    let traffic_secs = s.hold_secs + s.drain_secs;
    let traffic_bar = setup::bar(mp, traffic_secs, "traffic");
    let mut totals = wire::new_histogram();
    let mut finals = Vec::new();
    let end_by = go + Duration::from_secs(traffic_secs + 60);
    let mut peak = at_go.clone();
    let mut killed = false;
    let mut drained = 0;
    let mut at_end = None;
    while finals.len() < s.workers {
        tokio::select! {
            msg = rx.recv() => match msg.context("a worker exited without its report")? {
                (w, Report::Progress(p)) => {
                    let h = wire::decode(&p.interval)?;
                    second.add(&h)?;
                    totals.add(&h)?;
                    latest[w] = p;
                }
                (_, Report::Joined | Report::Watched) => {}
                (_, Report::Drained) => {
                    drained += 1;
                    if drained == s.workers {
                        // The traffic ends here: the sockets close only now.
                        at_end = Some(watched.sample());
                        tell(&mut workers, b"close\n").await?;
                    }
                }
                (_, Report::Done(f)) => finals.push(f),
            },
            _ = tick.tick() => {
                if !killed && s.kill_node_after_secs > 0 && go.elapsed().as_secs() >= s.kill_node_after_secs {
                    for node in cluster.nodes.iter_mut().take(s.kill_nodes) {
                        node.kill();
                    }
                    killed = true;
                    eprintln!(
                        "killed nodes 0..{} at {:.1} s into the hold",
                        s.kill_nodes,
                        go.elapsed().as_secs_f64()
                    );
                }
                let phase = if go.elapsed().as_secs() < s.hold_secs { "hold" } else { "drain" };
                let sample = sample_second(phase, t0, &watched, &latest, &mut second, &mut prev);
                traffic_bar.set_position(go.elapsed().as_secs().min(traffic_secs));
                traffic_bar.set_message(format!(
                    "{:.0} sent/s {:.0} deliveries/s p99 so far {:.2} ms",
                    sample.sent_per_sec,
                    sample.delivered_per_sec,
                    totals.value_at_quantile(0.99) as f64 / 1e3
                ));
                timeline.push(sample);
                let now = watched.sample();
                for (p, n) in peak.0.iter_mut().zip(&now.0) {
                    p.1 = p.1.max(n.1);
                }
                if Instant::now() > end_by {
                    bail!("workers did not report within 60 s of the end of the traffic");
                }
            }
        }
    }
    traffic_bar.finish();
    let at_end = at_end.context("workers finished without draining")?;
    for mut w in workers {
        let _ = tokio::time::timeout(Duration::from_secs(5), w.child.wait()).await;
    }
    cluster.stop().await?;

    let mut counts = Counts::default();
    let mut latency = wire::new_histogram();
    let mut connect = wire::new_histogram();
    let mut sent_per_room = vec![0u64; plan.rooms.len()];
    let failed = finals
        .iter()
        .flat_map(|f| f.failed.iter().copied())
        .collect();
    for f in &finals {
        counts.add(&f.counts);
        latency.add(wire::decode(&f.latency)?)?;
        connect.add(wire::decode(&f.connect)?)?;
        for (room, n) in &f.sent_per_room {
            sent_per_room[*room as usize] += n;
        }
    }
    // A read mark is acknowledged like a send, but its receipt skips the marking socket.
    let expected = plan
        .expected(&sent_per_room, &failed)
        .saturating_sub(counts.receipts);
    let snaps = [&at_setup, &at_go, &at_end, &peak];
    let nodes = (0..watched.nodes.len())
        .map(|i| usage(format!("node {i}"), watched.nodes[i], snaps.map(|x| x.0[i])))
        .collect();
    let workers_usage = (0..watched.workers.len())
        .map(|i| {
            usage(
                format!("worker {i}"),
                watched.workers[i],
                snaps.map(|x| x.1[i]),
            )
        })
        .collect();
    let redis = usage("redis-server".into(), 0, snaps.map(|x| x.2));
    let postgres = usage("postgres (all processes)".into(), 0, snaps.map(|x| x.3));
    Ok(Outcome {
        kind,
        nodes: s.nodes.count,
        rooms: plan.rooms.len(),
        setup_secs,
        connect_secs,
        settle_secs,
        counts,
        expected,
        latency,
        connect,
        node_usage: nodes,
        worker_usage: workers_usage,
        redis: s.clustered().then_some(redis),
        postgres: s.clustered().then_some(postgres),
        timeline,
    })
}

fn socket_job(
    s: &Scenario,
    plan: &Plan,
    cluster: &Cluster,
    population: &setup::Population,
    i: usize,
) -> SocketJob {
    let rooms = &plan.socket_rooms[i];
    let first = rooms[0];
    SocketJob {
        index: i as u32,
        node: cluster.addrs[i % cluster.addrs.len()].clone(),
        token: population.users.get(i).map(|u| u.0.clone()),
        source: std::net::Ipv4Addr::new(127, 0, 0, 2 + (i % s.sources) as u8),
        rooms: rooms
            .iter()
            .map(|r| population.room_ids[*r as usize])
            .collect(),
        sends_into: plan.senders[i].then(|| (first, population.room_ids[first as usize])),
        watch: if population.users.is_empty() {
            Vec::new()
        } else {
            plan.watched(i, s.presence_watch)
                .into_iter()
                .map(|u| population.users[u as usize].1)
                .collect()
        },
        // The killed nodes' sockets spread over the survivors.
        fallback: {
            let (n, k) = (cluster.addrs.len(), s.kill_nodes);
            (s.kill_node_after_secs > 0 && k < n && i % n < k)
                .then(|| cluster.addrs[k + (i / n) % (n - k)].clone())
        },
    }
}

async fn tell(workers: &mut [Worker], line: &[u8]) -> anyhow::Result<()> {
    for w in workers {
        w.stdin.write_all(line).await?;
        w.stdin.flush().await?;
    }
    Ok(())
}

async fn spawn_worker(
    w: usize,
    job: &Job,
    tx: mpsc::Sender<(usize, Report)>,
) -> anyhow::Result<Worker> {
    let me = std::env::current_exe()?;
    let mut child = raised_limits(me.to_str().context("exe path")?)
        .arg("worker")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut stdin = child.stdin.take().context("worker stdin")?;
    let stdout = child.stdout.take().context("worker stdout")?;
    let mut line = serde_json::to_vec(job)?;
    line.push(b'\n');
    stdin.write_all(&line).await?;
    stdin.flush().await?;
    // The reader waits when the channel is full; the worker then waits on its stdout pipe.
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            match serde_json::from_str::<Report>(&line) {
                Ok(r) => {
                    if tx.send((w, r)).await.is_err() {
                        return;
                    }
                }
                Err(e) => eprintln!("worker {w}: unreadable report: {e}"),
            }
        }
    });
    Ok(Worker { child, stdin })
}

/// A node or worker using less than this share of a core counts as settled.
const SETTLED_CORE_SHARE: f64 = 0.05;
/// The longest wait for the processes to settle.
const SETTLE_MAX: Duration = Duration::from_secs(30);

/// Waits, at least a second, until every node and worker has settled after the connect phase
/// (the last member events written, and read: a worker still reading them delays the traffic's
/// first deliveries and fills the sockets the node writes to), so that the traffic's figures
/// hold only traffic. Returns the seconds waited.
async fn settle(watched: &Watched) -> f64 {
    let started = Instant::now();
    let step = Duration::from_millis(500);
    let cpu = || -> Vec<f64> {
        let (nodes, workers, ..) = watched.sample();
        nodes.iter().chain(&workers).map(|p| p.0).collect()
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut before = cpu();
    loop {
        tokio::time::sleep(step).await;
        let now = cpu();
        let busiest = now
            .iter()
            .zip(&before)
            .map(|(n, b)| (n - b) / step.as_secs_f64())
            .fold(0.0, f64::max);
        before = now;
        if busiest < SETTLED_CORE_SHARE || started.elapsed() >= SETTLE_MAX {
            return started.elapsed().as_secs_f64();
        }
    }
}

/// `(cpu seconds, rss KiB)` of nodes, workers, Redis and Postgres at one moment.
type Snapshot = (Vec<(f64, u64)>, Vec<(f64, u64)>, (f64, u64), (f64, u64));

/// A process's use from snapshots at set-up, at `go`, at the end, and its peak memory.
fn usage(name: String, pid: u32, [setup, go, end, peak]: [(f64, u64); 4]) -> ProcUsage {
    ProcUsage {
        name,
        pid,
        cpu_connect_secs: go.0 - setup.0,
        cpu_traffic_secs: end.0 - go.0,
        rss_kib_before_connect: setup.1,
        rss_kib_idle: go.1,
        rss_kib_peak: peak.1.max(end.1),
    }
}

/// One second of the timeline: rates from the workers' counts, CPU from /proc.
fn sample_second(
    phase: &str,
    t0: Instant,
    watched: &Watched,
    latest: &[Progress],
    second: &mut Histogram<u64>,
    prev: &mut (Snapshot, u64, u64, Instant),
) -> Sample {
    let now = watched.sample();
    let sent: u64 = latest.iter().map(|p| p.sent).sum();
    let delivered: u64 = latest.iter().map(|p| p.delivered).sum();
    let secs = prev.3.elapsed().as_secs_f64().max(1e-3);
    let pct = |a: f64, b: f64| (b - a) / secs * 100.0;
    let sample = Sample {
        t: t0.elapsed().as_secs_f64(),
        phase: phase.into(),
        connected: latest.iter().map(|p| p.connected).sum(),
        sent_per_sec: (sent - prev.1) as f64 / secs,
        delivered_per_sec: (delivered - prev.2) as f64 / secs,
        p50_ms: second.value_at_quantile(0.5) as f64 / 1e3,
        p99_ms: second.value_at_quantile(0.99) as f64 / 1e3,
        node_cpu_pct: now
            .0
            .iter()
            .zip(&prev.0.0)
            .map(|(n, p)| pct(p.0, n.0))
            .collect(),
        node_rss_mib: now.0.iter().map(|n| n.1 as f64 / 1024.0).sum(),
        worker_cpu_pct: now
            .1
            .iter()
            .zip(&prev.0.1)
            .map(|(n, p)| pct(p.0, n.0))
            .sum(),
        redis_cpu_pct: pct(prev.0.2.0, now.2.0),
        postgres_cpu_pct: pct(prev.0.3.0, now.3.0),
    };
    second.reset();
    *prev = (now, sent, delivered, Instant::now());
    sample
}
