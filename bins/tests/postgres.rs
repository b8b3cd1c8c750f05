//! A node on Postgres (the production store) over real sockets: messages acknowledged before a
//! restart are all there after it, from another node process on the same database.

mod support;

use switchboard_engine::protocol::Visibility;
use switchboard_persistence::store::scratch::{ScratchDatabase, admin_url};

#[tokio::test]
async fn a_node_on_postgres_keeps_every_acknowledged_message_across_restarts() {
    let db = ScratchDatabase::create(&admin_url(), "node")
        .await
        .expect("Postgres must be running for these tests (ops/test.sh starts it)");
    let url = db.url.clone();
    let t = support::start(|c| c.database.url = Some(url.clone())).await;
    let (_, token) = t.user().await;
    let c = t.client(&token).await;
    let room = c.create_room("pg", Visibility::Public).await.unwrap();
    let mut acked = Vec::new();
    for i in 0..50 {
        acked.push(
            c.send(room, &format!("m{i}"), "stored in postgres")
                .await
                .unwrap()
                .pos,
        );
    }
    let dup = c.send(room, "m7", "again").await.unwrap();
    assert_eq!((dup.pos, dup.duplicate), (acked[7], true));
    t.node.shutdown().await;

    // Another node on the same database (and the same token key).
    let dir = t.dir;
    let node = switchboard::Node::start({
        let mut cfg = support::config(dir.path());
        cfg.database.url = Some(url);
        cfg
    })
    .await
    .unwrap();
    let c = switchboard_client::Client::connect(&format!("ws://{}/ws", node.addr), Some(&token))
        .await
        .unwrap();
    let page = c.history(room, None, None, 100).await.unwrap();
    let stored: Vec<_> = page.messages.iter().map(|m| m.pos).collect();
    assert_eq!(stored, acked);
    let next = c.send(room, "after-restart", "x").await.unwrap();
    assert!(next.pos.epoch > acked[0].epoch);
    node.shutdown().await;
}
