//! `switchboard-load`: benchmark commands whose figures go into docs/BENCHMARKS.md.
//!
//! - `idle`: starts a node, opens N authenticated connections from several client processes,
//!   each joined to one room, and reports the node's RSS growth per connection.
//! - `fanout`: starts a node, puts M members in one room, has some of them send as fast as
//!   acknowledgements allow, and reports messages/s, deliveries/s and delivery latency.
//! - `sent`: send → `sent` latency at low load, with the sender joined to its room (or not).
//! - `cluster`: two nodes on Redis and Postgres; delivery latency for members on the room
//!   owner's node against members on the other node, and Redis commands per message.
//!
//! Every load stays on 127.0.0.1, is bounded in count and time, and stops by itself.

// A benchmark reports on stdout.
#![allow(clippy::print_stdout)]

mod cluster;
mod node;
mod pg;
mod sent;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use switchboard_client::{Client, ClientConfig};
use switchboard_engine::RoomId;
use switchboard_engine::protocol::{ServerFrame, Visibility};
use tokio::io::AsyncBufReadExt;

#[derive(Parser)]
#[command(name = "switchboard-load")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Idle memory per authenticated connection joined to one room.
    Idle {
        /// The switchboard binary to run.
        #[arg(long, default_value = "target/release/switchboard")]
        server: String,
        #[arg(long, default_value_t = 10_000)]
        conns: usize,
        /// Client processes to spread the connections over.
        #[arg(long, default_value_t = 2)]
        procs: usize,
        /// Members per room: connection i joins room i / room_size.
        #[arg(long, default_value_t = 100)]
        room_size: usize,
    },
    /// One client process of `idle`: connects tokens[from..to], joins, waits.
    IdleClient {
        #[arg(long)]
        url: String,
        /// File with one room id per line.
        #[arg(long)]
        rooms: String,
        #[arg(long)]
        room_size: usize,
        #[arg(long)]
        tokens: String,
        #[arg(long)]
        from: usize,
        #[arg(long)]
        to: usize,
        /// How long to hold the connections open.
        #[arg(long, default_value_t = 120)]
        hold_secs: u64,
    },
    /// Messages/s and delivery latency through one room.
    Fanout {
        #[arg(long, default_value = "target/release/switchboard")]
        server: String,
        #[arg(long, default_value_t = 100)]
        members: usize,
        /// Members that send.
        #[arg(long, default_value_t = 4)]
        senders: usize,
        /// Sends each sender keeps in flight.
        #[arg(long, default_value_t = 32)]
        window: usize,
        #[arg(long, default_value_t = 10)]
        secs: u64,
        /// Storage durability (`synchronous = FULL`) for the run.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        durable: bool,
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
        #[arg(long, default_value_t = 200)]
        rate: u64,
        #[arg(long, default_value_t = 10)]
        secs: u64,
        /// Put the sender on the node that does not own the room.
        #[arg(long)]
        remote_sender: bool,
    },
    /// Write-behind into Postgres: batched against one INSERT per message.
    PgWrite {
        #[arg(long, default_value_t = 500_000)]
        batched: u64,
        #[arg(long, default_value_t = 5_000)]
        single: u64,
        #[arg(long, default_value_t = 100)]
        rooms: usize,
        /// The write-behind's batch size for the batched run.
        #[arg(long, default_value_t = 1024)]
        max_batch: usize,
    },
    /// History page latency over a large Postgres table.
    PgHistory {
        #[arg(long, default_value_t = 10_000_000)]
        rows: u64,
        #[arg(long, default_value_t = 10_000)]
        rooms: u64,
        #[arg(long, default_value_t = 2_000)]
        queries: u64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Idle {
            server,
            conns,
            procs,
            room_size,
        } => idle(&server, conns, procs, room_size).await,
        Command::IdleClient {
            url,
            rooms,
            room_size,
            tokens,
            from,
            to,
            hold_secs,
        } => idle_client(&url, &rooms, room_size, &tokens, from, to, hold_secs).await,
        Command::Fanout {
            server,
            members,
            senders,
            window,
            secs,
            durable,
        } => fanout(&server, members, senders, window, secs, durable).await,
        Command::Sent {
            server,
            count,
            unjoined,
            durable,
        } => sent::latency(&server, count, !unjoined, durable).await,
        Command::Cluster {
            server,
            redis,
            members,
            rate,
            secs,
            remote_sender,
        } => cluster::latency(&server, &redis, members, rate, secs, remote_sender).await,
        Command::PgWrite {
            batched,
            single,
            rooms,
            max_batch,
        } => pg::write(batched, single, rooms, max_batch).await,
        Command::PgHistory {
            rows,
            rooms,
            queries,
        } => pg::history(rows, rooms, queries).await,
    }
}

