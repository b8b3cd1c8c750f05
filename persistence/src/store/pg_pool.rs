//! The Postgres connection pool: bb8 over bb8-postgres's manager, with a per-connection cache
//! of prepared statements so hot queries are parsed and planned once per connection.

use std::collections::HashMap;
use std::sync::Mutex;

use bb8::ManageConnection;
use bb8_postgres::PostgresConnectionManager;
use tokio_postgres::{Client, Error, NoTls, Statement};

/// bb8-postgres's manager, yielding connections that carry a statement cache.
pub struct CachingManager {
    pub(crate) inner: PostgresConnectionManager<NoTls>,
    pub(crate) cache_statements: bool,
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
        Ok(Conn {
            client: self.inner.connect().await?,
            cache_statements: self.cache_statements,
            statements: Mutex::default(),
        })
    }

    async fn is_valid(&self, conn: &mut Conn) -> Result<(), Error> {
        self.inner.is_valid(&mut conn.client).await
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
