//! In-process bus: the embedded default and tests.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use switchboard_engine::ring::NodeId;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::Bus;
use crate::cluster::ClusterError;

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
    async fn send(&self, node: &NodeId, frame: Bytes) -> Result<bool, ClusterError> {
        let inbox = self
            .inboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(node)
            .cloned();
        // A full inbox still counts as listening: Redis too counts a slow subscriber that
        // then loses the message.
        Ok(inbox.is_some_and(|tx| {
            !matches!(
                tx.try_send(frame),
                Err(mpsc::error::TrySendError::Closed(_))
            )
        }))
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
