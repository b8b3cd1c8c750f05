//! The in-process board of a single node.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use switchboard_engine::ring::NodeId;
use tokio::time::Instant;

use super::Board;
use crate::cluster::ClusterError;

/// Posts in a map, one per node that posted (a single node's board holds one).
#[derive(Default)]
pub struct LocalBoard {
    // std Mutex: held for a map operation, never across an await.
    posts: Mutex<HashMap<NodeId, (Instant, Bytes)>>,
}

#[async_trait]
impl Board for LocalBoard {
    async fn post(
        &self,
        node: &NodeId,
        snapshot: Bytes,
        ttl: Duration,
    ) -> Result<(), ClusterError> {
        let mut posts = self.posts.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        posts.retain(|_, (until, _)| *until > now);
        posts.insert(node.clone(), (now + ttl, snapshot));
        Ok(())
    }

    async fn read(&self, nodes: &[NodeId]) -> Result<Vec<(NodeId, Bytes)>, ClusterError> {
        let posts = self.posts.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        Ok(nodes
            .iter()
            .filter_map(|n| {
                posts
                    .get(n)
                    .filter(|(until, _)| *until > now)
                    .map(|(_, s)| (n.clone(), s.clone()))
            })
            .collect())
    }
}
