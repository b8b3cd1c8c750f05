//! Configuration, layered: built-in defaults → TOML file → `SWITCHBOARD_*` environment
//! variables (nested fields joined by `__`, e.g. `SWITCHBOARD_LIMITS__MAX_TEXT_BYTES=4096`).
//! Every field is documented where it is declared; `switchboard config` prints the result.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use switchboard_actors::HubConfig;
use switchboard_actors::cluster::ForwardLimits;
use switchboard_engine::limits::Limits;
use switchboard_persistence::WriteBehindConfig;
use switchboard_persistence::cluster::throttle::{Rule, Rules};
use switchboard_persistence::store::postgres::PostgresConfig;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP and WebSocket server listens on.
    pub listen: SocketAddr,
    /// Directory for the embedded store (`switchboard.sqlite3`) and the token key.
    pub data_dir: PathBuf,
    /// SQLite `synchronous = FULL` (survives power loss) rather than `NORMAL` (survives a crash).
    pub sqlite_durable: bool,
    /// Log filter in `tracing` syntax, e.g. `info` or `switchboard=debug,info`.
    pub log: String,
    /// `text` (plain lines; coloured only when stderr is a terminal) or `json` (one JSON object
    /// per line, for log collectors).
    pub log_format: LogFormat,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub cluster: ClusterConfig,
    pub auth: AuthConfig,
    pub limits: Limits,
    pub engine: EngineConfig,
    pub write_behind: WriteBehindSettings,
    pub dashboard: DashboardConfig,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The HTTP listener: how long a client may take, and how many sockets the node holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Most open connections (HTTP and WebSocket together). Beyond it a new connection is
    /// answered 503 (code 4001) and closed. Keep it below the process's open-file limit less
    /// what the store and the cluster use (about a hundred).
    pub max_connections: usize,
    /// Milliseconds a connection may take to send a complete request head, counted from when
    /// it opens or its previous response was sent; this is also how long an idle keep-alive
    /// connection stays open. Closed without an answer after it.
    pub header_read_timeout_ms: u64,
    /// Milliseconds a request body may take to arrive in full (answered 408 after it).
    pub body_read_timeout_ms: u64,
    /// Largest request body read, in bytes (answered 413 beyond). API bodies are a few hundred
    /// bytes of JSON.
    pub max_body_bytes: usize,
    /// Milliseconds a connection that has not upgraded to a WebSocket may go without reading
    /// or writing a byte (e.g. a client that stops reading its response). Closed after it.
    pub idle_timeout_ms: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            // The brief's machine allows 20,000 open files per process.
            max_connections: 19_000,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 10_000,
            max_body_bytes: 16 * 1024,
            idle_timeout_ms: 30_000,
        }
    }
}

/// Postgres, for production. Unset `url` keeps the embedded SQLite store.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// e.g. `postgres://switchboard@db.internal:5432/switchboard`. When set, all durable state
    /// lives in Postgres.
    pub url: Option<String>,
    /// Connections in the pool.
    pub pool_size: u32,
    /// Seconds to wait for a pooled connection while every one is busy, and for one attempt
    /// to connect. A checkout fails at once when an attempt fails (refused, authentication,
    /// unknown database), naming the address and the cause; at start-up an unreachable server
    /// is tried again for this long.
    pub connect_timeout_secs: u64,
    /// Prepare hot statements once per pooled connection.
    pub statement_cache: bool,
    /// Apply pending schema migrations at start-up. Turn off when migrating separately with
    /// `switchboard migrate`.
    pub migrate_on_start: bool,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: None,
            pool_size: 16,
            connect_timeout_secs: 5,
            statement_cache: true,
            migrate_on_start: true,
        }
    }
}

impl DatabaseConfig {
    pub fn postgres(&self) -> Option<PostgresConfig> {
        self.url.as_ref().map(|url| PostgresConfig {
            url: url.clone(),
            pool_size: self.pool_size,
            connect_timeout: Duration::from_secs(self.connect_timeout_secs),
            statement_cache: self.statement_cache,
        })
    }
}

