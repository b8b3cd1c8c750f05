//! The cluster dashboard over real processes: each node's snapshot travels through Redis, so
//! `/api/dashboard` of any node lists every node's numbers, and forgets a node that left.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::cluster::{Cluster, redis_url};
use switchboard_engine::protocol::Visibility;

async fn dashboard(port: u16) -> Value {
    reqwest::get(format!("http://127.0.0.1:{port}/api/dashboard"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls node `port`'s dashboard until `ok` holds (snapshots are taken once a second).
async fn until(port: u16, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let data = dashboard(port).await;
        if ok(&data) {
            return data;
        }
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{what} never shown: {data:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn node<'a>(data: &'a Value, name: &str) -> Option<&'a Value> {
    data["nodes"].as_array()?.iter().find(|n| n["node"] == name)
}

#[tokio::test]
async fn each_node_shows_the_others_numbers_and_forgets_those_that_left() {
    let mut cluster = Cluster::start("dashboard", redis_url(), 2).await;
    let (_, token) = cluster.user("watched").await;
    // Two sockets on node-1, one sending: node-1's numbers move, whoever owns the room.
    let a = cluster.client(1, &token).await;
    let mut b = cluster.client(1, &token).await;
    let room = a.create_room("shown", Visibility::Public).await.unwrap();
    b.join(room, None).await.unwrap();
    for i in 0..10 {
        a.send(room, &format!("m{i}"), "hi").await.unwrap();
    }
    let port0 = cluster.nodes[0].port;
    let data = until(port0, "node-1's connections on node-0", |d| {
        node(d, "node-1").is_some_and(|n| n["connections"].as_f64() >= Some(2.0))
    })
    .await;
    assert_eq!(data["me"], "node-0");
    assert_eq!(data["ring"], serde_json::json!(["node-0", "node-1"]));
    let one = node(&data, "node-1").unwrap();
    assert_eq!(one["addr"], format!("127.0.0.1:{}", cluster.nodes[1].port));
    assert!(one["rss_bytes"].as_f64().unwrap() > 0.0, "{one}");
    assert_eq!(one["ring"], serde_json::json!(["node-0", "node-1"]));
    // Every message was sequenced by one of the two nodes, and the cluster sums them.
    let data = until(port0, "the room's messages", |d| {
        let total: f64 = d["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["messages_total"].as_f64().unwrap())
            .sum();
        total >= 10.0
    })
    .await;
    assert!(data["cluster"]["connections"].as_f64().unwrap() >= 2.0);

    drop((a, b));
    cluster.sigterm(1);
    until(port0, "node-1 gone", |d| {
        node(d, "node-1").is_none() && d["nodes"].as_array().unwrap().len() == 1
    })
    .await;
}
