//! A node run as a child process for a benchmark: a switchboard node with its own data
//! directory, or the floor server. Both are killed when dropped, so an error or Ctrl-C never
//! leaves one behind.

use std::time::Duration;

use anyhow::{Context as _, bail};
use futures::StreamExt;

pub struct Node {
    /// The node's data directory, removed when the node is dropped.
    _dir: tempfile::TempDir,
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
        let child = raised_limits(server)
            .arg("serve")
            .env("SWITCHBOARD_LISTEN", format!("127.0.0.1:{port}"))
            .env("SWITCHBOARD_DATA_DIR", dir.path())
            .env("SWITCHBOARD_SQLITE_DURABLE", durable.to_string())
            .env("SWITCHBOARD_LOG", "warn")
            .env("SWITCHBOARD_AUTH__ARGON2_MEMORY_KIB", "64")
            .env("SWITCHBOARD_AUTH__ARGON2_ITERATIONS", "1")
            .env("SWITCHBOARD_LIMITS__COMMANDS_PER_SEC", "100000")
            .env("SWITCHBOARD_LIMITS__COMMAND_BURST", "100000")
            // The room creator makes every room of a run; the limits are not what is measured.
            .env("SWITCHBOARD_LIMITS__USER_COMMANDS_PER_SEC", "100000")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {server} (build it with cargo build --release)"))?;
        let node = Node {
            _dir: dir,
            port,
            child,
            http: http_client(),
        };
        let ready = |n: &Node| {
            let probe = n.http.get(n.url("/healthz")).send();
            async move { probe.await.is_ok() }
        };
        node.ready_within_5s(ready, "node did not become ready")
            .await
    }

    /// Starts this binary's `floor-server` on a free port. It exits when its stdin closes.
    pub async fn start_floor() -> anyhow::Result<Node> {
        let dir = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let me = std::env::current_exe()?;
        let child = raised_limits(me.to_str().context("exe path")?)
            .args(["floor-server", "--listen", &format!("127.0.0.1:{port}")])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let node = Node {
            _dir: dir,
            port,
            child,
            http: http_client(),
        };
        let ready = |n: &Node| {
            let addr = n.addr();
            async move { tokio::net::TcpStream::connect(addr).await.is_ok() }
        };
        node.ready_within_5s(ready, "floor server did not start")
            .await
    }

    /// Returns the node once `ready` says so, polling every 25 ms for at most 5 s.
    async fn ready_within_5s<F, R>(self, ready: R, failure: &str) -> anyhow::Result<Node>
    where
        R: Fn(&Node) -> F,
        F: std::future::Future<Output = bool>,
    {
        for _ in 0..200 {
            if ready(&self).await {
                return Ok(self);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        bail!("{failure}")
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// SIGKILL, as a crash: no shutdown, no goodbye to the cluster.
    pub fn kill(&mut self) {
        let _ = self.child.start_kill();
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    /// Signs up `n` users named `{prefix}{i}`; their tokens, in order.
    pub async fn sign_up_many(&self, prefix: &str, n: usize) -> anyhow::Result<Vec<String>> {
        let users = sign_up(&self.http, &self.url(""), prefix, 0..n, &|| {}).await?;
        Ok(users.into_iter().map(|(token, _)| token).collect())
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

/// `program` run through `sh` with the open-file limit raised to 20,000 (the hard limit here),
/// or as far as the hard limit allows.
pub fn raised_limits(program: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -n 20000 2>/dev/null || ulimit -n \"$(ulimit -Hn)\"; exec \"$0\" \"$@\"")
        .arg(program);
    cmd
}

/// Signs up users `{prefix}{i}` for `i` in `range` through the node at `base`
/// (`http://host:port`): their tokens and user ids, in order. `tick` is called per user.
pub async fn sign_up(
    http: &reqwest::Client,
    base: &str,
    prefix: &str,
    range: std::ops::Range<usize>,
    tick: &(dyn Fn() + Sync),
) -> anyhow::Result<Vec<(String, u64)>> {
    let from = range.start;
    let results: Vec<anyhow::Result<(usize, String, u64)>> = futures::stream::iter(range)
        .map(|i| async move {
            let body =
                serde_json::json!({"name": format!("{prefix}{i}"), "password": "benchmark-pw"});
            let resp: serde_json::Value = http
                .post(format!("{base}/api/signup"))
                .json(&body)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let token = resp["token"].as_str().context("token")?.to_owned();
            let id = resp["user"]["id"].as_u64().context("user id")?;
            tick();
            Ok((i, token, id))
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let mut users = vec![(String::new(), 0); results.len()];
    for r in results {
        let (i, t, id) = r?;
        users[i - from] = (t, id);
    }
    Ok(users)
}

/// An HTTP client that keeps no idle connection, which a node would close (and log) after its
/// keep-alive timeout.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("an HTTP client without TLS builds")
}
