//! A Redis server of one test's own (a free port, nothing saved), which the test may stop and
//! start again.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::cluster::{Reaped, free_port};

/// A Redis of one test's own, so stopping it disturbs no other test.
pub struct PrivateRedis {
    pub port: u16,
    dir: tempfile::TempDir,
    server: Option<Reaped>,
}

impl PrivateRedis {
    pub async fn start() -> PrivateRedis {
        let mut redis = PrivateRedis {
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            server: None,
        };
        redis.up().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again); returns once it answers.
    pub async fn up(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (ops/test.sh installs it)");
        self.server = Some(Reaped(child));
        let client = redis::Client::open(self.url()).unwrap();
        let started = Instant::now();
        while client.get_multiplexed_async_connection().await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "redis never started"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Kills the server (its data goes with it: nothing is saved).
    pub fn down(&mut self) {
        self.server = None;
    }
}
