//! `switchboard-load`: the load harness whose reports back the figures in docs/BENCHMARKS.md.
//!
//! `run` drives a scenario (a named preset or a TOML file): it starts the nodes (switchboard
//! on Redis + Postgres, or the floor), signs users up, creates rooms, spreads the sockets over
//! worker processes and source addresses in 127.0.0.0/8, runs connect → traffic → drain with
//! live progress, and writes a JSON report, a Markdown summary and a chart. Every load stays on
//! loopback, is bounded in count and time, and stops what it started, Ctrl-C included.
//!
//! # Layout
//! - [`scenario`]: scenario fields, presets, TOML files; [`plan`]: rooms, senders, watchers.
//! - [`setup`]: nodes, users and rooms before the load; [`node`]: one node process.
//! - [`coordinator`]: one run's phases and sampling; [`worker`]: the worker processes;
//!   [`wire`]: what they say to each other; [`track`]: delivery accounting per socket.
//! - [`report`], [`chart`]: the report files; [`procstat`]: CPU and memory from /proc.
//! - [`floor`]: the floor server (bare tokio-tungstenite broadcast).
//! - [`cluster`], [`sent`], [`pg`]: single-purpose benchmarks that print their figures.

// A benchmark reports on stdout.
#![allow(clippy::print_stdout)]

mod chart;
mod cluster;
mod cognito;
mod coordinator;
mod floor;
mod node;
mod pg;
mod plan;
mod procstat;
mod report;
mod scenario;
mod sent;
mod setup;
mod track;
mod wire;
mod worker;

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};

use crate::scenario::{NodeKind, Scenario};

