//! Cluster-wide counting through Redis. Events are counted in this node's table at once; a
//! background task pushes the new counts every `sync` interval (`INCRBY` on
//! `{prefix}:throttle:{class}:{subject}:{window}`, expiring after two windows) and takes back
//! the cluster-wide totals. So a subject's events on all nodes are refused at most one sync
//! interval's worth beyond the limit, and no event ever waits on Redis. While Redis is away
//! each node goes on counting its own events and pushes them once it is back.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;

use super::{Class, Push, Rules, Subject, Table, Throttle};
use crate::cluster::ClusterError;

pub struct RedisThrottle {
    table: Arc<Table>,
    /// The sync task, stopped with the throttle.
    sync: tokio::task::JoinHandle<()>,
}

impl RedisThrottle {
    /// Connects to `url`; every key starts with `prefix`, so clusters (and test runs) sharing
    /// a Redis never meet.
    pub async fn connect(
        url: &str,
        prefix: &str,
        rules: Rules,
        sync: Duration,
    ) -> Result<Self, ClusterError> {
        let (_, conn) = crate::cluster::redis_connect(url).await?;
        let table = Arc::new(Table::new(rules));
        let task = tokio::spawn(sync_loop(table.clone(), conn, prefix.to_owned(), sync));
        Ok(RedisThrottle { table, sync: task })
    }
}

impl Drop for RedisThrottle {
    fn drop(&mut self) {
        self.sync.abort();
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

async fn sync_loop(table: Arc<Table>, conn: ConnectionManager, prefix: String, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let pushes = table.take_pending();
        if pushes.is_empty() {
            continue;
        }
        let mut pipe = redis::pipe();
        for p in &pushes {
            let key = key(&prefix, p);
            pipe.incr(&key, p.pending)
                .pexpire(&key, (p.window_len.as_millis() * 2) as i64)
                .ignore();
        }
        // Bounded, so an unreachable Redis delays only the next push, never piles them up.
        let reply = tokio::time::timeout(
            every.max(Duration::from_millis(500)),
            pipe.query_async::<Vec<u64>>(&mut conn.clone()),
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