async fn idle(server: &str, conns: usize, procs: usize, room_size: usize) -> anyhow::Result<()> {
    let node = node::Node::start(server, false).await?;
    println!("signing up {conns} users…");
    let tokens = node.sign_up_many("idle", conns).await?;
    let tokens_file = node.dir.path().join("tokens.txt");
    std::fs::write(&tokens_file, tokens.join("\n"))?;
    let admin = Client::connect(&node.ws_url(), Some(&tokens[0])).await?;
    let mut rooms = Vec::new();
    for r in 0..conns.div_ceil(room_size) {
        rooms.push(
            admin
                .create_room(&format!("idle{r}"), Visibility::Public)
                .await?
                .0
                .to_string(),
        );
    }
    let rooms_file = node.dir.path().join("rooms.txt");
    std::fs::write(&rooms_file, rooms.join("\n"))?;
    admin.close();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = node.rss_kib()?;

    let me = std::env::current_exe()?;
    let per = conns.div_ceil(procs);
    let mut children = Vec::new();
    let started = Instant::now();
    for p in 0..procs {
        let (from, to) = (p * per, ((p + 1) * per).min(conns));
        let mut child = tokio::process::Command::new(&me)
            .args(["idle-client", "--url", &node.ws_url()])
            .args(["--rooms", rooms_file.to_str().context("path")?])
            .args(["--room-size", &room_size.to_string()])
            .args(["--tokens", tokens_file.to_str().context("path")?])
            .args(["--from", &from.to_string(), "--to", &to.to_string()])
            .args(["--hold-secs", "120"])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().context("stdout")?;
        children.push((child, tokio::io::BufReader::new(stdout).lines()));
    }
    for (_, lines) in &mut children {
        let line = tokio::time::timeout(Duration::from_secs(300), lines.next_line())
            .await
            .context("client process took too long")??;
        if line.as_deref() != Some("ready") {
            bail!("client process failed: {line:?}");
        }
    }
    let connected_in = started.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = node.rss_kib()?;
    let per_conn = (after.saturating_sub(before) as f64 * 1024.0) / conns as f64;
    println!(
        "idle: {conns} connections from {procs} processes joined {} rooms of {room_size} in {connected_in:.1?}",
        rooms.len()
    );
    println!("node RSS before {before} KiB, after {after} KiB");
    println!("RESULT idle_bytes_per_connection={per_conn:.0}");
    for (mut child, _) in children {
        let _ = child.kill().await;
    }
    node.stop().await
}

async fn idle_client(
    url: &str,
    rooms: &str,
    room_size: usize,
    tokens: &str,
    from: usize,
    to: usize,
    hold_secs: u64,
) -> anyhow::Result<()> {
    let tokens: Vec<String> = std::fs::read_to_string(tokens)?
        .lines()
        .map(str::to_owned)
        .collect();
    let rooms: Vec<u64> = std::fs::read_to_string(rooms)?
        .lines()
        .map(|l| l.parse())
        .collect::<Result<_, _>>()?;
    let mut joins = futures::stream::iter((from..to).map(|i| (i, tokens[i].clone())))
        .map(|(i, token)| {
            let url = url.to_owned();
            let room = RoomId(rooms[i / room_size]);
            async move {
                let mut c = Client::connect_with(ClientConfig::new(url, Some(token))).await?;
                c.join(room, None).await?;
                anyhow::Ok(c)
            }
        })
        .buffer_unordered(64);
    let mut clients = Vec::with_capacity(to - from);
    use futures::StreamExt;
    while let Some(c) = joins.next().await {
        clients.push(c?);
    }
    println!("ready");
    tokio::time::sleep(Duration::from_secs(hold_secs)).await;
    Ok(())
}

pub(crate) fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

