//! Test support: nodes on real sockets at 127.0.0.1:0, users, clients, event matchers.
#![allow(dead_code)]

pub mod cluster;
pub mod cognito;
pub mod media;
pub mod private_redis;
pub mod raw;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use switchboard::{Config, Node};
use switchboard_client::{Client, ClientConfig};
use switchboard_engine::UserId;
use switchboard_engine::protocol::ServerFrame;
use switchboard_persistence::store::scratch::{ScratchDatabase, admin_url};

pub struct TestNode {
    pub node: Node,
    pub dir: tempfile::TempDir,
}

/// A config for tests: ephemeral port, its own data dir, cheap password hashing.
pub fn config(dir: &std::path::Path) -> Config {
    let mut c = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        sqlite_durable: false,
        ..Config::default()
    };
    c.auth.argon2_memory_kib = 256;
    c.auth.argon2_iterations = 1;
    c.engine.fault_injection = true;
    c.engine.shutdown_grace = Duration::from_secs(2);
    c
}

pub async fn start(tune: impl FnOnce(&mut Config)) -> TestNode {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    tune(&mut c);
    let node = Node::start(c).await.expect("node starts");
    TestNode { node, dir }
}

/// A node on a Postgres database of its own (its name starts with `prefix`), and that
/// database, dropped when it is.
pub async fn start_on_postgres(prefix: &str) -> (ScratchDatabase, TestNode) {
    let db = ScratchDatabase::create(&admin_url(), prefix)
        .await
        .expect("Postgres must be running for these tests (ops/test.sh starts it)");
    let url = db.url.clone();
    let t = start(|c| c.database.url = Some(url)).await;
    (db, t)
}

static NAMES: AtomicU32 = AtomicU32::new(0);

impl TestNode {
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.node.addr)
    }

    pub fn http_url(&self) -> String {
        format!("http://{}", self.node.addr)
    }

    /// A new account: its id and a token.
    pub async fn user(&self) -> (UserId, String) {
        let name = format!("user{}", NAMES.fetch_add(1, Ordering::Relaxed));
        let s = self
            .node
            .accounts
            .sign_up(&name, "correct horse")
            .await
            .unwrap();
        (s.user.id, s.token)
    }

    pub async fn client(&self, token: &str) -> Client {
        Client::connect(&self.ws_url(), Some(token)).await.unwrap()
    }

    pub async fn client_with(&self, token: &str, tune: impl FnOnce(&mut ClientConfig)) -> Client {
        let mut c = ClientConfig::new(self.ws_url(), Some(token.to_owned()));
        tune(&mut c);
        Client::connect_with(c).await.unwrap()
    }

    /// A user with a connected client.
    pub async fn member(&self) -> (UserId, Client) {
        let (id, token) = self.user().await;
        (id, self.client(&token).await)
    }
}

/// Skips events until one matches, or panics after `wait`.
pub async fn expect<T>(
    client: &mut Client,
    wait: Duration,
    mut pick: impl FnMut(ServerFrame) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, client.next_event()).await {
            Ok(Some(frame)) => {
                if let Some(t) = pick(frame) {
                    return t;
                }
            }
            Ok(None) => panic!(
                "connection closed while waiting: {:?}",
                client.close_frame()
            ),
            Err(_) => panic!("no matching event within {wait:?}"),
        }
    }
}

/// Asserts no event matching `pick` arrives within `wait`.
pub async fn expect_none(
    client: &mut Client,
    wait: Duration,
    mut pick: impl FnMut(&ServerFrame) -> bool,
) {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, client.next_event()).await {
            Ok(Some(frame)) => assert!(!pick(&frame), "unexpected event: {frame:?}"),
            Ok(None) | Err(_) => return,
        }
    }
}

pub const WAIT: Duration = Duration::from_secs(5);
