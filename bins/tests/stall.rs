//! A store read that hangs must not stall anything but its own command, over real sockets on
//! Postgres. The hang is a real one: the test holds a lock in its own transaction (the
//! `messages` table for reads of history, a room's row for that room's load) until it is done.

mod support;

use std::time::{Duration, Instant};

use switchboard_client::Client;
use switchboard_engine::protocol::{self as p, ClientFrame, ServerFrame, Visibility};
use switchboard_engine::{Codec, ErrorCode, RoomId};
use switchboard_persistence::store::scratch::{ScratchDatabase, admin_url};

/// A node on a scratch database, with `store_timeout_ms` and `commands_in_flight`.
async fn node_on_postgres(
    tag: &str,
    store_timeout_ms: u64,
    in_flight: usize,
) -> (ScratchDatabase, support::TestNode) {
    let db = ScratchDatabase::create(&admin_url(), tag)
        .await
        .expect("Postgres must be running for these tests (ops/test.sh starts it)");
    let url = db.url.clone();
    let t = support::start(|c| {
        c.database.url = Some(url);
        c.engine.store_timeout = Duration::from_millis(store_timeout_ms);
        c.engine.commands_in_flight = in_flight;
    })
    .await;
    (db, t)
}

/// A transaction of the test's own holding `lock`; the lock goes with the returned client.
async fn hold(db: &ScratchDatabase, lock: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client.batch_execute("BEGIN").await.unwrap();
    client.batch_execute(lock).await.unwrap();
    client
}

/// Alice and Bob joined to a new public room of Bob's, in which Bob has sent one message.
async fn talking_in(t: &support::TestNode, name: &str) -> (Client, Client, RoomId) {
    let (_, mut alice) = t.member().await;
    let (_, mut bob) = t.member().await;
    let room = bob.create_room(name, Visibility::Public).await.unwrap();
    alice.join(room, None).await.unwrap();
    bob.join(room, None).await.unwrap();
    bob.send(room, "warm", "before the lock").await.unwrap();
    (alice, bob, room)
}

/// Writes `frame` on `c`'s socket without waiting: its reply comes as an event.
fn raw(c: &Client, frame: ClientFrame) {
    c.send_raw(Codec::MsgPack.encode(&frame).unwrap().to_vec(), false)
        .unwrap();
}