/// Cluster membership through Redis. Unset `redis_url` runs a single node.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// e.g. `redis://127.0.0.1:6379`. When set, the node registers itself and tracks the ring.
    pub redis_url: Option<String>,
    /// This node's id; defaults to the listen address.
    pub node_id: Option<String>,
    /// The address other nodes reach this one at; defaults to the listen address.
    pub advertise: Option<String>,
    /// Prefix of every Redis key, so clusters sharing a Redis never meet.
    pub key_prefix: String,
    /// Milliseconds between lease renewals.
    pub heartbeat_ms: u64,
    /// Lease length in milliseconds: a node that stops renewing drops out after it.
    pub lease_ms: u64,
    /// Milliseconds between reads of the member list (crash detection ≤ lease + poll).
    pub poll_ms: u64,
    /// Milliseconds between pushes of this node's rate-limit counts to Redis. A user, name or
    /// address can exceed a cluster-wide limit by at most this long's worth of events per node.
    pub throttle_sync_ms: u64,
    /// Milliseconds a node waits for the reply to a command it forwarded to a room's owner;
    /// then the client gets 4001 `busy` (and a later reply is dropped). Also the bound on a
    /// command lost with a crashed node or a Redis outage.
    pub reply_timeout_ms: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        let t = switchboard_actors::cluster::ClusterTiming::default();
        ClusterConfig {
            redis_url: None,
            node_id: None,
            advertise: None,
            key_prefix: "switchboard".into(),
            heartbeat_ms: t.heartbeat.as_millis() as u64,
            lease_ms: t.lease.as_millis() as u64,
            poll_ms: t.poll.as_millis() as u64,
            throttle_sync_ms: 100,
            reply_timeout_ms: ForwardLimits::default().reply_timeout.as_millis() as u64,
        }
    }
}

impl ClusterConfig {
    pub fn timing(&self) -> switchboard_actors::cluster::ClusterTiming {
        switchboard_actors::cluster::ClusterTiming {
            heartbeat: Duration::from_millis(self.heartbeat_ms),
            lease: Duration::from_millis(self.lease_ms),
            poll: Duration::from_millis(self.poll_ms),
        }
    }

