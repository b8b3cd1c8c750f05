//! Configuration, layered: built-in defaults → TOML file → `SWITCHBOARD_*` environment
//! variables (nested fields joined by `__`, e.g. `SWITCHBOARD_LIMITS__MAX_TEXT_BYTES=4096`).
//! Every field is documented where it is declared; `switchboard config` prints the result.
//!
//! Each section is deserialised straight into the type its crate uses, so no setting is
//! copied field by field: `[limits]` is `engine::limits::Limits`, `[engine]` is
//! `actors::HubConfig`, `[cluster]` is `actors::ClusterConfig`, `[database]` is
//! `persistence::store::postgres::PostgresConfig`, `[write_behind]` is
//! `persistence::WriteBehindConfig`; `[cognito]` is `cognito::CognitoConfig`; `[media]` is
//! `media::MediaConfig`; `[http]`, `[auth]` and `[dashboard]` are declared here.
//! Every section refuses unknown keys.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use switchboard_actors::{ClusterConfig, HubConfig};
use switchboard_engine::limits::Limits;
use switchboard_media::MediaConfig;
use switchboard_persistence::WriteBehindConfig;
use switchboard_persistence::cluster::throttle::{Rule, Rules};
use switchboard_persistence::store::postgres::PostgresConfig;

use crate::cognito::CognitoConfig;

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
    /// `[http]`: the listener's timeouts and connection cap.
    pub http: HttpConfig,
    /// `[database]`: Postgres; unset `url` keeps the embedded SQLite store.
    pub database: PostgresConfig,
    /// `[cluster]`: membership and forwarding through Redis; unset `redis_url` runs one node.
    pub cluster: ClusterConfig,
    /// `[auth]`: who issues tokens, password hashing, sign-in rate limits.
    pub auth: AuthConfig,
    /// `[cognito]`: the user pool whose tokens are accepted, with `auth.provider = "cognito"`.
    pub cognito: CognitoConfig,
    /// `[limits]`: what every connection is held to (sizes, rates).
    pub limits: Limits,
    /// `[engine]`: the actors' queues, buffers and timeouts.
    pub engine: HubConfig,
    /// `[write_behind]`: batching of history into the store.
    pub write_behind: WriteBehindConfig,
    /// `[dashboard]`: the live dashboard.
    pub dashboard: DashboardConfig,
    /// `[media]`: where attachments live (local files or S3), signed URL lifetimes, limits.
    pub media: MediaConfig,
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

