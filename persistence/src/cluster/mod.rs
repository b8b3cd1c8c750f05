//! Cluster membership: which nodes are alive. Every node registers itself with a lease it
//! renews by heartbeat; a node that stops renewing (crashed, partitioned) drops out when its
//! lease expires, one that shuts down leaves at once. Implementations side by side:
//! [`local::LocalMembership`] (one process) and [`redis::RedisMembership`]. [`bus`] carries
//! frames between nodes (in-process or Redis pub/sub). [`throttle`] counts events per user,
//! name or address for rate limits, on one node or cluster-wide. [`board`] holds each node's
//! latest dashboard snapshot for the others to read. Every Redis call is timed (`timed`).

pub mod board;
pub mod bus;
pub mod local;
pub mod redis;
pub mod throttle;
mod timed;

use std::time::Duration;

use async_trait::async_trait;
use switchboard_engine::ring::NodeId;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cluster backend: {0}")]
    Backend(String),
}

impl From<::redis::RedisError> for ClusterError {
    fn from(e: ::redis::RedisError) -> Self {
        ClusterError::Backend(e.to_string())
    }
}

/// Most time between two reconnection attempts to a Redis that went away. The client
/// library's default backoff doubles from 100 ms to 6.4 s, so after an outage of a few
/// seconds every command waited (seconds) for an attempt long after Redis was back.
const RECONNECT_MAX_DELAY: Duration = Duration::from_millis(100);
/// Attempts in one reconnection: with the delay above, a command waits at most ~0.5 s for a
/// Redis that is down and then fails (the next command starts a new reconnection).
const RECONNECT_ATTEMPTS: usize = 6;
/// A connection attempt to an unreachable (not refusing) Redis gives up after this.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// A Redis client and a connection manager (which reconnects by itself) for `url`: reconnects
/// every 10–100 ms while Redis is away, so traffic resumes within ~100 ms of its return.
pub(crate) async fn redis_connect(
    url: &str,
) -> Result<(::redis::Client, ::redis::aio::ConnectionManager), ClusterError> {
    // TCP_NODELAY: commands and bus messages are small and each one is waited on; with
    // Nagle's algorithm a second write waits for the first one's acknowledgement.
    let info = ::redis::IntoConnectionInfo::into_connection_info(url)?
        .set_tcp_settings(::redis::io::tcp::TcpSettings::default().set_nodelay(true));
    let client = ::redis::Client::open(info)?;
    let config = ::redis::aio::ConnectionManagerConfig::new()
        .set_min_delay(Duration::from_millis(10))
        .set_max_delay(RECONNECT_MAX_DELAY)
        .set_number_of_retries(RECONNECT_ATTEMPTS)
        .set_connection_timeout(Some(CONNECT_TIMEOUT));
    let conn = client.get_connection_manager_with_config(config).await?;
    Ok((client, conn))
}

/// A live node and the address other nodes reach it at.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Member {
    pub node: NodeId,
    pub addr: String,
}

/// The membership registry.
#[async_trait]
pub trait Membership: Send + Sync + 'static {
    /// Registers (or renews) `member` with a lease of `lease`.
    async fn heartbeat(&self, member: &Member, lease: Duration) -> Result<(), ClusterError>;
    /// Removes `node` at once (graceful shutdown).
    async fn leave(&self, node: &NodeId) -> Result<(), ClusterError>;
    /// The members whose lease has not expired, sorted by node id.
    async fn live(&self) -> Result<Vec<Member>, ClusterError>;
}

/// Shared cases every implementation must pass.
#[cfg(feature = "testing")]
pub mod conformance {
    use std::time::Duration;

    use switchboard_engine::ring::NodeId;

    use super::{Member, Membership};

    fn member(name: &str) -> Member {
        Member {
            node: NodeId(name.to_owned()),
            addr: format!("127.0.0.1:{}", 9000 + name.len()),
        }
    }

    pub async fn run_all(m: &dyn Membership) {
        assert!(m.live().await.unwrap().is_empty(), "starts empty");
        let (a, b) = (member("a"), member("bb"));
        m.heartbeat(&a, Duration::from_secs(30)).await.unwrap();
        m.heartbeat(&b, Duration::from_millis(300)).await.unwrap();
        assert_eq!(m.live().await.unwrap(), vec![a.clone(), b.clone()]);
        // Renewing keeps b; letting the lease run out drops it.
        m.heartbeat(&b, Duration::from_millis(300)).await.unwrap();
        assert_eq!(m.live().await.unwrap().len(), 2);
        tokio::time::sleep(Duration::from_millis(450)).await;
        assert_eq!(
            m.live().await.unwrap(),
            vec![a.clone()],
            "expired lease drops the node"
        );
        // A graceful leave is immediate.
        m.leave(&a.node).await.unwrap();
        assert!(m.live().await.unwrap().is_empty());
    }
}
