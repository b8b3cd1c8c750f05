//! Membership in Redis: one sorted set per cluster, `{prefix}:members`, scored by each member's
//! lease expiry (ms since the Unix epoch), with the member's address in `{prefix}:addrs`.
//! Expired members are pruned on read, so a crashed node drops out within its lease.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use switchboard_engine::ring::NodeId;

use super::timed::{RedisOp, timed};
use super::{ClusterError, Member, Membership};

pub struct RedisMembership {
    conn: ConnectionManager,
    members_key: String,
    addrs_key: String,
    numbers_key: String,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl RedisMembership {
    /// Connects to `url` (e.g. `redis://127.0.0.1:6379`); every key starts with `prefix`, so
    /// clusters (and test runs) sharing a Redis never meet.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, ClusterError> {
        let (_, conn) = crate::cluster::redis_connect(url).await?;
        let [members_key, addrs_key, numbers_key] = RedisMembership::keys(prefix);
        Ok(RedisMembership {
            conn,
            members_key,
            addrs_key,
            numbers_key,
        })
    }

    /// Every key a cluster with this prefix keeps in Redis (its bus uses channels only), for
    /// tools and tests that remove a cluster's traces.
    pub fn keys(prefix: &str) -> [String; 3] {
        [
            format!("{prefix}:members"),
            format!("{prefix}:addrs"),
            format!("{prefix}:node_numbers"),
        ]
    }

    /// A number no other node start of this cluster got (a Redis counter): it keeps ids that
    /// nodes hand out, such as connection ids, apart.
    pub async fn node_number(&self) -> Result<u32, ClusterError> {
        let n: u64 = redis::cmd("INCR")
            .arg(&self.numbers_key)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(ClusterError::from)?;
        Ok((n % u64::from(u32::MAX)) as u32)
    }
}

#[async_trait]
impl Membership for RedisMembership {
    async fn heartbeat(&self, member: &Member, lease: Duration) -> Result<(), ClusterError> {
        let until = now_ms() + lease.as_millis() as u64;
        let mut conn = self.conn.clone();
        timed(
            RedisOp::Heartbeat,
            redis::pipe()
                .atomic()
                .zadd(&self.members_key, &member.node.0, until)
                .hset(&self.addrs_key, &member.node.0, &member.addr)
                .query_async::<()>(&mut conn),
        )
        .await
    }

    async fn leave(&self, node: &NodeId) -> Result<(), ClusterError> {
        let mut conn = self.conn.clone();
        timed(
            RedisOp::Leave,
            redis::pipe()
                .atomic()
                .zrem(&self.members_key, &node.0)
                .hdel(&self.addrs_key, &node.0)
                .query_async::<()>(&mut conn),
        )
        .await
    }

    async fn live(&self) -> Result<Vec<Member>, ClusterError> {
        let now = now_ms();
        let mut conn = self.conn.clone();
        let (_, names): ((), Vec<String>) = timed(
            RedisOp::Live,
            redis::pipe()
                .atomic()
                .zrembyscore(&self.members_key, "-inf", now)
                .zrangebyscore(&self.members_key, format!("({now}"), "+inf")
                .query_async(&mut conn),
        )
        .await?;
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let addrs: Vec<Option<String>> = timed(
            RedisOp::Live,
            redis::cmd("HMGET")
                .arg(&self.addrs_key)
                .arg(&names)
                .query_async(&mut conn),
        )
        .await?;
        let mut members: Vec<Member> = names
            .into_iter()
            .zip(addrs)
            .map(|(node, addr)| Member {
                node: NodeId(node),
                addr: addr.unwrap_or_default(),
            })
            .collect();
        members.sort();
        Ok(members)
    }
}
