//! Multi-process clusters for tests: `switchboard serve` processes on 127.0.0.1 sharing one
//! scratch Postgres database and a Redis (key prefix per run), with fast membership timing
//! (heartbeat 200 ms, lease 700 ms, poll 100 ms: a crash is seen within 0.8 s; replies to
//! forwarded commands awaited 1.5 s). Also the
//! clients that follow rooms through moves and node loss, and the check that every client's
//! view of every room is the store's.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use switchboard_client::{Client, ClientConfig};
use switchboard_engine::protocol::{ResumeOutcome, ServerFrame};
use switchboard_engine::ring::{NodeId, Ring};
use switchboard_engine::{Position, RoomId};
use switchboard_persistence::store::postgres::{PostgresConfig, PostgresStore};
use switchboard_persistence::store::scratch::{ScratchDatabase, admin_url};
use switchboard_persistence::{HistoryQuery, Store};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub const LEASE_MS: u64 = 700;
pub const POLL_MS: u64 = 100;
/// How long a node awaits the reply to a command it forwarded (below the clients' 2 s).
pub const REPLY_TIMEOUT_MS: u64 = 1500;

pub fn redis_url() -> String {
    std::env::var("SWITCHBOARD_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `switchboard serve` without the SWITCHBOARD_* variables of this process's environment
/// (such as the suite's own SWITCHBOARD_TEST_REDIS): the node would read them as its
/// configuration and refuse the names it does not know.
/// Signs `name` up over HTTP on the node at `port`: its id and token.
pub async fn sign_up(port: u16, name: &str) -> (switchboard_engine::UserId, String) {
    let body: serde_json::Value = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/signup"))
        .json(&serde_json::json!({ "name": name, "password": "correct horse" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = body["user"]["id"].as_u64().expect("signed up");
    let token = body["token"].as_str().unwrap().to_owned();
    (switchboard_engine::UserId(id), token)
}

/// Waits (at most 20 s) until the node on `port` answers `/healthz`.
pub async fn wait_healthy(port: u16, name: &str) {
    let started = Instant::now();
    let health = format!("http://127.0.0.1:{port}/healthz");
    while !reqwest::get(&health)
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{name} never became ready"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn serve_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command.arg("serve");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SWITCHBOARD_") {
            command.env_remove(name);
        }
    }
    command
}

pub struct NodeProc {
    pub name: String,
    pub port: u16,
    child: Child,
}

impl NodeProc {
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

/// A child process killed (and reaped) when dropped, so a failing test leaves nothing behind.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            let _ = n.child.kill();
            let _ = n.child.wait();
        }
        // The run's keys go too (the Redis may be shared, and outlive many runs).
        let keys = switchboard_persistence::cluster::redis::RedisMembership::keys(&self.prefix);
        if let Ok(mut conn) =
            redis::Client::open(self.redis.as_str()).and_then(|c| c.get_connection())
        {
            let _ = redis::cmd("DEL").arg(&keys).query::<()>(&mut conn);
        }
    }
}

pub struct Cluster {
    pub db: ScratchDatabase,
    pub redis: String,
    pub prefix: String,
    pub nodes: Vec<NodeProc>,
    dir: tempfile::TempDir,
    secret: String,
    /// More configuration for every node, as environment variables.
    env: Vec<(String, String)>,
}

impl Cluster {
    /// Starts `n` nodes named `node-0`… and waits until each sees all of them.
    pub async fn start(name: &str, redis: String, n: usize) -> Cluster {
        Cluster::start_with(name, redis, n, &[]).await
    }

    /// As [`Cluster::start`], with more configuration (`SWITCHBOARD_…` variables) for every
    /// node.
    pub async fn start_with(name: &str, redis: String, n: usize, env: &[(&str, &str)]) -> Cluster {
        let db = ScratchDatabase::create(&admin_url(), name)
            .await
            .expect("Postgres must be running for these tests (ops/test.sh starts it)");
        let mut cluster = Cluster {
            db,
            redis,
            prefix: format!("sbtest-{name}:{}", std::process::id()),
            nodes: Vec::new(),
            dir: tempfile::tempdir().unwrap(),
            secret: format!("test-secret-{name}-{}", std::process::id()),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        for _ in 0..n {
            cluster.spawn().await;
        }
        cluster.settle().await;
        cluster
    }

    fn log_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }

    /// Starts one more node; returns once it answers `/healthz`.
    pub async fn spawn(&mut self) -> usize {
        let node = self
            .start_node(format!("node-{}", self.nodes.len()), free_port())
            .await;
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// Replaces node `i` as a rolling deploy does: SIGTERM (it drains: clients are told 1012,
    /// its rooms handed off), then a new process of the same name at the same address. Returns
    /// how long the old one took to exit.
    pub async fn replace(&mut self, i: usize) -> Duration {
        let started = Instant::now();
        self.sigterm(i);
        let drained = started.elapsed();
        let (name, port) = (self.nodes[i].name.clone(), self.nodes[i].port);
        self.nodes[i] = self.start_node(name, port).await;
        drained
    }

    async fn start_node(&self, name: String, port: u16) -> NodeProc {
        let data = self.dir.path().join(&name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(&name))
            .unwrap();
        let child = serve_command()
            .env("SWITCHBOARD_LISTEN", format!("127.0.0.1:{port}"))
            .env("SWITCHBOARD_DATA_DIR", &data)
            .env("SWITCHBOARD_DATABASE__URL", &self.db.url)
            .env("SWITCHBOARD_CLUSTER__REDIS_URL", &self.redis)
            .env("SWITCHBOARD_CLUSTER__KEY_PREFIX", &self.prefix)
            .env("SWITCHBOARD_CLUSTER__NODE_ID", &name)
            .env("SWITCHBOARD_CLUSTER__HEARTBEAT_MS", "200")
            .env("SWITCHBOARD_CLUSTER__LEASE_MS", LEASE_MS.to_string())
            .env("SWITCHBOARD_CLUSTER__POLL_MS", POLL_MS.to_string())
            .env(
                "SWITCHBOARD_CLUSTER__REPLY_TIMEOUT_MS",
                REPLY_TIMEOUT_MS.to_string(),
            )
            .env("SWITCHBOARD_AUTH__TOKEN_SECRET", &self.secret)
            .env("SWITCHBOARD_AUTH__ARGON2_MEMORY_KIB", "256")
            .env("SWITCHBOARD_AUTH__ARGON2_ITERATIONS", "1")
            .env("SWITCHBOARD_ENGINE__SHUTDOWN_GRACE_SECS", "2")
            .env("SWITCHBOARD_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        wait_healthy(port, &name).await;
        NodeProc { name, port, child }
    }

    /// Waits until every node's lease is in Redis and one more poll has passed.
    pub async fn settle(&self) {
        tokio::time::sleep(Duration::from_millis(400 + 2 * POLL_MS)).await;
    }

    /// The ring of the nodes that are running.
    pub fn ring(&mut self) -> Ring {
        let live: Vec<NodeId> = self
            .nodes
            .iter_mut()
            .filter_map(|n| n.is_running().then(|| NodeId(n.name.clone())))
            .collect();
        Ring::new(live)
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(NodeProc::ws_url).collect()
    }

    /// A new account (signed up on node 0) and its token, valid on every node.
    pub async fn user(&self, name: &str) -> (switchboard_engine::UserId, String) {
        sign_up(self.nodes[0].port, name).await
    }

    /// A client on node `i`, failing over to the others in order.
    pub async fn client(&self, i: usize, token: &str) -> Client {
        let urls = self.urls();
        let mut config = ClientConfig::new(urls[i].clone(), Some(token.to_owned()));
        config.nodes = urls
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, u)| u.clone())
            .collect();
        config.timeout = Duration::from_secs(2);
        Client::connect_with(config).await.unwrap()
    }

    pub fn kill9(&mut self, i: usize) {
        self.nodes[i].child.kill().unwrap();
        self.nodes[i].child.wait().unwrap();
    }

    /// SIGTERM, then waits for the process to exit.
    pub fn sigterm(&mut self, i: usize) {
        let pid = self.nodes[i].child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.nodes[i].child.try_wait().unwrap() {
                break status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{} did not exit within 10 s of SIGTERM",
                self.nodes[i].name
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(
            status.success(),
            "{} exited with {status}",
            self.nodes[i].name
        );
    }

    /// SIGTERM to every running node; each must exit cleanly within 10 s.
    pub fn stop_all(&mut self) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].is_running() {
                self.sigterm(i);
            }
        }
    }

    /// A counter or gauge from node `i`'s `/metrics` (0 when absent).
    pub async fn metric(&self, i: usize, name: &str) -> f64 {
        metric(self.nodes[i].port, name).await
    }

    pub async fn store(&self) -> PostgresStore {
        let config = PostgresConfig {
            url: Some(self.db.url.clone()),
            pool_size: 2,
            ..PostgresConfig::default()
        };
        PostgresStore::connect(&config).await.unwrap()
    }

    /// Every message of `room` in the store, oldest first.
    pub async fn stored(&self, store: &PostgresStore, room: RoomId) -> Vec<(Position, String)> {
        store
            .history(
                room,
                HistoryQuery {
                    limit: 100_000,
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .into_iter()
            .map(|m| (m.pos, m.cmid))
            .collect()
    }

    /// Prints each node's log (for a failing test).
    pub fn dump_logs(&self) {
        for n in &self.nodes {
            let log = std::fs::read_to_string(self.log_path(&n.name)).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- {} (last lines) ---", n.name);
            for l in tail.into_iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

/// A counter or gauge (summed over its labels) from `/metrics` of the node at `port`; 0 when
/// absent.
pub async fn metric(port: u16, name: &str) -> f64 {
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// What a follower saw: per room, every message in the order received.
pub type View = HashMap<RoomId, Vec<(Position, String)>>;

/// A client that stays subscribed to `rooms` whatever happens: it rejoins a reset room from its
/// last position and reconnects (to another node if need be) when its socket closes. Panics on
/// a message that is not newer than the last one of its room (a duplicate or a reordering).
fn follow(mut client: Client, rooms: Vec<RoomId>, stop: watch::Receiver<bool>) -> JoinHandle<View> {
    tokio::spawn(async move {
        let mut view: View = rooms.iter().map(|r| (*r, Vec::new())).collect();
        for &room in &rooms {
            client.join(room, None).await.expect("initial join");
        }
        let mut stop = stop;
        loop {
            let event = tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                e = client.next_event() => e,
            };
            match event {
                Some(ServerFrame::Message(m)) => {
                    let seen = view.entry(m.room).or_default();
                    if let Some((last, _)) = seen.last() {
                        assert!(m.pos > *last, "room {}: {} after {last}", m.room, m.pos);
                    }
                    seen.push((m.pos, m.cmid));
                }
                Some(ServerFrame::RoomReset(r)) => rejoin(&mut client, r.room).await,
                Some(ServerFrame::Resume(r)) => {
                    assert_eq!(r.outcome, ResumeOutcome::Recovered, "room {}", r.room)
                }
                Some(_) => {}
                // The socket closed and every event it brought was read: reconnect and resume.
                None => reconnect(&mut client).await,
            }
        }
        view
    })
}

async fn rejoin(client: &mut Client, room: RoomId) {
    let mut last = None;
    for _ in 0..100 {
        let from = client.position(room).unwrap_or(Position::ZERO);
        match client.join(room, Some(from)).await {
            Ok(_) => return,
            // The socket went too (its node is being replaced): reconnecting resumes every
            // room, this one included.
            Err(switchboard_client::ClientError::Closed) => return reconnect(client).await,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("could not rejoin room {room}: {last:?}");
}

async fn reconnect(client: &mut Client) {
    let mut last = None;
    for _ in 0..100 {
        match client.reconnect().await {
            Ok(_) => return,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("could not reconnect: {last:?}");
}

/// Sends to `rooms` in turn until stopped, each message until it is acknowledged (the same
/// cmid again after a `busy`, a timeout or a reconnect). Returns what was acknowledged.
fn send_until(
    mut client: Client,
    name: String,
    rooms: Vec<RoomId>,
    every: Duration,
    stop: watch::Receiver<bool>,
) -> JoinHandle<Vec<(RoomId, String, Position)>> {
    tokio::spawn(async move {
        // Members post; the events this brings are left unread (the client buffers them).
        for &room in &rooms {
            client.join(room, None).await.expect("sender joins");
        }
        let mut acked = Vec::new();
        for i in 0.. {
            if *stop.borrow() {
                break;
            }
            let room = rooms[i % rooms.len()];
            let cmid = format!("{name}-{i}");
            let mut tries = 0;
            loop {
                tries += 1;
                assert!(tries < 200, "{cmid} never acknowledged");
                match client.send(room, &cmid, "load").await {
                    Ok(sent) => {
                        acked.push((room, cmid, sent.pos));
                        break;
                    }
                    Err(switchboard_client::ClientError::Closed) => reconnect(&mut client).await,
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
            tokio::time::sleep(every).await;
        }
        acked
    })
}

/// How strictly followers' views must match the store.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Views {
    /// Exactly the store's messages of each room, in order.
    Exact,
    /// The store's messages in order with nothing missing; besides them only copies that an
    /// owner delivered live and then crashed before storing, whose senders (never told
    /// "stored") sent them again: each has the cmid of a stored message.
    AllowCrashCopies,
}

/// Every acknowledged message is stored exactly once at its position, and every follower saw
/// the store's messages of each room in order (as `views` says). Returns (messages stored,
/// crash copies seen).
pub async fn verify(
    cluster: &Cluster,
    rooms: &[RoomId],
    views: &[View],
    acked: &[(RoomId, String, Position)],
    strict: Views,
) -> (usize, usize) {
    let store = cluster.store().await;
    let mut stored: HashMap<RoomId, Vec<(Position, String)>> = HashMap::new();
    for &room in rooms {
        stored.insert(room, cluster.stored(&store, room).await);
    }
    let index: HashMap<(RoomId, &str), Position> = stored
        .iter()
        .flat_map(|(room, msgs)| msgs.iter().map(move |(p, c)| ((*room, c.as_str()), *p)))
        .collect();
    for (room, cmid, pos) in acked {
        if index.get(&(*room, cmid.as_str())) != Some(pos) {
            cluster.dump_logs();
            panic!(
                "acknowledged {cmid} in room {room} at {pos} is not stored there; the room has {:?}",
                stored[room]
            );
        }
    }
    let mut copies = 0;
    for (i, view) in views.iter().enumerate() {
        for &room in rooms {
            let seen = view.get(&room).map(Vec::as_slice).unwrap_or_default();
            let want = &stored[&room];
            let (kept, extra): (Vec<_>, Vec<_>) = seen
                .iter()
                .cloned()
                .partition(|(p, c)| index.get(&(room, c.as_str())) == Some(p));
            let ok = match strict {
                Views::Exact => extra.is_empty() && kept == *want,
                Views::AllowCrashCopies => {
                    kept == *want
                        && extra
                            .iter()
                            .all(|(_, c)| index.contains_key(&(room, c.as_str())))
                }
            };
            if !ok {
                let missing: Vec<_> = want.iter().filter(|m| !kept.contains(m)).take(5).collect();
                cluster.dump_logs();
                panic!(
                    "follower {i}, room {room}: saw {} messages, store has {}; missing {missing:?}, not stored {:?}",
                    seen.len(),
                    want.len(),
                    &extra[..extra.len().min(5)]
                );
            }
            copies += extra.len();
        }
    }
    (stored.values().map(Vec::len).sum(), copies)
}

/// Followers and senders over some rooms, with their stop switches: senders stop first,
/// followers after the last messages had time to arrive.
pub struct Load {
    stop_senders: watch::Sender<bool>,
    stop_followers: watch::Sender<bool>,
    senders: Vec<JoinHandle<Vec<(RoomId, String, Position)>>>,
    followers: Vec<JoinHandle<View>>,
}

impl Load {
    /// A follower of `rooms` on each node of `followers_on`, and a sender to them (one
    /// message every `every`, in turn) on each node of `senders_on`. Users are new, named
    /// after `name`.
    pub async fn start(
        cluster: &Cluster,
        name: &str,
        rooms: &[RoomId],
        followers_on: &[usize],
        senders_on: &[usize],
        every: Duration,
    ) -> Load {
        let mut load = Load {
            stop_senders: watch::channel(false).0,
            stop_followers: watch::channel(false).0,
            senders: Vec::new(),
            followers: Vec::new(),
        };
        for &i in followers_on {
            let (_, token) = cluster.user(&format!("{name}-f{i}")).await;
            load.follow(cluster.client(i, &token).await, rooms.to_vec());
        }
        for &i in senders_on {
            let sender = format!("{name}-s{i}");
            let (_, token) = cluster.user(&sender).await;
            let client = cluster.client(i, &token).await;
            let stop = load.stop_senders.subscribe();
            load.senders
                .push(send_until(client, sender, rooms.to_vec(), every, stop));
        }
        load
    }

    /// Adds a follower on an existing client.
    pub fn follow(&mut self, client: Client, rooms: Vec<RoomId>) {
        let stop = self.stop_followers.subscribe();
        self.followers.push(follow(client, rooms, stop));
    }

    /// Stops the senders, gives the last messages `settle` to arrive, then stops the
    /// followers; returns what they saw and what was acknowledged.
    pub async fn finish(self, settle: Duration) -> (Vec<View>, Vec<(RoomId, String, Position)>) {
        let _ = self.stop_senders.send(true);
        let mut acked = Vec::new();
        for s in self.senders {
            acked.extend(s.await.expect("sender"));
        }
        tokio::time::sleep(settle).await;
        let _ = self.stop_followers.send(true);
        let mut views = Vec::new();
        for f in self.followers {
            views.push(f.await.expect("follower"));
        }
        (views, acked)
    }
}
