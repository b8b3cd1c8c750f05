//! `Board`: where each node posts its latest dashboard snapshot (opaque bytes) for every other
//! node to read. A post lapses after its time to live, so a node that crashed or left drops off
//! without anyone cleaning up. Implementations side by side: [`local::LocalBoard`] (one
//! process) and [`redis::RedisBoard`], with one `conformance` suite.

pub mod local;
pub mod redis;

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use switchboard_engine::ring::NodeId;

use super::ClusterError;

pub use local::LocalBoard;
pub use redis::RedisBoard;

#[async_trait]
pub trait Board: Send + Sync + 'static {
    /// Replaces `node`'s snapshot; it lapses after `ttl` unless posted again.
    async fn post(&self, node: &NodeId, snapshot: Bytes, ttl: Duration)
    -> Result<(), ClusterError>;
    /// The snapshots of `nodes` that have not lapsed, in the order of `nodes`.
    async fn read(&self, nodes: &[NodeId]) -> Result<Vec<(NodeId, Bytes)>, ClusterError>;
}

/// Shared cases every implementation must pass.
#[cfg(feature = "testing")]
pub mod conformance {
    use std::time::Duration;

    use bytes::Bytes;
    use switchboard_engine::ring::NodeId;

    use super::Board;

    pub async fn run_all(board: &dyn Board) {
        let (a, b, c) = (
            NodeId("node-a".into()),
            NodeId("node-b".into()),
            NodeId("node-c".into()),
        );
        let all = [a.clone(), b.clone(), c.clone()];
        assert!(board.read(&all).await.unwrap().is_empty(), "starts empty");
        let long = Duration::from_secs(30);
        board
            .post(&a, Bytes::from_static(b"a1"), long)
            .await
            .unwrap();
        board
            .post(&a, Bytes::from_static(b"a2"), long)
            .await
            .unwrap();
        board
            .post(&b, Bytes::from_static(b"b1"), Duration::from_millis(300))
            .await
            .unwrap();
        let got = board.read(&all).await.unwrap();
        assert_eq!(
            got,
            vec![
                (a.clone(), Bytes::from_static(b"a2")),
                (b.clone(), Bytes::from_static(b"b1"))
            ],
            "the latest post of each node, in the order asked"
        );
        assert_eq!(
            board.read(std::slice::from_ref(&b)).await.unwrap().len(),
            1,
            "only those asked"
        );
        tokio::time::sleep(Duration::from_millis(450)).await;
        assert_eq!(
            board.read(&all).await.unwrap(),
            vec![(a.clone(), Bytes::from_static(b"a2"))],
            "a lapsed post is gone"
        );
        assert!(board.read(&[]).await.unwrap().is_empty());
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn local_board_passes_the_conformance_cases() {
        super::conformance::run_all(&super::LocalBoard::default()).await;
    }
}
