//! `Bus`: node-to-node delivery of opaque frames. A node subscribes to its own inbox; any node
//! can send to it. Delivery is at most once and in order per sender (Redis pub/sub, or an
//! in-process channel); callers that need more (positions, resume) build it on top.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use redis::aio::ConnectionManager;
use switchboard_engine::ring::NodeId;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::ClusterError;

#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Sends `frame` to `node`'s inbox. Dropped silently if nobody listens there.
    async fn send(&self, node: &NodeId, frame: Bytes) -> Result<(), ClusterError>;
    /// This node's inbox. Subscribing again replaces the previous subscription.
    async fn inbox(&self, node: &NodeId) -> Result<BoxStream<'static, Bytes>, ClusterError>;
}

/// In-process bus: the embedded default and tests. Each inbox is bounded (`capacity`); a full
/// inbox drops the frame, as Redis does for a slow subscriber.
pub struct LocalBus {
    capacity: usize,
    inboxes: Mutex<HashMap<NodeId, mpsc::Sender<Bytes>>>,
}

impl LocalBus {
    pub fn new(capacity: usize) -> Self {
        LocalBus {
            capacity: capacity.max(1),
            inboxes: Mutex::default(),
        }
    }
}

#[async_trait]
impl Bus for LocalBus {
    async fn send(&self, node: &NodeId, frame: Bytes) -> Result<(), ClusterError> {
        let inbox = self
            .inboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(node)
            .cloned();
        if let Some(tx) = inbox {
            let _ = tx.try_send(frame);
        }
        Ok(())
    }

    async fn inbox(&self, node: &NodeId) -> Result<BoxStream<'static, Bytes>, ClusterError> {
        let (tx, rx) = mpsc::channel(self.capacity);
        self.inboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(node.clone(), tx);
        Ok(ReceiverStream::new(rx).boxed())
    }
}

/// Redis pub/sub: one channel per node, `{prefix}:inbox:{node}`.
pub struct RedisBus {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
}

fn backend(e: redis::RedisError) -> ClusterError {
    ClusterError::Backend(e.to_string())
}

impl RedisBus {
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, ClusterError> {
        let client = redis::Client::open(url).map_err(backend)?;
        let conn = client.get_connection_manager().await.map_err(backend)?;
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
    async fn send(&self, node: &NodeId, frame: Bytes) -> Result<(), ClusterError> {
        redis::cmd("PUBLISH")
            .arg(self.channel(node))
            .arg(frame.as_ref())
            .query_async::<i64>(&mut self.conn.clone())
            .await
            .map(drop)
            .map_err(backend)
    }

    async fn inbox(&self, node: &NodeId) -> Result<BoxStream<'static, Bytes>, ClusterError> {
        let mut pubsub = self.client.get_async_pubsub().await.map_err(backend)?;
        pubsub
            .subscribe(self.channel(node))
            .await
            .map_err(backend)?;
        Ok(pubsub
            .into_on_message()
            .map(|m| Bytes::copy_from_slice(m.get_payload_bytes()))
            .boxed())
    }
}

/// Shared cases every implementation must pass.
pub mod conformance {
    use std::time::Duration;

    use bytes::Bytes;
    use futures::StreamExt;
    use switchboard_engine::ring::NodeId;

    use super::Bus;

    pub async fn run_all(bus: &dyn Bus) {
        let (a, b) = (NodeId("node-a".into()), NodeId("node-b".into()));
        let mut inbox_a = bus.inbox(&a).await.unwrap();
        let mut inbox_b = bus.inbox(&b).await.unwrap();
        for i in 0..100u32 {
            bus.send(&a, Bytes::from(i.to_be_bytes().to_vec()))
                .await
                .unwrap();
        }
        bus.send(&b, Bytes::from_static(b"for b")).await.unwrap();
        for i in 0..100u32 {
            let got = tokio::time::timeout(Duration::from_secs(5), inbox_a.next())
                .await
                .expect("delivered")
                .unwrap();
            assert_eq!(got.as_ref(), i.to_be_bytes(), "in order, to its node only");
        }
        let got = tokio::time::timeout(Duration::from_secs(5), inbox_b.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.as_ref(), b"for b");
        // Nobody listens at c: sending there is not an error.
        bus.send(&NodeId("node-c".into()), Bytes::from_static(b"void"))
            .await
            .unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(200), inbox_a.next())
                .await
                .is_err(),
            "nothing else arrives"
        );
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn local_bus_passes_the_conformance_cases() {
        super::conformance::run_all(&super::LocalBus::new(1024)).await;
    }
}