#[derive(Parser)]
#[command(
    name = "switchboard-load",
    version,
    about = "Load harness for Switchboard: scenarios over many sockets, nodes and worker processes, with reports."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a scenario (a preset or a TOML file) and writes its report.
    Run {
        /// A named preset (see `presets`).
        #[arg(long, conflicts_with = "file")]
        preset: Option<String>,
        /// A scenario file (TOML; every key of `presets --show NAME` may be set).
        #[arg(long)]
        file: Option<PathBuf>,
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Lists the presets, or prints one as a scenario file to start from.
    Presets {
        /// Print this preset as TOML.
        #[arg(long)]
        show: Option<String>,
    },
    /// Idle memory per authenticated connection in rooms (the `idle` preset, against the
    /// floor).
    Idle {
        #[arg(long, default_value_t = 10_000)]
        conns: usize,
        /// Worker processes to spread the connections over (0: as few as fit).
        #[arg(long, default_value_t = 0)]
        procs: usize,
        #[arg(long, default_value_t = 100)]
        room_size: usize,
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Deliveries per node CPU-second and latency through one room with senders as fast as
    /// their window allows (the `saturation` preset, against the floor).
    Fanout {
        #[arg(long, default_value_t = 100)]
        members: usize,
        #[arg(long, default_value_t = 4)]
        senders: usize,
        /// Sends each sender keeps unanswered.
        #[arg(long, default_value_t = 32)]
        window: usize,
        /// Messages per second per sender instead (0: as fast as the window allows).
        #[arg(long, default_value_t = 0.0)]
        rate: f64,
        #[arg(long, default_value_t = 10)]
        secs: u64,
        /// `synchronous = FULL` for the node's embedded store.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        durable: bool,
        #[command(flatten)]
        overrides: Overrides,
    },
    /// Send → `sent` latency (p50/p99) at low load: one sender, one send at a time, joined to
    /// its room unless --unjoined.
    Sent {
        #[arg(long, default_value = "target/release/switchboard")]
        server: String,
        /// Sends measured (after 20 uncounted warm-up sends).
        #[arg(long, default_value_t = 2_000)]
        count: u64,
        /// Send without joining the room (no `message` echo before `sent`).
        #[arg(long)]
        unjoined: bool,
        /// Storage durability (`synchronous = FULL`) for the run.
        #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
        durable: bool,
        /// Directory for the report files (`sent.json`/`.md`, or `sent-unjoined.*`).
        #[arg(long, default_value = "target/load-reports")]
        out: PathBuf,
    },
    /// Two nodes (Redis + a scratch Postgres database): delivery latency on the owner's node
    /// against the other node, and Redis PUBLISH per message per destination node.
    Cluster {
        #[arg(long, default_value = "target/release/switchboard")]
        server: String,
        #[arg(long, default_value = "redis://127.0.0.1:6379")]
        redis: String,
        #[arg(long, default_value_t = 100)]
        members: usize,
        /// Messages per second from the one sender.
        #[arg(long, default_value_t = 200)]
        rate: u64,
        #[arg(long, default_value_t = 10)]
        secs: u64,
        /// Put the sender on the node that does not own the room.
        #[arg(long)]
        remote_sender: bool,
        /// Directory for the report files.
        #[arg(long, default_value = "target/load-reports")]
        out: PathBuf,
    },
    /// Write-behind into Postgres: batched against one INSERT per message.
    PgWrite {
        /// Messages written through batches.
        #[arg(long, default_value_t = 500_000)]
        batched: u64,
        /// Messages written one INSERT each.
        #[arg(long, default_value_t = 5_000)]
        single: u64,
        #[arg(long, default_value_t = 100)]
        rooms: usize,
        /// The write-behind's batch size for the batched run.
        #[arg(long, default_value_t = 1024)]
        max_batch: usize,
        /// Directory for the report files.
        #[arg(long, default_value = "target/load-reports")]
        out: PathBuf,
    },
    /// History page and search latency over a large Postgres table.
    PgHistory {
        #[arg(long, default_value_t = 10_000_000)]
        rows: u64,
        #[arg(long, default_value_t = 10_000)]
        rooms: u64,
        #[arg(long, default_value_t = 2_000)]
        queries: u64,
        /// Directory for the report files.
        #[arg(long, default_value = "target/load-reports")]
        out: PathBuf,
    },
    /// The room list of a user in many rooms, over a large Postgres table.
    PgRoomList {
        #[arg(long, default_value_t = 10_000_000)]
        rows: u64,
        #[arg(long, default_value_t = 10_000)]
        rooms: u64,
        /// The rooms the measured user is a member of (a divisor of `rooms`).
        #[arg(long, default_value_t = 1_000)]
        member_rooms: u64,
        /// First pages measured; the whole list is walked about as many times in pages.
        #[arg(long, default_value_t = 200)]
        queries: u64,
        /// Directory for the report files.
        #[arg(long, default_value = "target/load-reports")]
        out: PathBuf,
    },
    /// The floor: a bare tokio-tungstenite broadcast server (started by `run`; exits when its
    /// stdin closes).
    FloorServer {
        #[arg(long, default_value = "127.0.0.1:9200")]
        listen: std::net::SocketAddr,
    },
    /// A worker process of `run` (started by it: a job on stdin, reports on stdout).
    Worker,
}

/// Settings that override the scenario's.
#[derive(Args)]
struct Overrides {
    #[arg(long)]
    sockets: Option<usize>,
    /// Nodes to start.
    #[arg(long)]
    nodes: Option<usize>,
    /// Worker processes (0: as few as fit).
    #[arg(long)]
    workers: Option<usize>,
    #[arg(long)]
    hold_secs: Option<u64>,
    /// Sockets connected per second (0: as fast as possible).
    #[arg(long)]
    ramp: Option<f64>,
    /// The switchboard binary to start.
    #[arg(long)]
    server: Option<PathBuf>,
    /// Run against these running nodes (`host:port`, comma separated) instead of starting
    /// any: their CPU and memory are not the harness's to read, so the report says "not
    /// measured" for every figure made from them.
    #[arg(long, value_delimiter = ',')]
    addresses: Vec<String>,
    /// Run against the floor instead of switchboard.
    #[arg(long)]
    floor_only: bool,
    /// Skip the floor comparison.
    #[arg(long)]
    no_floor: bool,
    /// Directory for the report files.
    #[arg(long, default_value = "target/load-reports")]
    out: PathBuf,
}

impl Overrides {
    fn apply(&self, mut s: Scenario) -> Scenario {
        if let Some(v) = self.sockets {
            s.sockets = v;
        }
        if let Some(v) = self.nodes {
            s.nodes.count = v;
        }
        if let Some(v) = self.workers {
            s.workers = v;
        }
        if let Some(v) = self.hold_secs {
            s.hold_secs = v;
        }
        if let Some(v) = self.ramp {
            s.ramp_per_sec = v;
        }
        if let Some(v) = &self.server {
            s.nodes.server = v.clone();
        }
        if !self.addresses.is_empty() {
            s.nodes.addresses = self.addresses.clone();
        }
        if self.floor_only {
            s.nodes.kind = NodeKind::Floor;
            s.compare_floor = false;
        }
        if self.no_floor {
            s.compare_floor = false;
        }
        s
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Worker = cli.command {
        return worker::main();
    }
    tokio::runtime::Runtime::new()?.block_on(async {
        tokio::select! {
            result = command(cli.command) => result,
            // Dropping the run kills every node and worker it started.
            _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted: stopped every node and worker"),
        }
    })
}

async fn command(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run {
            preset,
            file,
            overrides,
        } => {
            let s = match (preset, file) {
                (Some(p), _) => Scenario::preset(&p)?,
                (None, Some(f)) => Scenario::from_file(&f)?,
                (None, None) => anyhow::bail!("give --preset NAME or --file SCENARIO.toml"),
            };
            run(overrides.apply(s), &overrides.out).await
        }
        Command::Presets { show: None } => {
            for (name, about) in scenario::PRESETS {
                println!("{name:12} {about}");
            }
            Ok(())
        }
        Command::Presets { show: Some(name) } => {
            print!("{}", toml::to_string(&Scenario::preset(&name)?)?);
            Ok(())
        }
        Command::Idle {
            conns,
            procs,
            room_size,
            overrides,
        } => {
            let s = Scenario {
                sockets: conns,
                workers: procs,
                room_size: scenario::RoomSize::Fixed { size: room_size },
                ..Scenario::preset("idle")?
            };
            run(overrides.apply(s), &overrides.out).await
        }
        Command::Fanout {
            members,
            senders,
            window,
            rate,
            secs,
            durable,
            overrides,
        } => {
            let mut s = Scenario {
                name: "fanout".into(),
                sockets: members,
                room_size: scenario::RoomSize::Fixed { size: members },
                sender_share: senders as f64 / members.max(1) as f64,
                window,
                send_rate: rate,
                hold_secs: secs,
                ..Scenario::preset("saturation")?
            };
            s.nodes.durable = durable;
            run(overrides.apply(s), &overrides.out).await
        }
        Command::Sent {
            server,
            count,
            unjoined,
            durable,
            out,
        } => sent::latency(&server, count, !unjoined, durable, &out).await,
        Command::Cluster {
            server,
            redis,
            members,
            rate,
            secs,
            remote_sender,
            out,
        } => cluster::latency(&server, &redis, members, rate, secs, remote_sender, &out).await,
        Command::PgWrite {
            batched,
            single,
            rooms,
            max_batch,
            out,
        } => pg::write(batched, single, rooms, max_batch, &out).await,
        Command::PgHistory {
            rows,
            rooms,
            queries,
            out,
        } => pg::history(rows, rooms, queries, &out).await,
        Command::PgRoomList {
            rows,
            rooms,
            member_rooms,
            queries,
            out,
        } => pg::room_list(rows, rooms, member_rooms, queries, &out).await,
        Command::FloorServer { listen } => floor::serve(listen).await,
        Command::Worker => unreachable!("handled before the runtime starts"),
    }
}

/// Runs a scenario (and its floor when asked) and writes the report.
async fn run(s: Scenario, out: &std::path::Path) -> anyhow::Result<()> {
    let s = s.resolve()?;
    let mp = indicatif::MultiProgress::new();
    let main = report::Summary::of(coordinator::run(&s, &mp).await?);
    let floor = if s.compare_floor {
        Some(report::Summary::of(
            coordinator::run(&s.floor(), &mp).await?,
        ))
    } else {
        None
    };
    let full = report::FullReport::new(s, main, floor);
    let files = full.write(out)?;
    print!("{}", full.markdown("(chart beside the report)"));
    for f in files {
        println!("wrote {}", f.display());
    }
    Ok(())
}

pub(crate) fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}
