//! The board in Redis: one key per node, `{prefix}:snapshot:{node}`, set with an expiry.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use redis::aio::ConnectionManager;
use switchboard_engine::ring::NodeId;

use super::Board;
use crate::cluster::ClusterError;
use crate::cluster::timed::{RedisOp, timed};

pub struct RedisBoard {
    conn: ConnectionManager,
    prefix: String,
}

impl RedisBoard {
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, ClusterError> {
        let (_, conn) = crate::cluster::redis_connect(url).await?;
        Ok(RedisBoard {
            conn,
            prefix: prefix.to_owned(),
        })
    }

    fn key(&self, node: &NodeId) -> String {
        format!("{}:snapshot:{}", self.prefix, node.0)
    }
}

#[async_trait]
impl Board for RedisBoard {
    async fn post(
        &self,
        node: &NodeId,
        snapshot: Bytes,
        ttl: Duration,
    ) -> Result<(), ClusterError> {
        let mut conn = self.conn.clone();
        timed(
            RedisOp::Snapshot,
            redis::cmd("SET")
                .arg(self.key(node))
                .arg(snapshot.as_ref())
                .arg("PX")
                .arg(ttl.as_millis().max(1) as u64)
                .query_async::<()>(&mut conn),
        )
        .await
    }

    async fn read(&self, nodes: &[NodeId]) -> Result<Vec<(NodeId, Bytes)>, ClusterError> {
        if nodes.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = nodes.iter().map(|n| self.key(n)).collect();
        let mut conn = self.conn.clone();
        let values: Vec<Option<Vec<u8>>> = timed(
            RedisOp::Snapshot,
            redis::cmd("MGET").arg(&keys).query_async(&mut conn),
        )
        .await?;
        Ok(nodes
            .iter()
            .zip(values)
            .filter_map(|(n, v)| v.map(|v| (n.clone(), Bytes::from(v))))
            .collect())
    }
}
