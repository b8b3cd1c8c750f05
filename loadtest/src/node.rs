//! A switchboard node run as a child process for a benchmark, with its own data directory.

use std::time::Duration;

use anyhow::{Context as _, bail};
use futures::StreamExt;

pub struct Node {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: tokio::process::Child,
    http: reqwest::Client,
}

impl Node {
    /// Starts `server serve` on a free port; cheap password hashing so sign-ups are fast.
    pub async fn start(server: &str, durable: bool) -> anyhow::Result<Node> {
        Node::start_with(server, durable, &[]).await
    }

    /// `start` with more settings, as `SWITCHBOARD_*` environment variables.
    pub async fn start_with(
        server: &str,
        durable: bool,
        env: &[(String, String)],
    ) -> anyhow::Result<Node> {
        let dir = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = tokio::process::Command::new(server)
            .arg("serve")
            .env("SWITCHBOARD_LISTEN", format!("127.0.0.1:{port}"))
            .env("SWITCHBOARD_DATA_DIR", dir.path())
            .env("SWITCHBOARD_SQLITE_DURABLE", durable.to_string())
            .env("SWITCHBOARD_LOG", "warn")
            .env("SWITCHBOARD_AUTH__ARGON2_MEMORY_KIB", "64")
            .env("SWITCHBOARD_AUTH__ARGON2_ITERATIONS", "1")
            .env("SWITCHBOARD_LIMITS__COMMANDS_PER_SEC", "100000")
            .env("SWITCHBOARD_LIMITS__COMMAND_BURST", "100000")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {server} (build it with cargo build --release)"))?;
        let node = Node {
            dir,
            port,
            child,
            http: reqwest::Client::new(),
        };
        for _ in 0..200 {
            if node.http.get(node.url("/healthz")).send().await.is_ok() {
                return Ok(node);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        bail!("node did not become ready")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    /// Signs up `n` users named `{prefix}{i}`; their tokens, in order.
    pub async fn sign_up_many(&self, prefix: &str, n: usize) -> anyhow::Result<Vec<String>> {
        let results: Vec<anyhow::Result<(usize, String)>> = futures::stream::iter(0..n)
            .map(|i| async move {
                let body =
                    serde_json::json!({"name": format!("{prefix}{i}"), "password": "benchmark-pw"});
                let resp: serde_json::Value = self
                    .http
                    .post(self.url("/api/signup"))
                    .json(&body)
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                let token = resp["token"].as_str().context("token")?.to_owned();
                Ok((i, token))
            })
            .buffer_unordered(32)
            .collect()
            .await;
        let mut tokens = vec![String::new(); n];
        for r in results {
            let (i, t) = r?;
            tokens[i] = t;
        }
        Ok(tokens)
    }

    /// The node's resident set size in KiB.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        let pid = self.child.id().context("node exited")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .context("VmRSS")
    }

    /// CPU seconds (user + system) the node has used so far.
    pub fn cpu_secs(&self) -> anyhow::Result<f64> {
        let pid = self.child.id().context("node exited")?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        let rest = stat.rsplit_once(')').context("stat")?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
        Ok(ticks / 100.0)
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            let _ = tokio::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await;
        Ok(())
    }
}
