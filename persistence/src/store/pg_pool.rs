//! The Postgres connection pool: bb8 over bb8-postgres's manager, with a per-connection cache
//! of prepared statements so hot queries are parsed and planned once per connection.

use std::collections::HashMap;
use std::sync::Mutex;

use bb8::ManageConnection;
use bb8_postgres::PostgresConnectionManager;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Error, NoTls, Row, Statement};

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
    async fn statement(&self, sql: &'static str) -> Result<Statement, Error> {
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

    pub async fn query(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        if self.cache_statements {
            self.client.query(&self.statement(sql).await?, params).await
        } else {
            self.client.query(sql, params).await
        }
    }

    pub async fn query_opt(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error> {
        if self.cache_statements {
            self.client
                .query_opt(&self.statement(sql).await?, params)
                .await
        } else {
            self.client.query_opt(sql, params).await
        }
    }

    pub async fn query_one(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, Error> {
        if self.cache_statements {
            self.client
                .query_one(&self.statement(sql).await?, params)
                .await
        } else {
            self.client.query_one(sql, params).await
        }
    }

    pub async fn execute(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, Error> {
        if self.cache_statements {
            self.client
                .execute(&self.statement(sql).await?, params)
                .await
        } else {
            self.client.execute(sql, params).await
        }
    }
}
