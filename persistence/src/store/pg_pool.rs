//! The Postgres connection pool: bb8 over bb8-postgres's manager, with a per-connection cache
//! of prepared statements so hot queries are parsed and planned once per connection.
//!
//! A checkout fails as soon as a connection attempt made meanwhile fails, with the address
//! (never the password) and the cause: bb8 alone would wait out its whole connection timeout
//! (5 s) and then say only "Timed out in bb8", so writes retried during an outage came every
//! 5 s instead of on their backoff, and a node that could not reach Postgres at start said
//! neither where nor why.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bb8::{ManageConnection, Pool, PooledConnection};
use bb8_postgres::PostgresConnectionManager;
use tokio::sync::watch;
use tokio_postgres::{Client, Error, NoTls, Statement};

use super::StoreError;
use super::postgres::PostgresConfig;

/// Pause between connection attempts while a node starts (within `connect_timeout`).
const START_RETRY: Duration = Duration::from_millis(250);

/// bb8-postgres's manager, yielding connections that carry a statement cache, and telling
/// waiting checkouts when an attempt to connect fails.
pub struct CachingManager {
    inner: PostgresConnectionManager<NoTls>,
    cache_statements: bool,
    /// The latest failed connection attempt; every failure is announced.
    failed: watch::Sender<Option<Failure>>,
}

/// Why a connection attempt failed.
#[derive(Clone)]
struct Failure {
    cause: Arc<str>,
    /// The server answered with an error (authentication, unknown database): trying again
    /// will not help.
    answered: bool,
}

/// The pool, and where it connects to (for error messages).
pub struct PgPool {
    pool: Pool<CachingManager>,
    failed: watch::Sender<Option<Failure>>,
    /// `postgres://user@host:port/db`, without the password.
    target: String,
    /// `pool_size`: with this many connections open, a checkout that times out waited for a
    /// busy pool, not for a connection attempt.
    max_size: u32,
}

/// An error and its causes, e.g. "db error: FATAL: database \"x\" does not exist" or "error
/// connecting to server: Connection refused (os error 111)".
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// The connection target of `config` as a URL without the password.
fn target(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(host, port)| match host {
            Host::Tcp(name) => format!("{name}:{port}"),
            Host::Unix(path) => format!("{}:{port}", path.display()),
        })
        .collect();
    format!(
        "postgres://{}@{}/{}",
        config.get_user().unwrap_or_default(),
        hosts.join(","),
        config.get_dbname().unwrap_or_default()
    )
}

impl PgPool {
    /// Builds the pool and checks out one connection: retried for `connect_timeout` while
    /// the server cannot be reached (it may be starting), at once fatal when it answers with
    /// an error (authentication, unknown database).
    pub async fn connect(config: &PostgresConfig) -> Result<PgPool, StoreError> {
        let url = config
            .url
            .as_deref()
            .ok_or_else(|| StoreError::Backend("database.url is not set".into()))?;
        let mut parsed: tokio_postgres::Config = url
            .parse()
            .map_err(|e: Error| StoreError::Backend(format!("database.url: {}", chain(&e))))?;
        if parsed.get_connect_timeout().is_none() {
            // An unreachable (not refusing) server ends an attempt too, with a cause.
            parsed.connect_timeout(config.connect_timeout);
        }
        let (failed, _) = watch::channel(None);
        let manager = CachingManager {
            inner: PostgresConnectionManager::new(parsed.clone(), NoTls),
            cache_statements: config.statement_cache,
            failed: failed.clone(),
        };
        let pool = Pool::builder()
            .max_size(config.pool_size)
            .connection_timeout(config.connect_timeout)
            // One attempt per checkout: the caller decides when to try again.
            .retry_connection(false)
            .build_unchecked(manager);
        let pool = PgPool {
            pool,
            failed,
            target: target(&parsed),
            max_size: config.pool_size,
        };
        let started = Instant::now();
        loop {
            let e = match pool.get().await.map(drop) {
                Ok(()) => return Ok(pool),
                Err(e) => e,
            };
            let answered = pool.failed.borrow().as_ref().is_some_and(|f| f.answered);
            if answered || started.elapsed() + START_RETRY >= config.connect_timeout {
                return Err(e);
            }
            tokio::time::sleep(START_RETRY).await;
        }
    }

    /// A connection: at once from the idle ones, else when one is made or comes free. Fails
    /// when an attempt to connect fails meanwhile, or after `connect_timeout`: `Busy` when
    /// every connection was open and in use all along (the server is up, the pool saturated).
    pub async fn get(&self) -> Result<PooledConnection<'_, CachingManager>, StoreError> {
        // Sees only failures from now on.
        let mut failed = self.failed.subscribe();
        let last = || self.failed.borrow().as_ref().map(|f| f.cause.clone());
        tokio::select! {
            conn = self.pool.get() => conn.map_err(|e| match e {
                bb8::RunError::User(e) => self.unreachable(&chain(&e)),
                bb8::RunError::TimedOut if self.pool.state().connections >= self.max_size => {
                    StoreError::Busy
                }
                bb8::RunError::TimedOut => self.unreachable(
                    last().as_deref().unwrap_or("no connection within connect_timeout"),
                ),
            }),
            _ = failed.changed() => {
                Err(self.unreachable(last().as_deref().unwrap_or("connection failed")))
            }
        }
    }

    fn unreachable(&self, cause: &str) -> StoreError {
        StoreError::Backend(format!(
            "cannot connect to Postgres at {}: {cause}",
            self.target
        ))
    }
}

pub struct Conn {
    pub(crate) client: Client,
    cache_statements: bool,
    /// Prepared statements by SQL text. The lock guards a map lookup or insert only, never an
    /// `.await`.
    statements: Mutex<HashMap<&'static str, Statement>>,
}

impl ManageConnection for CachingManager {
    type Connection = Conn;
    type Error = Error;

    async fn connect(&self) -> Result<Conn, Error> {
        match self.inner.connect().await {
            Ok(client) => Ok(Conn {
                client,
                cache_statements: self.cache_statements,
                statements: Mutex::default(),
            }),
            Err(e) => {
                self.failed.send_replace(Some(Failure {
                    cause: chain(&e).into(),
                    answered: e.as_db_error().is_some(),
                }));
                Err(e)
            }
        }
    }

    /// Checked at every checkout without a round trip: a connection whose socket the server
    /// closed (a restart, a terminated backend) is seen closed, and only then is it queried,
    /// which fails with the cause. A round trip here doubled the cost of every query, and put
    /// a second wait on the server into every send's store check.
    async fn is_valid(&self, conn: &mut Conn) -> Result<(), Error> {
        if conn.client.is_closed() {
            return self.inner.is_valid(&mut conn.client).await;
        }
        Ok(())
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        self.inner.has_broken(&mut conn.client)
    }
}

impl Conn {
    /// The prepared statement for `sql`: from the cache, or prepared now (and cached when
    /// caching is on). Without the cache this is what `Client::query(&str, …)` does anyway.
    pub async fn statement(&self, sql: &'static str) -> Result<Statement, Error> {
        if !self.cache_statements {
            return self.client.prepare(sql).await;
        }
        if let Some(s) = self
            .statements
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(sql)
        {
            return Ok(s.clone());
        }
        let prepared = self.client.prepare(sql).await?;
        self.statements
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sql, prepared.clone());
        Ok(prepared)
    }
}
