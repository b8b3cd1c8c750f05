//! Cluster membership through the real Redis (`SWITCHBOARD_TEST_REDIS`, default
//! `redis://127.0.0.1:6379`, a key prefix per run): three nodes see each other, a graceful
//! leave is seen at once, a crash (no more heartbeats) within lease + poll, and a node whose
//! view died leaves service (`/readyz` 503).

mod support;

use std::time::{Duration, Instant};

use switchboard::Node;
use switchboard_actors::cluster::{ClusterView, WatchRing};
use switchboard_actors::supervised::Task;
use switchboard_engine::ring::Ring;
use tokio::sync::watch;

fn redis_url() -> String {
    std::env::var("SWITCHBOARD_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn ring_of(view: &kameo::actor::ActorRef<ClusterView>) -> watch::Receiver<Ring> {
    view.ask(WatchRing).await.unwrap().0
}

/// Waits until the ring has `n` nodes; returns how long that took.
async fn until_size(ring: &mut watch::Receiver<Ring>, n: usize, limit: Duration) -> Duration {
    let started = Instant::now();
    tokio::time::timeout(limit, ring.wait_for(|r| r.len() == n))
        .await
        .unwrap_or_else(|_| panic!("ring never reached {n} nodes within {limit:?}"))
        .unwrap();
    started.elapsed()
}

#[tokio::test]
async fn nodes_learn_of_joins_leaves_and_crashes() {
    let prefix = format!("sbtest-cluster:{}", std::process::id());
    let mut nodes: Vec<(Node, tempfile::TempDir)> = Vec::new();
    for i in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let mut config = support::config(dir.path());
        config.cluster.redis_url = Some(redis_url());
        config.cluster.key_prefix = prefix.clone();
        config.cluster.node_id = Some(format!("node-{i}"));
        config.cluster.heartbeat = Duration::from_millis(200);
        config.cluster.lease = Duration::from_millis(700);
        config.cluster.poll = Duration::from_millis(100);
        let node = Node::start(config)
            .await
            .expect("Redis must be running for these tests (ops/test.sh starts it)");
        nodes.push((node, dir));
    }
    let mut ring_a = ring_of(nodes[0].0.cluster.as_ref().unwrap()).await;
    until_size(&mut ring_a, 3, Duration::from_secs(3)).await;
    let names: Vec<String> = ring_a.borrow().nodes().map(|n| n.0.clone()).collect();
    assert_eq!(names, vec!["node-0", "node-1", "node-2"]);

    // A crash: node-2 stops renewing its lease without leaving.
    nodes[2].0.cluster.as_ref().unwrap().kill();
    let crash_seen = until_size(&mut ring_a, 2, Duration::from_secs(3)).await;
    // Not before its last lease (700 ms) could have run out, and within lease + poll + slack.
    assert!(
        crash_seen >= Duration::from_millis(400) && crash_seen <= Duration::from_millis(1200),
        "crash seen after {crash_seen:?}"
    );

    // A graceful leave: node-1 shuts down and is gone from node-0's ring within a poll.
    let (leaver, _dir) = nodes.remove(1);
    let started = Instant::now();
    leaver.shutdown().await;
    let left_seen = until_size(&mut ring_a, 1, Duration::from_secs(3)).await;
    assert!(
        left_seen <= Duration::from_millis(500),
        "leave seen after {left_seen:?}"
    );
    eprintln!(
        "crash seen in {crash_seen:?}, leave seen in {left_seen:?} (shutdown took {:?})",
        started.elapsed()
    );

    for (node, _) in nodes {
        node.shutdown().await;
    }
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("DEL")
        .arg(&switchboard_persistence::cluster::redis::RedisMembership::keys(&prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
}

async fn readyz(node: &Node) -> (u16, serde_json::Value) {
    let response = reqwest::get(format!("http://{}/readyz", node.addr))
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, body)
}

/// `/readyz` once it no longer answers 200, or after 5 s.
async fn readyz_once_not_ready(node: &Node) -> (u16, serde_json::Value) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, body) = readyz(node).await;
        if status != 200 || Instant::now() > deadline {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A write-behind lane dies (killed here): its rooms' sends could no longer become durable,
/// so the node fails loudly and leaves service.
#[tokio::test]
async fn a_node_whose_write_behind_dies_answers_readyz_503() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(support::config(dir.path())).await.unwrap();
    assert_eq!(readyz(&node).await.0, 200);
    node.journal.kill_lane();
    let (status, body) = readyz_once_not_ready(&node).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(node.tasks.failed(), Some(Task::WriteBehind));
    node.shutdown().await;
}

/// The view dies (killed here; a panic in a heartbeat does the same): the node would no
/// longer renew its lease nor follow the ring, so it fails loudly and leaves service.
#[tokio::test]
async fn a_node_whose_cluster_view_dies_answers_readyz_503() {
    let prefix = format!("sbtest-cluster-fail:{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::config(dir.path());
    config.cluster.redis_url = Some(redis_url());
    config.cluster.key_prefix = prefix.clone();
    let node = Node::start(config)
        .await
        .expect("Redis must be running for these tests (ops/test.sh starts it)");
    assert_eq!(readyz(&node).await.0, 200);
    assert_eq!(node.tasks.failed(), None);

    node.cluster.as_ref().unwrap().kill();
    let (status, body) = readyz_once_not_ready(&node).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], 5000, "{body}");
    // Whichever noticed first: the view's watcher, or the ring follower whose channel closed.
    let failed = node.tasks.failed();
    assert!(
        matches!(failed, Some(Task::ClusterView | Task::RingFollower)),
        "{failed:?}"
    );
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(failed.unwrap().name()), "{message}");
    node.shutdown().await;
    // Its killed view could not take its lease back: remove what the node left in Redis.
    let mut redis = redis::Client::open(redis_url())
        .and_then(|c| c.get_connection())
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query(&mut redis)
        .unwrap();
    if !keys.is_empty() {
        redis::cmd("DEL")
            .arg(&keys)
            .query::<()>(&mut redis)
            .unwrap();
    }
}
