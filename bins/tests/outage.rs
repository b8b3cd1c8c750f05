//! Postgres stopped in the middle of a send load, then started again, over real sockets.
//!
//! The test runs its own Postgres server (initdb into a temporary directory, a free port) so
//! stopping it disturbs nothing else on the machine.

mod support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use switchboard_client::ClientError;
use switchboard_engine::protocol::{ServerFrame, Visibility};
use switchboard_engine::{ErrorCode, Position};

/// A throwaway Postgres cluster owned by the `postgres` OS user (it refuses to run as root).
struct PrivatePostgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

fn as_postgres(bin: &std::path::Path, tool: &str, args: &[&str]) {
    let status = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(bin.join(tool))
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("runuser");
    assert!(status.success(), "{tool} {args:?} failed");
}

impl PrivatePostgres {
    fn start() -> PrivatePostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries (ops/test.sh installs them)")
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .find(|p| p.join("initdb").exists())
            .expect("initdb");
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("pg");
        std::fs::create_dir(&data).unwrap();
        Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status()
            .unwrap();
        as_postgres(
            &bin,
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
            ],
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = PrivatePostgres {
            bin,
            data,
            port,
            _dir: dir,
        };
        pg.up();
        pg
    }

    fn up(&self) {
        let opts = format!("-p {} -c listen_addresses=127.0.0.1 -k /tmp", self.port);
        let log = self.data.join("log");
        as_postgres(
            &self.bin,
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-o",
                &opts,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
    }

    fn down(&self) {
        as_postgres(
            &self.bin,
            "pg_ctl",
            &["-D", self.data.to_str().unwrap(), "-m", "immediate", "stop"],
        );
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", self.data.to_str().unwrap(), "-m", "immediate", "stop"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

const QUEUE_BOUND: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_loses_nothing_and_delivery_goes_on() {
    let pg = PrivatePostgres::start();
    let url = pg.url();
    let t = support::start(|c| {
        c.database.url = Some(url.clone());
        c.database.connect_timeout_secs = 1;
        c.write_behind.max_queued = QUEUE_BOUND;
    })
    .await;
    let (_, watcher_token) = t.user().await;
    let mut watcher = t.client(&watcher_token).await;
    let room = watcher
        .create_room("outage", Visibility::Public)
        .await
        .unwrap();
    watcher.join(room, None).await.unwrap();

    // The queue bound is never exceeded.
    let peak = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (hub, peak) = (t.node.hub.clone(), peak.clone());
        tokio::spawn(async move {
            loop {
                peak.fetch_max(hub.journal.queued().0, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    // Four senders, 50 messages/s each, never waiting for acknowledgements; `busy` and rate
    // limits are retried with the same cmid.
    let started = Instant::now();
    let (outage_from, outage_to) = (Duration::from_millis(1500), Duration::from_millis(4000));
    let send_until = Duration::from_millis(5500);
    let mut senders = Vec::new();
    for s in 0..4 {
        let (_, token) = t.user().await;
        let mut c = t
            .client_with(&token, |c| c.timeout = Duration::from_secs(30))
            .await;
        c.join(room, None).await.unwrap();
        let c = Arc::new(c);
        senders.push(tokio::spawn(async move {
            let send = |c: Arc<switchboard_client::Client>, cmid: String| async move {
                let t0 = Instant::now();
                let mut busy = 0;
                loop {
                    match c.send(room, &cmid, "during the outage").await {
                        Ok(sent) => return (cmid, sent.pos, t0.elapsed(), busy),
                        Err(ClientError::Server {
                            code: ErrorCode::Busy,
                            ..
                        }) => busy += 1,
                        Err(ClientError::Server {
                            code: ErrorCode::RateLimited,
                            ..
                        }) => {}
                        Err(e) => panic!("send {cmid} failed: {e}"),
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            };
            let mut inflight = FuturesUnordered::new();
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            let mut next = 0;
            while started.elapsed() < send_until {
                tick.tick().await;
                inflight.push(tokio::spawn(send(c.clone(), format!("s{s}-{next}"))));
                next += 1;
            }
            let mut acked: Vec<(String, Position, Duration)> = Vec::new();
            let mut busy = 0usize;
            while let Some(done) = inflight.next().await {
                let (cmid, pos, took, b) = done.unwrap();
                acked.push((cmid, pos, took));
                busy += b;
            }
            (acked, busy)
        }));
    }

    // The watcher records when each message arrived.
    let watch = tokio::spawn(async move {
        let mut arrivals = Vec::new();
        while let Some(frame) = watcher.event_within(Duration::from_secs(8)).await {
            if let ServerFrame::Message(m) = frame {
                arrivals.push((m.cmid, started.elapsed()));
            }
        }
        arrivals
    });

    tokio::time::sleep(outage_from).await;
    pg.down();
    tokio::time::sleep(outage_to - outage_from).await;
    pg.up();

    let mut acked = Vec::new();
    let mut busy = 0;
    for s in senders {
        let (a, b) = s.await.unwrap();
        acked.extend(a);
        busy += b;
    }
    let arrivals = watch.await.unwrap();
    sampler.abort();
    t.node.hub.journal.sync().await;

    // Members online during the outage kept receiving messages in real time.
    let during = arrivals
        .iter()
        .filter(|(_, at)| *at > outage_from + Duration::from_millis(300) && *at < outage_to)
        .count();
    // 200 messages/s until the queue (300) fills: about 300 arrive in real time on an idle
    // machine; the margin is for a loaded CI machine.
    assert!(
        during >= 100,
        "only {during} messages delivered during the outage"
    );
    // Senders saw `busy` or a late acknowledgement.
    let late = acked
        .iter()
        .filter(|a| a.2 > Duration::from_millis(1000))
        .count();
    assert!(busy > 0 || late > 0, "the outage was invisible to senders?");
    assert!(
        peak.load(Ordering::Relaxed) <= QUEUE_BOUND,
        "queue exceeded its bound"
    );

    // Every acknowledged message is in Postgres exactly once, at its acknowledged position.
    let (client, conn) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let rows = client
        .query(
            "SELECT cmid, epoch, seq FROM messages WHERE room = $1",
            &[&(room.0 as i64)],
        )
        .await
        .unwrap();
    let mut stored: HashMap<String, Vec<Position>> = HashMap::new();
    for r in &rows {
        let (e, s): (i64, i64) = (r.get(1), r.get(2));
        stored
            .entry(r.get(0))
            .or_default()
            .push(Position::new(e as u64, s as u64));
    }
    for (cmid, pos, _) in &acked {
        assert_eq!(
            stored.get(cmid),
            Some(&vec![*pos]),
            "{cmid} not stored exactly once"
        );
    }
    eprintln!(
        "outage: {} acknowledged ({} busy replies, {} acks later than 1 s), {} delivered during the outage, queue peak {}",
        acked.len(),
        busy,
        late,
        during,
        peak.load(Ordering::Relaxed)
    );
    t.node.shutdown().await;
}