    pub fn forward_limits(&self) -> ForwardLimits {
        ForwardLimits {
            reply_timeout: Duration::from_millis(self.reply_timeout_ms),
            ..ForwardLimits::default()
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Lifetime of issued tokens, in seconds.
    pub token_ttl_secs: u64,
    /// HS256 signing secret. When unset, one is generated into `<data_dir>/token.key` on first
    /// start and reused. Set the same secret on every node of a cluster.
    pub token_secret: Option<String>,
    /// Argon2id memory cost in KiB for password hashes (OWASP minimum: 19456).
    pub argon2_memory_kib: u32,
    /// Argon2id passes.
    pub argon2_iterations: u32,
    /// Password hashes (sign-up, sign-in) computed at once; 0 means one per CPU core. Each
    /// holds `argon2_memory_kib` for the node's life, so hashing memory is at most
    /// `hash_concurrency × argon2_memory_kib` (about 38 MiB on 2 cores by default).
    pub hash_concurrency: usize,
    /// Requests waiting for a hashing slot; beyond it sign-up and sign-in answer 429 (4000).
    pub hash_queue: usize,
    /// Sign-in attempts per account name per minute (sliding window, cluster-wide), right or
    /// wrong; beyond it 429 (4000).
    pub sign_in_per_name_per_min: u32,
    /// Sign-in attempts per source address per minute (sliding window, cluster-wide); beyond
    /// it 429 (4000).
    pub sign_in_per_addr_per_min: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Most frames queued to one connection before it is disconnected as slow (close 4008).
    pub outbound_frames: usize,
    /// Most bytes queued to one connection before it is disconnected as slow (close 4008).
    pub outbound_bytes: usize,
    /// Recent messages each active room keeps in memory for resume and deduplication.
    pub room_buffer: usize,
    /// Most missed messages a resume replays; beyond it the client is told to reload.
    pub resume_limit: usize,
    /// Rooms with more members than this do not announce `member_joined`/`member_left`.
    pub member_events_max: usize,
    /// Seconds a room with no subscribers stays active.
    pub room_idle_secs: u64,
    /// Milliseconds a `typing {active: true}` lasts without a repeat; then the room tells the
    /// others `active: false` (also at once when the typer's last connection leaves).
    pub typing_ttl_ms: u64,
    /// Milliseconds a presence watcher's right to see a user (a shared room) is trusted
    /// before it is checked again when a change is to be announced to it.
    pub presence_recheck_ms: u64,
    /// Mailbox capacity of each room actor; senders wait while it is full.
    pub room_mailbox: usize,
    /// Restarts of a panicking room allowed within `room_restart_window_secs`.
    pub room_restart_limit: u32,
    pub room_restart_window_secs: u64,
    /// Seconds a new connection may take to authenticate (close 4001 after).
    pub auth_timeout_secs: u64,
    /// Malformed frames in a row before the connection is closed (close 4009).
    pub max_bad_frames: u32,
    /// Milliseconds a closing connection may take to write its final `disconnect` and close
    /// frames (behind whatever the client has not read yet) before the socket is dropped.
    pub close_timeout_ms: u64,
    /// Seconds shutdown waits for connections to close before stopping anyway.
    pub shutdown_grace_secs: u64,
    /// Milliseconds a command may wait on the store (its reads, an inactive room's load)
    /// before it is answered 4001 `busy`. The connection keeps delivering meanwhile.
    pub store_timeout_ms: u64,
    /// Commands one connection may have waiting on the store or on other actors at once
    /// (running, or queued behind an earlier one for the same room); beyond it 4001 `busy`.
    pub commands_in_flight: usize,
    /// Test-only fault injection (room panics). Never enable in production.
    pub fault_injection: bool,
    /// Subjects (users, sign-in names, source addresses) each rate-limit table tracks. When
    /// one is full of subjects active within their window, new ones are refused with 4000
    /// until some lapse (about 100 bytes each).
    pub throttle_subjects: usize,
}

/// The live dashboard (`/dashboard`, its data at `/api/dashboard`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DashboardConfig {
    /// When set, `/api/dashboard` answers only requests carrying `Authorization: Bearer
    /// <admin_token>` (401, code 2000, otherwise); the page asks for the token. Unset, the
    /// dashboard is open to anyone who reaches the node. `/metrics` is not covered.
    pub admin_token: Option<String>,
    /// Milliseconds between two snapshots of this node's numbers (posted for the other nodes,
    /// and the span its rates are measured over), at least 100. A node's snapshot lapses
    /// after three.
    pub interval_ms: u64,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            admin_token: None,
            interval_ms: 1000,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WriteBehindSettings {
    /// Independent batch writers (rooms are spread over them; each keeps its rooms in order).
    pub lanes: usize,
    /// Most messages in one committed batch.
    pub max_batch: usize,
    /// Milliseconds a message may wait for its batch to be cut.
    pub flush_interval_ms: u64,
    /// Most messages waiting to be stored; beyond it sends are refused with `busy` (4001).
    pub max_queued: usize,
    /// Most message bytes waiting to be stored; beyond it sends are refused with `busy`.
    pub max_queued_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".parse().expect("valid address"),
            data_dir: PathBuf::from("data"),
            sqlite_durable: true,
            log: "info".into(),
            log_format: LogFormat::Text,
            http: HttpConfig::default(),
            database: DatabaseConfig::default(),
            cluster: ClusterConfig::default(),
            auth: AuthConfig::default(),
            limits: Limits::default(),
            engine: EngineConfig::default(),
            write_behind: WriteBehindSettings::default(),
            dashboard: DashboardConfig::default(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            token_ttl_secs: 24 * 3600,
            token_secret: None,
            argon2_memory_kib: 19456,
            argon2_iterations: 2,
            hash_concurrency: 0,
            hash_queue: 32,
            sign_in_per_name_per_min: 10,
            sign_in_per_addr_per_min: 30,
        }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        let hub = HubConfig::default();
        EngineConfig {
            outbound_frames: hub.outbound_frames,
            outbound_bytes: hub.outbound_bytes,
            room_buffer: hub.room_buffer,
            resume_limit: hub.resume_limit,
            member_events_max: hub.member_events_max,
            room_idle_secs: hub.room_idle.as_secs(),
            typing_ttl_ms: hub.typing_ttl.as_millis() as u64,
            presence_recheck_ms: hub.presence_recheck.as_millis() as u64,
            room_mailbox: hub.room_mailbox,
            room_restart_limit: hub.room_restart_limit,
            room_restart_window_secs: hub.room_restart_window.as_secs(),
            auth_timeout_secs: hub.auth_timeout.as_secs(),
            max_bad_frames: hub.max_bad_frames,
            close_timeout_ms: hub.close_timeout.as_millis() as u64,
            shutdown_grace_secs: 10,
            store_timeout_ms: hub.store_timeout.as_millis() as u64,
            commands_in_flight: hub.commands_in_flight,
            fault_injection: false,
            throttle_subjects: 100_000,
        }
    }
}

impl Default for WriteBehindSettings {
    fn default() -> Self {
        let wb = WriteBehindConfig::default();
        WriteBehindSettings {
            lanes: wb.lanes,
            max_batch: wb.max_batch,
            flush_interval_ms: wb.flush_interval.as_millis() as u64,
            max_queued: wb.max_queued,
            max_queued_bytes: wb.max_queued_bytes,
        }
    }
}

impl Config {
    /// The rate limits counted per user, name and address.
    pub fn throttle_rules(&self) -> Rules {
        let rule = |max, secs| Rule {
            max,
            window: Duration::from_secs(secs),
        };
        Rules {
            commands: rule(self.limits.user_commands_per_sec, 1),
            introductions: rule(self.limits.introductions_per_min, 60),
            sign_in_name: rule(self.auth.sign_in_per_name_per_min, 60),
            sign_in_addr: rule(self.auth.sign_in_per_addr_per_min, 60),
            max_subjects: self.engine.throttle_subjects,
        }
    }

