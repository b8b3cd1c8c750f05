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
        c.database.connect_timeout = Duration::from_secs(1);
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
        let (journal, peak) = (t.node.journal.clone(), peak.clone());
        tokio::spawn(async move {
            loop {
                peak.fetch_max(journal.queued().0, Ordering::Relaxed);
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
    t.node.journal.sync().await;

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

/// `switchboard serve` as a process on a free port with `env` (besides a data dir and cheap
/// hashing); stderr goes to `log`.
fn serve(dir: &std::path::Path, port: u16, env: &[(&str, String)]) -> support::cluster::Reaped {
    let log = std::fs::File::create(dir.join("node.log")).unwrap();
    let mut command = support::cluster::serve_command();
    command
        .env("SWITCHBOARD_LISTEN", format!("127.0.0.1:{port}"))
        .env("SWITCHBOARD_DATA_DIR", dir.join("data"))
        .env("SWITCHBOARD_AUTH__ARGON2_MEMORY_KIB", "256")
        .env("SWITCHBOARD_AUTH__ARGON2_ITERATIONS", "1")
        .env("SWITCHBOARD_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(log);
    for (k, v) in env {
        command.env(k, v);
    }
    support::cluster::Reaped(command.spawn().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_retries_follow_their_backoff_during_a_postgres_outage_and_recover_quickly() {
    let pg = PrivatePostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let port = support::cluster::free_port();
    // The default connect timeout (5 s): each retry used to wait it out.
    let _node = serve(dir.path(), port, &[("SWITCHBOARD_DATABASE__URL", pg.url())]);
    support::cluster::wait_healthy(port, "node").await;
    let (_, token) = support::cluster::sign_up(port, "writer").await;
    let token = token.as_str();
    let mut config = switchboard_client::ClientConfig::new(
        format!("ws://127.0.0.1:{port}/ws"),
        Some(token.to_owned()),
    );
    config.timeout = Duration::from_secs(30);
    let mut client = switchboard_client::Client::connect_with(config)
        .await
        .unwrap();
    let room = client
        .create_room("retries", Visibility::Public)
        .await
        .unwrap();
    client.join(room, None).await.unwrap();
    client.send(room, "before", "stored").await.unwrap();

    let failures = "switchboard_write_behind_failures_total";
    let before = support::cluster::metric(port, failures).await;
    pg.down();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = Arc::new(client);
    let during = {
        let client = client.clone();
        tokio::spawn(async move { client.send(room, "during", "waits for Postgres").await })
    };
    tokio::time::sleep(Duration::from_secs(4)).await;
    let attempts = support::cluster::metric(port, failures).await - before;
    pg.up();
    let up = Instant::now();
    let sent = during.await.unwrap().expect("stored once Postgres is back");
    let recovered = up.elapsed();
    eprintln!(
        "4 s of outage: {attempts} failed commits (backoff 10 ms doubling to 2 s); stored {recovered:?} after Postgres was back"
    );
    assert!(!sent.duplicate);
    // 10, 20, 40 … 1280 ms, then 2 s: about ten attempts in 4 s (one, at 5 s, before).
    assert!(attempts >= 6.0, "only {attempts} retries in 4 s");
    assert!(
        recovered < Duration::from_millis(2500),
        "stored {recovered:?} after Postgres was back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_cannot_reach_postgres_says_where_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let closed = support::cluster::free_port();
    let cases = [
        // Nothing listens there: tried for the connect timeout (3 s here), then refused.
        (
            format!("postgres://switchboard:s3cret@127.0.0.1:{closed}/chat"),
            format!("127.0.0.1:{closed}"),
            "refused",
            Duration::from_secs(5),
        ),
        // The server answers that the database does not exist: no point waiting.
        (
            "postgres://postgres:s3cret@127.0.0.1:5432/no_such_database".to_owned(),
            "127.0.0.1:5432/no_such_database".to_owned(),
            "does not exist",
            Duration::from_secs(2),
        ),
    ];
    for (url, address, cause, within) in cases {
        let port = support::cluster::free_port();
        let started = Instant::now();
        let mut node = serve(
            dir.path(),
            port,
            &[
                ("SWITCHBOARD_DATABASE__URL", url.clone()),
                ("SWITCHBOARD_DATABASE__CONNECT_TIMEOUT_SECS", "3".into()),
            ],
        );
        let status = loop {
            if let Some(status) = node.0.try_wait().unwrap() {
                break status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{url}: still running"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let took = started.elapsed();
        let log = std::fs::read_to_string(dir.path().join("node.log")).unwrap();
        eprintln!("{url}: exited after {took:?}: {}", log.trim());
        assert!(!status.success());
        assert!(
            log.contains(&address),
            "{url}: the address is not named: {log}"
        );
        assert!(log.contains(cause), "{url}: the cause is not named: {log}");
        assert!(!log.contains("s3cret"), "{url}: the password leaked: {log}");
        assert!(took < within, "{url}: exited after {took:?}");
    }
}