async fn fanout(
    server: &str,
    members: usize,
    senders: usize,
    window: usize,
    secs: u64,
    durable: bool,
) -> anyhow::Result<()> {
    use futures::StreamExt;
    let node = node::Node::start(server, durable).await?;
    let tokens = node.sign_up_many("fan", members).await?;
    let owner = Client::connect(&node.ws_url(), Some(&tokens[0])).await?;
    let room = owner.create_room("fanout", Visibility::Public).await?;
    let mut clients = Vec::new();
    for token in &tokens {
        let mut c = Client::connect(&node.ws_url(), Some(token)).await?;
        c.join(room, None).await?;
        clients.push(c);
    }
    let warmup = Duration::from_secs(1);
    let run = Duration::from_secs(secs);
    let start = Instant::now();
    let measure_from = now_micros() + warmup.as_micros() as u64;
    let measure_to = measure_from + run.as_micros() as u64;

    // Receivers: every member records the latency of every message sent in the window.
    let mut receivers = Vec::new();
    let mut sending = Vec::new();
    for (i, mut c) in clients.into_iter().enumerate() {
        let sender = if i < senders {
            Some(std::sync::Arc::new(
                Client::connect(&node.ws_url(), Some(&tokens[i])).await?,
            ))
        } else {
            None
        };
        receivers.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(3).expect("histogram");
            let deadline = tokio::time::Instant::now() + warmup + run + Duration::from_secs(3);
            while let Ok(Some(frame)) = tokio::time::timeout_at(deadline, c.next_event()).await {
                if let ServerFrame::Message(m) = frame {
                    let sent: u64 = m.text.parse().unwrap_or(0);
                    if (measure_from..measure_to).contains(&sent) {
                        let _ = hist.record(now_micros().saturating_sub(sent));
                    }
                }
            }
            hist
        }));
        if let Some(s) = sender {
            sending.push(tokio::spawn(async move {
                let mut n = 0u64;
                let mut busy = 0u64;
                let until = start + warmup + run;
                let mut seq = 0u64;
                let mut inflight = futures::stream::FuturesUnordered::new();
                loop {
                    while inflight.len() < window && Instant::now() < until {
                        seq += 1;
                        let (s, cmid) = (s.clone(), format!("{i}-{seq}"));
                        inflight.push(async move {
                            s.send(room, &cmid, &now_micros().to_string()).await
                        });
                    }
                    match inflight.next().await {
                        Some(Ok(_)) => n += 1,
                        Some(Err(e)) if e.code() == Some(switchboard_engine::ErrorCode::Busy) => {
                            busy += 1
                        }
                        Some(Err(e)) => return Err(anyhow::anyhow!("send failed: {e}")),
                        None => break,
                    }
                }
                anyhow::Ok((n, busy))
            }));
        }
    }
    // Node CPU over the measured window.
    tokio::time::sleep_until((start + warmup).into()).await;
    let cpu_start = node.cpu_secs()?;
    tokio::time::sleep_until((start + warmup + run).into()).await;
    let cpu_used = node.cpu_secs()? - cpu_start;
    let (mut sent, mut busy) = (0, 0);
    for s in sending {
        let (n, b) = s.await??;
        sent += n;
        busy += b;
    }
    let mut hist = Histogram::<u64>::new(3)?;
    for r in receivers {
        hist.add(r.await?)?;
    }
    let secs_f = run.as_secs_f64();
    let measured_msgs = hist.len() as f64 / members as f64;
    println!(
        "fanout: {members} members, {senders} senders x {window} in flight, {secs} s measured, durable={durable}"
    );
    println!(
        "acknowledged sends: {sent} ({busy} busy), over {:.1?} including warm-up",
        warmup + run
    );
    println!(
        "RESULT messages_per_sec={:.0} deliveries_per_sec={:.0} deliveries_per_node_cpu_sec={:.0} node_cpu_secs={cpu_used:.2} p50_ms={:.2} p99_ms={:.2} max_ms={:.2}",
        measured_msgs / secs_f,
        hist.len() as f64 / secs_f,
        hist.len() as f64 / cpu_used.max(0.01),
        hist.value_at_quantile(0.50) as f64 / 1000.0,
        hist.value_at_quantile(0.99) as f64 / 1000.0,
        hist.max() as f64 / 1000.0,
    );
    node.stop().await
}