    /// Defaults, then the file (if given), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment
            // The CLI's own variables are not configuration fields.
            .merge(
                Env::prefixed("SWITCHBOARD_")
                    .ignore(&["config", "password"])
                    .split("__"),
            )
            .extract()
            .map_err(Box::new)
    }

    /// This configuration with secrets blanked, for printing.
    pub fn redacted(&self) -> Config {
        let mut c = self.clone();
        for secret in [&mut c.auth.token_secret, &mut c.dashboard.admin_token]
            .into_iter()
            .filter(|s| s.is_some())
        {
            *secret = Some("<redacted>".into());
        }
        // Keep the host and database, never a password: both URLs may carry one.
        for url in [&mut c.database.url, &mut c.cluster.redis_url]
            .into_iter()
            .flatten()
        {
            if let Some((scheme, rest)) = url.split_once("://")
                && let Some((_, host)) = rest.rsplit_once('@')
            {
                *url = format!("{scheme}://<redacted>@{host}");
            }
        }
        c
    }

    /// One line for the log at start-up: what this node runs on, without secrets.
    pub fn summary(&self) -> String {
        let c = self.redacted();
        let store = match &c.database.url {
            Some(url) => format!("postgres {url} (pool {})", c.database.pool_size),
            None => format!(
                "sqlite {} (durable {})",
                c.data_dir.join("switchboard.sqlite3").display(),
                c.sqlite_durable
            ),
        };
        let cluster = match &c.cluster.redis_url {
            Some(url) => format!("redis {url} prefix {:?}", c.cluster.key_prefix),
            None => "single node".to_owned(),
        };
        let token = if c.auth.token_secret.is_some() {
            "from config"
        } else {
            "from data_dir/token.key"
        };
        format!(
            "listen {} | store {store} | cluster {cluster} | token secret {token} | \
             max_connections {} | frame {} B, text {} B, {} commands/s | log {:?} {}",
            c.listen,
            c.http.max_connections,
            c.limits.max_frame_bytes,
            c.limits.max_text_bytes,
            c.limits.commands_per_sec,
            c.log,
            match c.log_format {
                LogFormat::Text => "text",
                LogFormat::Json => "json",
            },
        )
    }

    pub fn hub(&self) -> HubConfig {
        let e = &self.engine;
        HubConfig {
            limits: self.limits.clone(),
            outbound_frames: e.outbound_frames,
            outbound_bytes: e.outbound_bytes,
            room_buffer: e.room_buffer,
            resume_limit: e.resume_limit,
            member_events_max: e.member_events_max,
            room_idle: Duration::from_secs(e.room_idle_secs),
            typing_ttl: Duration::from_millis(e.typing_ttl_ms),
            presence_recheck: Duration::from_millis(e.presence_recheck_ms),
            room_mailbox: e.room_mailbox,
            room_restart_limit: e.room_restart_limit,
            room_restart_window: Duration::from_secs(e.room_restart_window_secs),
            auth_timeout: Duration::from_secs(e.auth_timeout_secs),
            max_bad_frames: e.max_bad_frames,
            close_timeout: Duration::from_millis(e.close_timeout_ms),
            store_check_timeout: HubConfig::default().store_check_timeout,
            store_timeout: Duration::from_millis(e.store_timeout_ms),
            commands_in_flight: e.commands_in_flight,
            fault_injection: e.fault_injection,
        }
    }

