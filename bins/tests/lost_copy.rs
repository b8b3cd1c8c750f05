//! A message delivered live and then lost with its node before it was stored (PROTOCOL §8.2):
//! its sender resends it, it is stored once at a new position, and a member who saw the first
//! copy sees the same sender and `cmid` again, which the client reconciles
//! (`Client::earlier_position`). Two `switchboard` processes on a scratch Postgres database;
//! the crash falls between the fan-out and the commit because the test holds a lock on the
//! messages table.

mod support;

use std::time::{Duration, Instant};

use support::cluster::{Cluster, redis_url};
use switchboard_engine::domain::ChatMessage;
use switchboard_engine::protocol::{ServerFrame, Visibility};
use switchboard_engine::ring::NodeId;
use tokio_postgres::NoTls;

const WAIT: Duration = Duration::from_secs(10);

/// The next message of `room` from `client`, rejoining from its last position after a
/// `room_reset` (the room moved to another node).
async fn next_message(
    client: &mut switchboard_client::Client,
    room: switchboard_engine::RoomId,
) -> ChatMessage {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, client.next_event()).await {
            Ok(Some(ServerFrame::Message(m))) if m.room == room => return m,
            Ok(Some(ServerFrame::RoomReset(r))) if r.room == room => {
                let from = client.position(room);
                // The room may still be moving: retried until the deadline.
                while client.join(room, from).await.is_err() {
                    assert!(Instant::now() < deadline, "rejoin never answered");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => panic!("no message in {room:?} within {WAIT:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_lost_between_fan_out_and_commit_comes_again_once_and_is_reconciled() {
    let mut cluster = Cluster::start("lost_copy", redis_url(), 2).await;
    let (_, sender_token) = cluster.user("sender").await;
    let (_, member_token) = cluster.user("member").await;
    // Both on node 1; the room on node 0, which will die with the message unstored.
    let sender = cluster.client(1, &sender_token).await;
    let mut member = cluster.client(1, &member_token).await;
    let ring = cluster.ring();
    let room = loop {
        let room = sender.create_room("r", Visibility::Public).await.unwrap();
        if ring.owner(room) == Some(&NodeId("node-0".into())) {
            break room;
        }
    };
    member.join(room, None).await.unwrap();
    sender
        .send(room, "warm", "the room is active")
        .await
        .unwrap();
    assert_eq!(next_message(&mut member, room).await.cmid, "warm");

    // Commits wait on the lock: the owner fans the message out, but cannot store it.
    let (db, connection) = tokio_postgres::connect(&cluster.db.url, NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    db.batch_execute("BEGIN; LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let unsent = tokio::time::timeout(
        Duration::from_millis(800),
        sender.send_first(room, "lost-1", "said once"),
    )
    .await;
    assert!(unsent.is_err(), "sent before the commit could happen");
    let live = next_message(&mut member, room).await;
    assert_eq!(live.cmid, "lost-1");
    assert_eq!(member.earlier_position(&live), None);

    cluster.kill9(0);
    // Its insert, still waiting on the lock, would commit once the lock goes (Postgres sees a
    // dead client only when it next writes to it): end it too, as the crash would have.
    db.batch_execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
         AND wait_event_type = 'Lock'",
    )
    .await
    .unwrap();
    db.batch_execute("ROLLBACK").await.unwrap();

    // The sender, never told `sent`, resends under the same cmid until it is (PROTOCOL §8.2).
    let deadline = Instant::now() + WAIT;
    let sent = loop {
        match sender.send(room, "lost-1", "said once").await {
            Ok(sent) => break sent,
            Err(e) => {
                assert!(Instant::now() < deadline, "resend never stored: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert!(!sent.duplicate, "the first copy was never stored");
    assert!(sent.pos > live.pos, "a new position, in a later epoch");

    // The member sees it again at the new position, and its client knows it is the same one.
    let again = next_message(&mut member, room).await;
    assert_eq!((again.cmid.as_str(), again.pos), ("lost-1", sent.pos));
    assert_eq!(member.earlier_position(&again), Some(live.pos));
    // Stored once.
    let store = cluster.store().await;
    let stored = cluster.stored(&store, room).await;
    let copies: Vec<_> = stored.iter().filter(|(_, cmid)| cmid == "lost-1").collect();
    assert_eq!(copies.len(), 1, "{stored:?}");
    cluster.stop_all();
}