/// Who signs users up and in, and issues the tokens a node accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Local accounts in the node's store, HS256 tokens signed by the node (the embedded
    /// default): `/api/signup` and `/api/signin`.
    Local,
    /// An Amazon Cognito user pool (`[cognito]`): the node accepts the pool's RS256 ID and
    /// access tokens and creates a user on first sight of each; the local account routes are
    /// not served.
    Cognito,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// `local` (accounts in the store, the default) or `cognito` (tokens of the user pool in
    /// `[cognito]`).
    pub provider: Provider,
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
    /// Sign-in attempts for one account name from one source address per minute (sliding
    /// window, cluster-wide), right or wrong; beyond it that address is answered 429 (4000)
    /// for that name. The bound a guessing run meets (ARCHITECTURE §13).
    pub sign_in_per_name_addr_per_min: u32,
    /// Sign-in attempts per source address per minute, whatever the names (sliding window,
    /// cluster-wide); beyond it 429 (4000).
    pub sign_in_per_addr_per_min: u32,
    /// Sign-in attempts for one account name per minute from all addresses together (sliding
    /// window, cluster-wide). Beyond it attempts for that name are slowed, not refused (a
    /// refusal would let anyone lock the owner out): each waits `sign_in_slow_ms` before its
    /// password is checked, right or wrong alike.
    pub sign_in_per_name_per_min: u32,
    /// How long a sign-in for a name over `sign_in_per_name_per_min` waits, in milliseconds.
    pub sign_in_slow_ms: u64,
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

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".parse().expect("valid address"),
            data_dir: PathBuf::from("data"),
            sqlite_durable: true,
            log: "info".into(),
            log_format: LogFormat::Text,
            http: HttpConfig::default(),
            database: PostgresConfig::default(),
            cluster: ClusterConfig::default(),
            auth: AuthConfig::default(),
            cognito: CognitoConfig::default(),
            limits: Limits::default(),
            engine: HubConfig::default(),
            write_behind: WriteBehindConfig::default(),
            dashboard: DashboardConfig::default(),
            media: MediaConfig::default(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            provider: Provider::Local,
            token_ttl_secs: 24 * 3600,
            token_secret: None,
            argon2_memory_kib: 19456,
            argon2_iterations: 2,
            hash_concurrency: 0,
            hash_queue: 32,
            sign_in_per_name_addr_per_min: 10,
            sign_in_per_addr_per_min: 30,
            sign_in_per_name_per_min: 30,
            sign_in_slow_ms: 2000,
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
            user_searches: rule(self.limits.user_searches_per_min, 60),
            sign_in_name: rule(self.auth.sign_in_per_name_per_min, 60),
            sign_in_addr: rule(self.auth.sign_in_per_addr_per_min, 60),
            sign_in_name_addr: rule(self.auth.sign_in_per_name_addr_per_min, 60),
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
        for secret in [
            &mut c.auth.token_secret,
            &mut c.dashboard.admin_token,
            &mut c.media.local_secret,
            &mut c.media.s3.secret_access_key,
            &mut c.cognito.secret_access_key,
        ]
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
        let token = match (c.auth.provider, &c.auth.token_secret) {
            (Provider::Cognito, _) => format!(
                "cognito {} (keys {})",
                c.cognito.issuer(),
                c.cognito.jwks_url()
            ),
            (Provider::Local, Some(_)) => "local, secret from config".to_owned(),
            (Provider::Local, None) => "local, secret from data_dir/token.key".to_owned(),
        };
        let media = match c.media.backend {
            switchboard_media::Backend::Local => {
                format!("local {}", c.data_dir.join("media").display())
            }
            switchboard_media::Backend::S3 => format!(
                "s3 bucket {:?} ({})",
                c.media.s3.bucket,
                c.media.s3.endpoint.as_deref().unwrap_or(&c.media.s3.region)
            ),
        };
        format!(
            "listen {} | store {store} | cluster {cluster} | media {media} | tokens {token} | \
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

    /// The hub's settings: `[engine]`, with the `[limits]` every connection is held to.
    pub fn hub(&self) -> HubConfig {
        HubConfig {
            limits: self.limits.clone(),
            ..self.engine.clone()
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
            "cognito",
            "limits",
            "engine",
            "write_behind",
            "http",
            "dashboard",
            "media",
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

    /// Every key of the file format (README, ARCHITECTURE §10), each set to a value that is not
    /// its default. Tests built with the `testing` features also know `engine.fault_injection`.
    const EVERY_KEY: &str = r#"
listen = "127.0.0.1:9999"
data_dir = "/var/lib/sb"
sqlite_durable = false
log = "debug"
log_format = "json"

[http]
max_connections = 11
header_read_timeout_ms = 12
body_read_timeout_ms = 13
max_body_bytes = 14
idle_timeout_ms = 15

[database]
url = "postgres://sb@db:5432/sb"
pool_size = 21
connect_timeout_secs = 22
statement_cache = false
migrate_on_start = false

[cluster]
redis_url = "redis://cache:6379"
node_id = "n1"
advertise = "10.0.0.1:8080"
key_prefix = "sbx"
heartbeat_ms = 31
lease_ms = 32
poll_ms = 33
throttle_sync_ms = 34
reply_timeout_ms = 35
reply_hold_ms = 36

[auth]
provider = "cognito"
token_ttl_secs = 41
token_secret = "s"
argon2_memory_kib = 42
argon2_iterations = 43
hash_concurrency = 44
hash_queue = 45
sign_in_per_name_addr_per_min = 46
sign_in_per_addr_per_min = 47
sign_in_per_name_per_min = 128
sign_in_slow_ms = 129

[cognito]
region = "eu-west-1"
user_pool_id = "eu-west-1_pool"
client_id = "app"
issuer = "https://issuer.example"
jwks_url = "http://127.0.0.1:5000/eu-west-1_pool/.well-known/jwks.json"
endpoint = "http://127.0.0.1:5000"
skew_secs = 48
jwks_refetch_ms = 49
jwks_timeout_ms = 50
revoke_within_secs = 125
admin_checks = false
check_concurrency = 126
check_timeout_ms = 127
premium_group = "premium"
access_key_id = "cognito-AK"
secret_access_key = "cognito-SK"

[limits]
max_frame_bytes = 51
oversize_discard_bytes = 52
max_text_bytes = 53
max_cmid_bytes = 54
max_room_name_bytes = 55
max_history_page = 56
max_search_query_bytes = 57
max_presence_users = 58
commands_per_sec = 59
command_burst = 60
user_commands_per_sec = 61
introductions_per_min = 62
user_searches_per_min = 63
edit_window_secs = 64

[engine]
outbound_frames = 71
outbound_bytes = 72
room_buffer = 73
resume_limit = 74
member_events_max = 75
room_idle_secs = 76
typing_ttl_ms = 77
presence_recheck_ms = 78
room_mailbox = 79
room_restart_limit = 80
room_restart_window_secs = 81
auth_timeout_secs = 82
max_bad_frames = 83
close_timeout_ms = 84
shutdown_grace_secs = 85
store_timeout_ms = 86
commands_in_flight = 87
fault_injection = true
throttle_subjects = 88

[write_behind]
lanes = 91
max_batch = 92
commit_delay_ms = 93
max_queued = 94
max_queued_bytes = 95

[dashboard]
admin_token = "t"
interval_ms = 101

[media]
backend = "s3"
upload_url_secs = 111
download_url_secs = 112
unattached_secs = 113
sweep_interval_secs = 114
thumbnail_px = 115
thumbnail_concurrency = 117
public_url = "https://chat.example.com"
local_secret = "0123456789abcdef"
upload_timeout_secs = 116

[media.limits]
free_max_bytes = 121
premium_max_bytes = 122
allowed_types = ["image/png", "text/plain"]
uploads_per_day = 123
max_name_bytes = 124

[media.s3]
bucket = "attachments"
region = "eu-west-1"
endpoint = "http://127.0.0.1:9000"
path_style = false
access_key_id = "AK"
secret_access_key = "SK"
"#;

    /// Each key lands in a field and comes back out under the same name with the same value:
    /// a key without a field, a field without a key here, or a renamed key fails this.
    #[test]
    fn every_key_of_the_file_is_read_into_its_field() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("sb.toml", EVERY_KEY)?;
            let c = Config::load(Some(Path::new("sb.toml"))).map_err(|e| e.to_string())?;
            let written = toml::Table::try_from(&c).unwrap();
            assert_eq!(written, EVERY_KEY.parse::<toml::Table>().unwrap());
            // Durations in their units, and the hub sees `[limits]`.
            let hub = c.hub();
            assert_eq!(hub.room_idle, Duration::from_secs(76));
            assert_eq!(hub.typing_ttl, Duration::from_millis(77));
            assert_eq!(hub.limits, c.limits);
            assert_eq!(
                c.cluster.forward_limits().reply_timeout,
                Duration::from_millis(35)
            );
            assert_eq!(
                c.cluster.forward_limits().reply_hold,
                Duration::from_millis(36)
            );
            assert_eq!(c.database.connect_timeout, Duration::from_secs(22));
            assert_eq!(c.write_behind.commit_delay, Duration::from_millis(93));
            assert_eq!(c.cognito.jwks_refetch, Duration::from_millis(49));
            assert_eq!(c.cognito.revoke_within, Duration::from_secs(125));
            assert_eq!(c.cognito.check_timeout, Duration::from_millis(127));
            assert_eq!(c.media.upload_url, Duration::from_secs(111));
            assert_eq!(c.media.unattached, Duration::from_secs(113));
            Ok(())
        });
    }

    #[test]
    fn durations_come_from_the_environment_in_their_units() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SWITCHBOARD_ENGINE__CLOSE_TIMEOUT_MS", "3000");
            jail.set_env("SWITCHBOARD_ENGINE__SHUTDOWN_GRACE_SECS", "2");
            jail.set_env("SWITCHBOARD_CLUSTER__LEASE_MS", "700");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.engine.close_timeout, Duration::from_secs(3));
            assert_eq!(c.engine.shutdown_grace, Duration::from_secs(2));
            assert_eq!(c.cluster.lease, Duration::from_millis(700));
            Ok(())
        });
    }

    #[test]
    fn redacted_hides_passwords_in_both_urls() {
        let mut c = Config::default();
        c.database.url = Some("postgres://sb:pg-secret@db:5432/sb".into());
        c.cluster.redis_url = Some("redis://:redis-secret@cache:6379".into());
        c.auth.token_secret = Some("token-secret".into());
        c.dashboard.admin_token = Some("admin-secret".into());
        c.media.local_secret = Some("media-secret".into());
        c.media.s3.secret_access_key = Some("s3-secret".into());
        c.cognito.secret_access_key = Some("cognito-secret".into());
        let shown = format!("{}\n{:?}", c.summary(), c.redacted());
        for secret in [
            "pg-secret",
            "redis-secret",
            "token-secret",
            "admin-secret",
            "media-secret",
            "cognito-secret",
            "s3-secret",
        ] {
            assert!(!shown.contains(secret), "{secret} shown: {shown}");
        }
        assert!(shown.contains("db:5432/sb") && shown.contains("cache:6379"));
    }
}
