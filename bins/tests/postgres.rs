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

#[tokio::test]
async fn clients_fail_over_to_another_node_and_resume_without_gap() {
    use switchboard_client::{Client, ClientConfig};
    use switchboard_engine::protocol::{ResumeOutcome, ServerFrame};

    let db = ScratchDatabase::create(&admin_url(), "failover")
        .await
        .expect("Postgres must be running for these tests (ops/test.sh starts it)");
    // One database, a data directory each (a node locks its own), one token secret.
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let node = |url: String, dir: &std::path::Path| {
        let mut cfg = support::config(dir);
        cfg.database.url = Some(url);
        cfg.auth.token_secret = Some("failover-test-secret-0123456789abcdef0123456789".into());
        switchboard::Node::start(cfg)
    };
    let a = node(db.url.clone(), dir_a.path()).await.unwrap();
    let b = node(db.url.clone(), dir_b.path()).await.unwrap();
    let token = a
        .accounts
        .sign_up("roamer", "correct horse")
        .await
        .unwrap()
        .token;
    let config = {
        let mut c = ClientConfig::new(format!("ws://{}/ws", a.addr), Some(token));
        c.nodes = vec![format!("ws://{}/ws", b.addr)];
        c
    };
    let sender = Client::connect_with(config.clone()).await.unwrap();
    let mut reader = Client::connect_with(config).await.unwrap();
    let room = sender
        .create_room("roaming", Visibility::Public)
        .await
        .unwrap();
    reader.join(room, None).await.unwrap();
    for i in 0..10 {
        sender
            .send(room, &format!("a{i}"), "on node a")
            .await
            .unwrap();
    }
    let mut last = None;
    while last.map(|p: switchboard_engine::Position| p.seq) != Some(10) {
        if let Some(ServerFrame::Message(m)) = reader.event_within(support::WAIT).await {
            last = Some(m.pos);
        }
    }

    // Node a goes away; both clients move to node b, which rebuilds the room from Postgres.
    a.shutdown().await;
    let mut sender = sender;
    sender.reconnect().await.unwrap();
    assert!(sender.node_url().contains(&b.addr.to_string()));
    for i in 0..5 {
        sender
            .send(room, &format!("b{i}"), "on node b")
            .await
            .unwrap();
    }
    reader.reconnect().await.unwrap();
    let resume = loop {
        if let Some(ServerFrame::Resume(r)) = reader.event_within(support::WAIT).await {
            break r;
        }
    };
    assert_eq!(
        (resume.outcome, resume.missed),
        (ResumeOutcome::Recovered, 5)
    );
    let mut replayed = Vec::new();
    while replayed.len() < 5 {
        if let Some(ServerFrame::Message(m)) = reader.event_within(support::WAIT).await {
            replayed.push(m);
        }
    }
    let cmids: Vec<_> = replayed.iter().map(|m| m.cmid.as_str()).collect();
    assert_eq!(
        cmids,
        vec!["b0", "b1", "b2", "b3", "b4"],
        "exactly the missed, none twice"
    );
    assert!(
        replayed[0].pos.epoch > last.unwrap().epoch,
        "node b took a new epoch"
    );
    b.shutdown().await;
}
