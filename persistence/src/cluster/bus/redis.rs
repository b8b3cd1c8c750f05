//! Redis pub/sub bus.

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use redis::aio::ConnectionManager;
use switchboard_engine::ring::NodeId;

use super::Bus;
use crate::cluster::ClusterError;
use crate::cluster::timed::{RedisOp, timed};

/// Redis pub/sub: one channel per node, `{prefix}:inbox:{node}`.
pub struct RedisBus {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
}

impl RedisBus {
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, ClusterError> {
        let (client, conn) = crate::cluster::redis_connect(url).await?;
        Ok(RedisBus {
            client,
            conn,
            prefix: prefix.to_owned(),
        })
    }

    fn channel(&self, node: &NodeId) -> String {
        format!("{}:inbox:{}", self.prefix, node.0)
    }
}

#[async_trait]
impl Bus for RedisBus {
    async fn send(&self, node: &NodeId, frame: Bytes) -> Result<bool, ClusterError> {
        let mut conn = self.conn.clone();
        // PUBLISH answers how many subscribers received the message.
        let receivers = timed(
            RedisOp::Publish,
            redis::cmd("PUBLISH")
                .arg(self.channel(node))
                .arg(frame.as_ref())
                .query_async::<i64>(&mut conn),
        )
        .await?;
        Ok(receivers > 0)
    }

    async fn inbox(&self, node: &NodeId) -> Result<BoxStream<'static, Bytes>, ClusterError> {
        let mut pubsub = self
            .client
            .get_async_pubsub()
            .await
            .map_err(ClusterError::from)?;
        pubsub
            .subscribe(self.channel(node))
            .await
            .map_err(ClusterError::from)?;
        Ok(pubsub
            .into_on_message()
            .map(|m| Bytes::copy_from_slice(m.get_payload_bytes()))
            .boxed())
    }
}
