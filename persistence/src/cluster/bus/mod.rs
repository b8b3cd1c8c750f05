//! `Bus`: node-to-node delivery of opaque frames. A node subscribes to its own inbox; any node
//! can send to it. Delivery is at most once and in order per sender (Redis pub/sub, or an
//! in-process channel); callers that need more (positions, resume) build it on top. A sender
//! learns whether anyone was subscribed to the inbox it sent to (Redis `PUBLISH` counts the
//! receivers), so a frame sent before its receiver subscribed (again) need not be lost.
//! Implementations side by side: [`local::LocalBus`] and [`redis::RedisBus`], with one
//! `conformance` suite.

pub mod local;
pub mod redis;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use switchboard_engine::ring::NodeId;

use super::ClusterError;

pub use local::LocalBus;
pub use redis::RedisBus;

#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Sends `frame` to `node`'s inbox. True when a subscriber of that inbox took it; false
    /// when nobody listens there (the frame is dropped).
    async fn send(&self, node: &NodeId, frame: Bytes) -> Result<bool, ClusterError>;
    /// This node's inbox. Subscribing again replaces the previous subscription.
    async fn inbox(&self, node: &NodeId) -> Result<BoxStream<'static, Bytes>, ClusterError>;
}

/// Shared cases every implementation must pass.
#[cfg(feature = "testing")]
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
            let heard = bus.send(&a, Bytes::from(i.to_be_bytes().to_vec())).await;
            assert!(heard.unwrap(), "a listens");
        }
        assert!(bus.send(&b, Bytes::from_static(b"for b")).await.unwrap());
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
        // Nobody listens at c: sending there is not an error, and the sender learns it.
        let c = NodeId("node-c".into());
        let heard = bus.send(&c, Bytes::from_static(b"void")).await;
        assert!(!heard.unwrap(), "nobody listens at c");
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