    pub fn write_behind(&self) -> WriteBehindConfig {
        let w = &self.write_behind;
        WriteBehindConfig {
            lanes: w.lanes,
            max_batch: w.max_batch,
            flush_interval: Duration::from_millis(w.flush_interval_ms),
            max_queued: w.max_queued,
            max_queued_bytes: w.max_queued_bytes,
            ..WriteBehindConfig::default()
        }
    }
}

#[cfg(test)]
// figment's `Jail` fixes the closure's error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "sb.toml",
                "listen = \"127.0.0.1:9999\"\n[limits]\nmax_text_bytes = 100\n",
            )?;
            jail.set_env("SWITCHBOARD_LIMITS__MAX_TEXT_BYTES", "200");
            let c = Config::load(Some(Path::new("sb.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(c.listen.port(), 9999);
            assert_eq!(c.limits.max_text_bytes, 200);
            assert_eq!(c.limits.max_cmid_bytes, Limits::default().max_cmid_bytes);
            Ok(())
        });
    }

    /// Every section of the configuration, as the defaults serialise it (so a new section is
    /// covered without editing this test).
    fn sections() -> Vec<String> {
        let defaults = toml::Table::try_from(Config::default()).unwrap();
        let sections: Vec<String> = defaults
            .iter()
            .filter(|(_, v)| v.is_table())
            .map(|(k, _)| k.clone())
            .collect();
        for expected in [
            "database",
            "cluster",
            "auth",
            "limits",
            "engine",
            "write_behind",
            "http",
            "dashboard",
        ] {
            assert!(sections.iter().any(|s| s == expected), "{expected} missing");
        }
        sections
    }

    #[test]
    fn unknown_keys_in_the_file_are_rejected_in_every_section() {
        let mut files = vec!["lisen = \"127.0.0.1:1\"\n".to_owned()];
        files.extend(
            sections()
                .iter()
                .map(|s| format!("[{s}]\nno_such_key = 1\n")),
        );
        for file in files {
            figment::Jail::expect_with(|jail| {
                jail.create_file("sb.toml", &file)?;
                let loaded = Config::load(Some(Path::new("sb.toml")));
                assert!(loaded.is_err(), "accepted: {file}");
                Ok(())
            });
        }
    }

    #[test]
    fn unknown_keys_in_the_environment_are_rejected_in_every_section() {
        let mut vars = vec!["SWITCHBOARD_NO_SUCH_KEY".to_owned()];
        vars.extend(
            sections()
                .iter()
                .map(|s| format!("SWITCHBOARD_{}__NO_SUCH_KEY", s.to_uppercase())),
        );
        // The typo the issue found, one letter short of `max_text_bytes`.
        vars.push("SWITCHBOARD_LIMITS__MAX_TEXT_BYTE".to_owned());
        for var in vars {
            figment::Jail::expect_with(|jail| {
                jail.set_env(&var, "5");
                assert!(Config::load(None).is_err(), "accepted: {var}");
                Ok(())
            });
        }
    }

    #[test]
    fn redacted_hides_passwords_in_both_urls() {
        let mut c = Config::default();
        c.database.url = Some("postgres://sb:pg-secret@db:5432/sb".into());
        c.cluster.redis_url = Some("redis://:redis-secret@cache:6379".into());
        c.auth.token_secret = Some("token-secret".into());
        c.dashboard.admin_token = Some("admin-secret".into());
        let shown = format!("{}\n{:?}", c.summary(), c.redacted());
        for secret in ["pg-secret", "redis-secret", "token-secret", "admin-secret"] {
            assert!(!shown.contains(secret), "{secret} shown: {shown}");
        }
        assert!(shown.contains("db:5432/sb") && shown.contains("cache:6379"));
    }
}