fn history(rid: u64, room: RoomId) -> ClientFrame {
    ClientFrame::History(p::History {
        rid,
        room,
        before: None,
        after: None,
        limit: 10,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_history_read_hangs_keeps_receiving_live_messages() {
    let (db, t) = node_on_postgres("stall_history", 1500, 16).await;
    let (mut alice, bob, room) = talking_in(&t, "live").await;

    let lock = hold(&db, "LOCK TABLE messages IN ACCESS EXCLUSIVE MODE").await;
    // Bob sends 50 messages/s without waiting for `sent` (the write-behind waits for the lock).
    let sender = tokio::spawn(async move {
        for i in 0.. {
            raw(
                &bob,
                ClientFrame::Send(p::Send {
                    rid: 10 + i,
                    room,
                    cmid: format!("live{i}"),
                    text: "while alice reads history".into(),
                    attachments: Vec::new(),
                    first: false,
                    reply_to: None,
                }),
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    raw(&alice, history(1, room));
    tokio::time::sleep(Duration::from_millis(100)).await;
    raw(&alice, ClientFrame::Ping(p::Ping { rid: 2 }));
    let pinged = started.elapsed();

    let (mut arrivals, mut pong, mut answered) = (Vec::new(), None, None);
    while started.elapsed() < Duration::from_millis(2500) {
        let Some(frame) = alice.event_within(Duration::from_millis(100)).await else {
            continue;
        };
        let at = started.elapsed();
        match (&frame, frame.rid()) {
            (ServerFrame::Message(_), _) => arrivals.push(at),
            (_, Some(2)) => pong = Some(at - pinged),
            (_, Some(1)) => answered = Some((at, frame)),
            _ => {}
        }
    }
    sender.abort();
    lock.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(alice.close_frame(), None, "alice was disconnected");

    let gap = arrivals
        .windows(2)
        .map(|w| w[1] - w[0])
        .chain(arrivals.first().copied())
        .max()
        .unwrap();
    let pong = pong.expect("ping behind the hanging history was never answered");
    let (took, reply) = answered.expect("the hanging history was never answered");
    eprintln!(
        "{} live messages during a hanging history read, longest gap {gap:?}; pong after \
         {pong:?}; history answered after {took:?}: {reply:?}",
        arrivals.len()
    );
    assert!(arrivals.len() >= 50, "only {} messages", arrivals.len());
    assert!(gap < Duration::from_millis(600), "a gap of {gap:?}");
    assert!(pong < Duration::from_millis(300), "pong after {pong:?}");
    // Answered at the store deadline (1.5 s), as `busy`.
    assert!(took < Duration::from_millis(2200), "history after {took:?}");
    assert!(
        matches!(&reply, ServerFrame::Error(e) if e.code == ErrorCode::Busy),
        "{reply:?}"
    );
    t.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inactive_rooms_load_concurrently_and_a_hanging_load_delays_no_other() {
    let (db, t) = node_on_postgres("stall_load", 1500, 16).await;
    let (_, mut alice) = t.member().await;
    let (_, bob) = t.member().await;
    // Neither room is active: creating a room does not start it.
    let hanging = alice
        .create_room("hanging", Visibility::Public)
        .await
        .unwrap();
    let other = bob.create_room("other", Visibility::Public).await.unwrap();

    // Starting a room takes its next epoch, an update of its row.
    let lock = hold(
        &db,
        &format!("SELECT id FROM rooms WHERE id = {} FOR UPDATE", hanging.0),
    )
    .await;
    let started = Instant::now();
    raw(
        &alice,
        ClientFrame::Send(p::Send {
            rid: 1,
            room: hanging,
            cmid: "a".into(),
            text: "waits for its room".into(),
            attachments: Vec::new(),
            first: false,
            reply_to: None,
        }),
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    raw(&alice, ClientFrame::Ping(p::Ping { rid: 2 }));
    // Another connection, another inactive room: its load must not wait for the first.
    let sent = bob.send(other, "b", "loads at once").await;
    let other_took = started.elapsed();
    let (mut pong, mut first) = (None, None);
    while (pong.is_none() || first.is_none()) && started.elapsed() < Duration::from_secs(4) {
        if let Some(frame) = alice.event_within(Duration::from_millis(100)).await {
            match frame.rid() {
                Some(2) => pong = Some(started.elapsed()),
                Some(1) => first = Some((started.elapsed(), frame)),
                _ => {}
            }
        }
    }
    lock.batch_execute("ROLLBACK").await.unwrap();
    eprintln!(
        "other room's send answered after {other_took:?} ({sent:?}); pong after {pong:?}; \
         send to the hanging room answered after {first:?}"
    );
    assert!(sent.is_ok(), "{sent:?}");
    assert!(other_took < Duration::from_millis(1000), "{other_took:?}");
    let pong = pong.expect("ping behind the hanging send was never answered");
    assert!(pong < Duration::from_millis(400), "pong after {pong:?}");
    let (took, reply) = first.expect("the send to the hanging room was never answered");
    assert!(
        took < Duration::from_millis(2200),
        "answered after {took:?}"
    );
    assert!(
        matches!(&reply, ServerFrame::Error(e) if e.code == ErrorCode::Busy),
        "{reply:?}"
    );
    // The lock gone, the room loads; the retry with the same cmid is stored once.
    let retry = alice
        .send(hanging, "a", "waits for its room")
        .await
        .unwrap();
    assert!(!retry.duplicate);
    t.node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_over_the_in_flight_cap_wait_in_the_socket_never_refused() {
    let (db, t) = node_on_postgres("stall_cap", 10_000, 4).await;
    let (_, mut alice) = t.member().await;
    let room = alice.create_room("cap", Visibility::Public).await.unwrap();
    alice.join(room, None).await.unwrap();

    let lock = hold(&db, "LOCK TABLE messages IN ACCESS EXCLUSIVE MODE").await;
    let started = Instant::now();
    // One runs, three wait behind it: the cap (4) is reached, and the node stops reading the
    // socket (PROTOCOL §6.1): the fifth and the ping wait there, unrefused.
    for rid in 1..=5 {
        raw(&alice, history(rid, room));
    }
    raw(&alice, ClientFrame::Ping(p::Ping { rid: 6 }));
    let early = alice.event_within(Duration::from_millis(500)).await;
    assert!(
        early.is_none(),
        "answered while the cap was reached: {early:?}"
    );
    lock.batch_execute("ROLLBACK").await.unwrap();
    // The lock gone, all five are answered, each once, in order, then the ping.
    let mut pages = Vec::new();
    let mut pong = false;
    while pages.len() < 5 || !pong {
        let frame = alice
            .event_within(Duration::from_secs(5))
            .await
            .expect("a history page or the pong");
        match frame {
            ServerFrame::History(h) => pages.push(h.rid),
            ServerFrame::Pong(_) => pong = true,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(pages, [1, 2, 3, 4, 5]);
    alice.ping().await.unwrap();
    t.node.shutdown().await;
}

/// A saturated pool is not a failed store: a read that waits its whole `connect_timeout` for a
/// pooled connection (every one open and in use) is answered 4001 `busy`, which the client
/// may retry, not 5000 `internal` with a "cannot connect to Postgres" log line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_that_finds_every_pooled_connection_busy_is_answered_busy() {
    let db = ScratchDatabase::create(&admin_url(), "stall_pool")
        .await
        .expect("Postgres must be running for these tests (ops/test.sh starts it)");
    let url = db.url.clone();
    let t = support::start(|c| {
        c.database.url = Some(url);
        c.database.pool_size = 1;
        c.database.connect_timeout = Duration::from_secs(1);
        c.engine.store_timeout = Duration::from_millis(4000);
    })
    .await;
    let (alice_id, mut alice) = t.member().await;
    let (_, mut bob) = t.member().await;
    let room = bob.create_room("shared", Visibility::Public).await.unwrap();
    alice.join(room, None).await.unwrap();
    bob.join(room, None).await.unwrap();
    bob.send(room, "warm", "before the lock").await.unwrap();

    // Alice's history read holds the only pooled connection, waiting on the lock.
    let lock = hold(&db, "LOCK TABLE messages IN ACCESS EXCLUSIVE MODE").await;
    raw(&alice, history(1, room));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    raw(
        &bob,
        ClientFrame::PresenceSubscribe(p::PresenceSubscribe {
            rid: 7,
            users: vec![alice_id],
        }),
    );
    let reply = support::expect(&mut bob, Duration::from_secs(3), |f| match f {
        ServerFrame::Error(e) if e.rid == Some(7) => Some(Err(e.code)),
        ServerFrame::Presence(r) if r.rid == 7 => Some(Ok(())),
        _ => None,
    })
    .await;
    let took = started.elapsed();
    lock.batch_execute("ROLLBACK").await.unwrap();
    eprintln!("presence_subscribe behind a busy pool answered {reply:?} after {took:?}");
    assert_eq!(reply, Err(ErrorCode::Busy));
    // At the pool's 1 s wait, before the 4 s store deadline.
    assert!(
        took < Duration::from_millis(2500),
        "answered after {took:?}"
    );
    // Once the pool is free, the same subscription is allowed.
    let watched = bob.presence_subscribe(vec![alice_id]).await;
    assert!(watched.is_ok(), "{watched:?}");
    t.node.shutdown().await;
}

/// A send marked `first` goes to its room without looking for an earlier copy in the store:
/// with the `messages` table locked it is delivered at once, while an unmarked send is
/// delivered only after its lookup gave up (the store check timeout, 250 ms).
#[tokio::test]
async fn a_first_send_is_delivered_without_waiting_on_the_store() {
    let (db, t) = node_on_postgres("stall_first", 5000, 16).await;
    let (mut alice, bob, room) = talking_in(&t, "first").await;
    while alice
        .event_within(Duration::from_millis(200))
        .await
        .is_some()
    {}

    let lock = hold(&db, "LOCK TABLE messages IN ACCESS EXCLUSIVE MODE").await;
    let mut delivery = async |cmid: &str, first: bool| {
        let started = Instant::now();
        raw(
            &bob,
            ClientFrame::Send(p::Send {
                rid: 1,
                room,
                cmid: cmid.into(),
                text: "through the lock".into(),
                attachments: Vec::new(),
                first,
                reply_to: None,
            }),
        );
        while started.elapsed() < Duration::from_secs(3) {
            if let Some(ServerFrame::Message(m)) =
                alice.event_within(Duration::from_millis(50)).await
                && m.cmid == cmid
            {
                return started.elapsed();
            }
        }
        panic!("{cmid} was not delivered within 3 s");
    };
    let first = delivery("new", true).await;
    let unmarked = delivery("maybe-again", false).await;
    lock.batch_execute("ROLLBACK").await.unwrap();
    assert!(
        first < Duration::from_millis(150),
        "a first send waited {first:?} on the locked store"
    );
    assert!(
        unmarked >= Duration::from_millis(200),
        "an unmarked send was delivered after {unmarked:?}: its store lookup did not run"
    );
}
