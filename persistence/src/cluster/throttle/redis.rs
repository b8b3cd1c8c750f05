//! Cluster-wide counting through Redis. Events are counted in this node's table at once; a
//! background task ([`ThrottleSync`]) pushes the new counts every `sync` interval (`INCRBY` on
//! `{prefix}:throttle:{class}:{subject}:{window}`, expiring after two windows) and takes back
//! the cluster-wide totals. So a subject's events on all nodes are refused at most one sync
//! interval's worth beyond the limit, and no event ever waits on Redis. While Redis is away
//! each node goes on counting its own events and pushes them once it is back.

use std::sync::{Arc, Weak};
use std::time::Duration;

use redis::aio::ConnectionManager;

use super::{Class, Push, Rules, Subject, Table, Throttle};
use crate::cluster::ClusterError;

pub struct RedisThrottle {
    table: Arc<Table>,
}

/// The sync task of one [`RedisThrottle`], for its owner to run (and watch: a sync that died
/// would leave every node counting alone). Clones make further runs of the same task.
#[derive(Clone)]
pub struct ThrottleSync {
    table: Weak<Table>,
    conn: ConnectionManager,
    prefix: Arc<str>,
    every: Duration,
}

impl RedisThrottle {
    /// Connects to `url`; every key starts with `prefix`, so clusters (and test runs) sharing
    /// a Redis never meet. Counts reach the cluster only while the returned sync runs.
    pub async fn connect(
        url: &str,
        prefix: &str,
        rules: Rules,
        sync: Duration,
    ) -> Result<(Self, ThrottleSync), ClusterError> {
        let (_, conn) = crate::cluster::redis_connect(url).await?;
        let table = Arc::new(Table::new(rules));
        let sync = ThrottleSync {
            table: Arc::downgrade(&table),
            conn,
            prefix: prefix.into(),
            every: sync,
        };
        Ok((RedisThrottle { table }, sync))
    }
}

impl Throttle for RedisThrottle {
    fn hit(&self, class: Class, subject: &Subject) -> bool {
        self.table.hit(class, subject)
    }
}

fn key(prefix: &str, p: &Push) -> String {
    format!(
        "{prefix}:throttle:{}:{}:{}",
        p.class.label(),
        p.subject,
        p.window
    )
}

impl ThrottleSync {
    /// Whether its throttle still exists: the sync has nothing to do once it is dropped.
    pub fn is_live(&self) -> bool {
        self.table.strong_count() > 0
    }

    /// Pushes counts every `sync` interval until the throttle is dropped.
    pub async fn run(self) {
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(table) = self.table.upgrade() else {
                return;
            };
            self.push(&table).await;
        }
    }

    async fn push(&self, table: &Table) {
        let pushes = table.take_pending();
        if pushes.is_empty() {
            return;
        }
        let mut pipe = redis::pipe();
        for p in &pushes {
            let key = key(&self.prefix, p);
            pipe.incr(&key, p.pending)
                .pexpire(&key, (p.window_len.as_millis() * 2) as i64)
                .ignore();
        }
        // Bounded, so an unreachable Redis delays only the next push, never piles them up.
        let reply = tokio::time::timeout(
            self.every.max(Duration::from_millis(500)),
            pipe.query_async::<Vec<u64>>(&mut self.conn.clone()),
        )
        .await;
        let totals = match reply {
            Ok(Ok(totals)) if totals.len() == pushes.len() => Some(totals),
            Ok(Ok(_)) | Err(_) => None,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "throttle sync failed; counting locally");
                None
            }
        };
        for (i, p) in pushes.into_iter().enumerate() {
            let total = totals
                .as_ref()
                .map(|t| u32::try_from(t[i]).unwrap_or(u32::MAX));
            table.settle(p, total);
        }
    }
}
