//! Clusters of `switchboard` processes on 127.0.0.1 against the real Redis
//! (`SWITCHBOARD_TEST_REDIS`, a key prefix per run) and a scratch Postgres database: a room
//! owned by one node serves members on every node; rooms re-home when a node joins, leaves or
//! is killed; a Redis restart loses nothing. Membership timing is fast here (lease 700 ms,
//! poll 100 ms); production defaults detect a crash within 3 s.

mod support;

use std::time::{Duration, Instant};

use support::cluster::{
    Cluster, LEASE_MS, Load, POLL_MS, REPLY_TIMEOUT_MS, Views, redis_url, verify,
};
use support::private_redis::PrivateRedis;
use switchboard_engine::RoomId;
use switchboard_engine::domain::PresenceStatus;
use switchboard_engine::protocol::{ServerFrame, Visibility};
use switchboard_engine::ring::NodeId;

fn node(i: usize) -> NodeId {
    NodeId(format!("node-{i}"))
}

/// Creates public rooms until `n` exist, returned with their owners by the current ring.
async fn rooms(cluster: &mut Cluster, n: usize) -> Vec<RoomId> {
    let (_, token) = cluster.user("creator").await;
    let creator = cluster.client(0, &token).await;
    let mut rooms = Vec::new();
    for i in 0..n {
        let room = creator
            .create_room(&format!("room {i}"), Visibility::Public)
            .await
            .unwrap();
        rooms.push(room);
    }
    rooms
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_on_one_node_reaches_members_on_every_node_once_in_order() {
    let mut cluster = Cluster::start("route", redis_url(), 3).await;
    let ring = cluster.ring();
    // A room owned by node-1; the sender is on node-0.
    let (_, sender_token) = cluster.user("sender").await;
    let sender = cluster.client(0, &sender_token).await;
    let room = loop {
        let room = sender
            .create_room("routed", Visibility::Public)
            .await
            .unwrap();
        if ring.owner(room) == Some(&node(1)) {
            break room;
        }
    };
    let mut load = Load::start(&cluster, "route", &[room], &[0, 1, 2], &[], Duration::ZERO).await;
    let (mut tokens, mut ids) = (Vec::new(), Vec::new());
    for name in ["on-a", "on-b", "on-c"] {
        let (id, token) = cluster.user(name).await;
        ids.push(id);
        tokens.push(token);
    }
    let c_id = ids[2];
    // Two devices of one user, on node-0 and node-2: each device gets every event once.
    load.follow(cluster.client(0, &tokens[0]).await, vec![room]);
    load.follow(cluster.client(2, &tokens[0]).await, vec![room]);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let publishes_before = cluster.metric(1, "switchboard_bus_publishes_total").await;
    let mut acked = Vec::new();
    for batch in 0..10 {
        let sends = (0..10).map(|i| {
            let cmid = format!("m{}", batch * 10 + i);
            let sender = &sender;
            async move { (cmid.clone(), sender.send(room, &cmid, "hello").await) }
        });
        for (cmid, sent) in futures::future::join_all(sends).await {
            acked.push((room, cmid, sent.expect("acknowledged").pos));
        }
    }
    let publishes = cluster.metric(1, "switchboard_bus_publishes_total").await - publishes_before;
    let (views, _) = load.finish(Duration::from_millis(500)).await;
    let (stored, _) = verify(&cluster, &[room], &views, &acked, Views::Exact).await;
    assert_eq!(stored, 100);
    // One epoch, seq 1..=100 with no gap.
    let mut positions: Vec<_> = acked.iter().map(|(_, _, p)| *p).collect();
    positions.sort();
    assert!(positions.iter().all(|p| p.epoch == positions[0].epoch));
    assert_eq!(
        positions.iter().map(|p| p.seq).collect::<Vec<_>>(),
        (1..=100).collect::<Vec<_>>()
    );
    eprintln!("owner node-1 published {publishes} bus messages for 100 messages to 2 other nodes");
    // At most one per message per destination node, plus the acks to the sender's node.
    assert!(publishes <= 300.0, "{publishes} publishes");

    // Typing and read receipts cross nodes too, and reach members only once per device.
    let mut on_a = cluster.client(0, &tokens[0]).await;
    let mut on_b = cluster.client(1, &tokens[1]).await;
    let mut on_c = cluster.client(2, &tokens[2]).await;
    for c in [&mut on_a, &mut on_b, &mut on_c] {
        c.join(room, None).await.unwrap();
    }
    on_c.typing(room, true).await.unwrap();
    let typing = support::expect(&mut on_a, support::WAIT, |f| match f {
        ServerFrame::Typing(t) => Some(t),
        _ => None,
    })
    .await;
    assert!(typing.active && typing.room == room);
    on_a.mark_read(room, positions[99]).await.unwrap();
    let receipt = support::expect(&mut on_b, support::WAIT, |f| match f {
        ServerFrame::ReadReceipt(r) => Some(r),
        _ => None,
    })
    .await;
    assert_eq!(receipt.pos, positions[99]);

    // A direct conversation between users on node-1 and node-2: the partner hears of it
    // (through its home node, wherever that is), and both talk in it.
    let direct = on_b.open_direct(c_id).await.unwrap();
    let added = support::expect(&mut on_c, support::WAIT, |f| match f {
        ServerFrame::RoomAdded(r) => Some(r),
        _ => None,
    })
    .await;
    assert_eq!((added.room.id, added.by), (direct, ids[1]));
    on_c.join(direct, None).await.unwrap();
    on_b.send(direct, "d1", "psst").await.unwrap();
    let got = support::expect(&mut on_c, support::WAIT, |f| match f {
        ServerFrame::Message(m) if m.room == direct => Some(m),
        _ => None,
    })
    .await;
    assert_eq!(got.text, "psst");
    // Ticks across nodes: on-c's device says it arrived, then that it was read; the sender
    // on another node sees each mark once, and every member's marks read the same anywhere.
    on_b.join(direct, None).await.unwrap();
    on_c.mark_delivered(direct, got.pos).await.unwrap();
    let tick = support::expect(&mut on_b, support::WAIT, |f| match f {
        ServerFrame::DeliveryReceipt(r) => Some(r),
        _ => None,
    })
    .await;
    assert_eq!((tick.room, tick.user, tick.pos), (direct, c_id, got.pos));
    on_c.mark_read(direct, got.pos).await.unwrap();
    let seen = support::expect(&mut on_b, support::WAIT, |f| match f {
        ServerFrame::ReadReceipt(r) if r.room == direct => Some(r),
        _ => None,
    })
    .await;
    assert_eq!((seen.user, seen.pos), (c_id, got.pos));
    let (marks, _) = on_b.receipts(direct, None, 10).await.unwrap();
    let (marks_c, _) = on_c.receipts(direct, None, 10).await.unwrap();
    assert_eq!(marks, marks_c);
    let c_marks = marks.iter().find(|m| m.user == c_id).unwrap();
    assert_eq!(
        (c_marks.read, c_marks.delivered),
        (Some(got.pos), Some(got.pos))
    );

    // Presence across nodes: the watcher on node-1 hears of on-c's devices on node-2 and
    // node-0 as one presence, wherever on-c's home is: online while either is connected.
    let watched = on_b.presence_subscribe(vec![c_id]).await.unwrap();
    assert_eq!(watched[0].status, PresenceStatus::Online);
    let c_second = cluster.client(0, &tokens[2]).await;
    // A profile change made on node-0 reaches the watcher on node-1 and on-c's other device on
    // node-2, through on-c's home node.
    c_second.set_profile(Some("Cee"), None).await.unwrap();
    for c in [&mut on_b, &mut on_c] {
        let changed = support::expect(c, support::WAIT, |f| match f {
            ServerFrame::ProfileChanged(p) => Some(p.user),
            _ => None,
        })
        .await;
        assert_eq!((changed.id, changed.display_name.as_str()), (c_id, "Cee"));
    }
    on_c.close();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let query = on_a.presence_query(vec![c_id]).await.unwrap();
    assert_eq!(query[0].status, PresenceStatus::Online, "one device left");
    c_second.set_presence(PresenceStatus::Away).await.unwrap();
    c_second.close();
    let mut changes = Vec::new();
    while let Some(frame) = on_b.event_within(Duration::from_secs(2)).await {
        if let ServerFrame::PresenceChanged(p) = frame {
            changes.push(p.status);
            if p.status == PresenceStatus::Offline {
                break;
            }
        }
    }
    assert_eq!(
        changes,
        vec![PresenceStatus::Away, PresenceStatus::Offline],
        "each change once, none for the first device leaving"
    );
    cluster.stop_all();
}

/// A message sent on a node that does not own its room costs two Redis publishes: the command
/// to the owner, and the delivery back to the sender's node with the `sent` beside it (the
/// owner holds that node's next batch for the commit; here up to 200 ms, so that a slow
/// commit on a busy test machine does not split them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_from_a_node_that_does_not_own_the_room_costs_two_publishes() {
    let hold = [("SWITCHBOARD_CLUSTER__REPLY_HOLD_MS", "200")];
    let mut cluster = Cluster::start_with("publishes", redis_url(), 2, &hold).await;
    let ring = cluster.ring();
    let (_, token) = cluster.user("sender").await;
    let mut sender = cluster.client(0, &token).await;
    let room = loop {
        let room = sender.create_room("two", Visibility::Public).await.unwrap();
        if ring.owner(room) == Some(&node(1)) {
            break room;
        }
    };
    sender.join(room, None).await.unwrap();
    // Members on both nodes besides the sender.
    let mut members = Vec::new();
    for (i, name) in [(0, "beside"), (1, "on-owner")] {
        let (_, token) = cluster.user(name).await;
        let mut c = cluster.client(i, &token).await;
        c.join(room, None).await.unwrap();
        members.push(c);
    }
    let published = async |cluster: &Cluster| {
        let name = "switchboard_bus_publishes_total";
        cluster.metric(0, name).await + cluster.metric(1, name).await
    };
    let before = published(&cluster).await;
    const N: usize = 40;
    for i in 0..N {
        let sent = sender.send(room, &format!("m{i}"), "hi").await.unwrap();
        assert!(!sent.duplicate);
    }
    let publishes = published(&cluster).await - before;
    for member in &mut members {
        let mut got = 0;
        while got < N {
            match member.event_within(support::WAIT).await {
                Some(ServerFrame::Message(m)) if m.room == room => got += 1,
                Some(_) => {}
                None => panic!("a member got {got} of {N} messages"),
            }
        }
    }
    eprintln!("{publishes} publishes for {N} messages sent from the non-owner");
    assert!(
        publishes <= (2 * N) as f64,
        "{publishes} publishes for {N} messages"
    );
    cluster.stop_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_joining_then_leaving_moves_only_its_share_of_rooms_without_gap() {
    let mut cluster = Cluster::start("rehome", redis_url(), 3).await;
    let rooms = rooms(&mut cluster, 24).await;
    let every = Duration::from_millis(15);
    let load = Load::start(&cluster, "rehome", &rooms, &[0, 1, 2], &[0, 2], every).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let before = cluster.ring();
    let added = cluster.spawn().await;
    cluster.settle().await;
    let after = cluster.ring();
    let moved: Vec<RoomId> = rooms
        .iter()
        .copied()
        .filter(|r| before.owner(*r) != after.owner(*r))
        .collect();
    assert!(moved.iter().all(|r| after.owner(*r) == Some(&node(added))));
    let mut moved_away = 0.0;
    for i in 0..3 {
        moved_away += cluster
            .metric(i, "switchboard_rooms_moved_away_total")
            .await;
    }
    eprintln!(
        "node-{added} joined: {} of {} rooms moved to it; old owners stopped {moved_away}",
        moved.len(),
        rooms.len()
    );
    assert_eq!(
        moved_away as usize,
        moved.len(),
        "only the moved rooms stopped"
    );
    assert!(
        !moved.is_empty() && moved.len() <= rooms.len() / 2,
        "about 1/4 moved"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;

    cluster.sigterm(added);
    cluster.settle().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (views, acked) = load.finish(Duration::from_secs(1)).await;
    let (stored, _) = verify(&cluster, &rooms, &views, &acked, Views::Exact).await;
    eprintln!(
        "{} acknowledged, {stored} stored, every follower saw exactly the store",
        acked.len()
    );
    assert!(acked.len() > 50, "the load ran");
    cluster.stop_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_s_rooms_serve_again_and_no_acknowledged_message_is_lost() {
    let mut cluster = Cluster::start("crash", redis_url(), 3).await;
    let rooms = rooms(&mut cluster, 18).await;
    let every = Duration::from_millis(20);
    let load = Load::start(&cluster, "crash", &rooms, &[0, 1, 2], &[0, 1, 2], every).await;
    let ring = cluster.ring();
    let victim_room = *rooms
        .iter()
        .find(|r| ring.owner(**r) == Some(&node(1)))
        .expect("node-1 owns a room");
    let (_, token) = cluster.user("probe").await;
    let mut probe = cluster.client(0, &token).await;
    probe.join(victim_room, None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let killed = Instant::now();
    cluster.kill9(1);
    // How long until a room node-1 owned takes sends again (through node-0).
    let mut n = 0;
    let recovered = loop {
        n += 1;
        match tokio::time::timeout(
            Duration::from_millis(150),
            probe.send(victim_room, &format!("probe-{n}"), "are you there"),
        )
        .await
        {
            Ok(Ok(_)) => break killed.elapsed(),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "never recovered"
        );
    };
    eprintln!(
        "rooms of the killed node took sends again after {recovered:?} (crash detection \
         configured: lease {LEASE_MS} ms + poll {POLL_MS} ms; probes every ~170 ms)"
    );
    let limit = Duration::from_millis(LEASE_MS + POLL_MS + 1500);
    assert!(recovered < limit, "recovered after {recovered:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let (views, acked) = load.finish(Duration::from_secs(1)).await;
    let (stored, copies) = verify(&cluster, &rooms, &views, &acked, Views::AllowCrashCopies).await;
    eprintln!(
        "{} acknowledged, {stored} stored; followers saw every stored message, plus {copies} \
         live copies the killed owner never stored (resent under the same cmid)",
        acked.len()
    );
    assert!(acked.len() > 30, "the load ran");
    cluster.stop_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_under_load_crashes_nothing_and_every_view_matches_the_store() {
    // A private Redis, so restarting it disturbs no other test.
    let mut redis = PrivateRedis::start().await;
    let url = redis.url();
    let mut cluster = Cluster::start("redisrestart", url, 3).await;
    let rooms = rooms(&mut cluster, 12).await;
    let every = Duration::from_millis(20);
    let load = Load::start(&cluster, "redis", &rooms, &[0, 1, 2], &[0, 1, 2], every).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    redis.down();
    tokio::time::sleep(Duration::from_secs(1)).await;
    redis.up().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    for n in &mut cluster.nodes {
        assert!(n.is_running(), "{} survived the Redis restart", n.name);
    }
    let (views, acked) = load.finish(Duration::from_secs(1)).await;
    let (stored, _) = verify(&cluster, &rooms, &views, &acked, Views::Exact).await;
    eprintln!(
        "{} acknowledged, {stored} stored, every follower's view matches the store",
        acked.len()
    );
    let gaps: f64 = {
        let mut g = 0.0;
        for i in 0..3 {
            g += cluster.metric(i, "switchboard_bus_gaps_total").await;
        }
        g
    };
    eprintln!("inbox resubscriptions and sequence gaps seen: {gaps}");
    assert!(acked.len() > 30, "the load ran");
    cluster.stop_all();
}

/// What one connection sent raw (rids from `first_rid`, so the client library's own requests
/// never collide) and every reply it got to them.
struct RawCommands {
    sent: Vec<u64>,
    replies: std::collections::HashMap<u64, Vec<ServerFrame>>,
}

/// Until `stop_at`, sends `send` to `room` every 10 ms, a `join` every fifth time, and a
/// `join` right after each `room_reset`; then reads replies for `settle` more.
async fn raw_commands(
    mut client: switchboard_client::Client,
    room: RoomId,
    first_rid: u64,
    stop_at: Instant,
    settle: Duration,
) -> RawCommands {
    use switchboard_engine::protocol::{self as p, ClientFrame};
    let mut raw = RawCommands {
        sent: Vec::new(),
        replies: Default::default(),
    };
    let mut rid = first_rid;
    let mut command = |client: &switchboard_client::Client, join: bool| {
        rid += 1;
        let frame = if join {
            ClientFrame::Join(p::Join {
                rid,
                room,
                resume: client.position(room),
            })
        } else {
            ClientFrame::Send(p::Send {
                rid,
                room,
                cmid: format!("raw-{rid}"),
                text: "one reply each".into(),
                attachments: Vec::new(),
                first: false,
                reply_to: None,
            })
        };
        let bytes = switchboard_engine::Codec::MsgPack.encode(&frame).unwrap();
        client.send_raw(bytes.to_vec(), false).expect("socket open");
        rid
    };
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut n = 0u64;
    let end = tokio::time::Instant::from_std(stop_at + settle);
    loop {
        tokio::select! {
            _ = tick.tick(), if Instant::now() < stop_at => {
                n += 1;
                raw.sent.push(command(&client, n.is_multiple_of(5)));
            }
            frame = client.next_event() => match frame {
                Some(ServerFrame::RoomReset(r)) if r.room == room && Instant::now() < stop_at => {
                    raw.sent.push(command(&client, true));
                }
                Some(frame) => {
                    if let Some(rid) = frame.rid().filter(|r| *r > first_rid) {
                        raw.replies.entry(rid).or_default().push(frame);
                    }
                }
                None => panic!("connection closed: {:?}", client.close_frame()),
            },
            _ = tokio::time::sleep_until(end) => break,
        }
    }
    raw
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_for_a_killed_owner_s_room_gets_exactly_one_reply() {
    let mut cluster = Cluster::start("onereply", redis_url(), 3).await;
    let ring = cluster.ring();
    let (_, token) = cluster.user("one-reply").await;
    let creator = cluster.client(0, &token).await;
    let room = loop {
        let room = creator
            .create_room("doomed owner", Visibility::Public)
            .await
            .unwrap();
        if ring.owner(room) == Some(&node(1)) {
            break room;
        }
    };
    // Members on node-0 and node-2, joined at node-1.
    let mut on_0 = cluster.client(0, &token).await;
    let mut on_2 = cluster.client(2, &token).await;
    on_0.join(room, None).await.unwrap();
    on_2.join(room, None).await.unwrap();
    // Commands go on from before the kill until well after the ring dropped node-1; then
    // every reply has the reply deadline (1.5 s here) and a margin to arrive.
    let stop_at = Instant::now() + Duration::from_millis(300 + 3 * (LEASE_MS + POLL_MS));
    let settle = Duration::from_millis(REPLY_TIMEOUT_MS + 1500);
    let drivers = [(on_0, 1_000_000), (on_2, 2_000_000)]
        .map(|(c, rid)| tokio::spawn(raw_commands(c, room, rid, stop_at, settle)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    cluster.kill9(1);
    // A client that moved off the dead node: a new connection on node-0 whose first command
    // is its join, sent before node-0 has noticed the crash.
    let moved = cluster.client(0, &token).await;
    let moved = tokio::spawn(raw_commands(moved, room, 3_000_000, stop_at, settle));

    let mut sent_ok = 0;
    let mut busy = 0;
    for (i, driver) in drivers.into_iter().chain([moved]).enumerate() {
        let raw = driver.await.unwrap();
        for rid in &raw.sent {
            let replies = raw.replies.get(rid).map(Vec::as_slice).unwrap_or_default();
            if replies.len() != 1 {
                cluster.dump_logs();
                panic!(
                    "client {i}: command {rid} got {} replies: {replies:?} ({} commands sent)",
                    replies.len(),
                    raw.sent.len()
                );
            }
            match &replies[0] {
                ServerFrame::Sent(_) => sent_ok += 1,
                ServerFrame::Error(e) if e.code == switchboard_engine::ErrorCode::Busy => busy += 1,
                _ => {}
            }
        }
    }
    eprintln!("every command got exactly one reply: {sent_ok} sent, {busy} busy");
    assert!(busy > 0, "some commands were routed to the dead node");
    assert!(sent_ok > 0, "the room served again");
    cluster.stop_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_node_sends_work_again_within_half_a_second_of_redis_coming_back() {
    let mut redis = PrivateRedis::start().await;
    let mut cluster = Cluster::start("redisback", redis.url(), 2).await;
    let ring = cluster.ring();
    let (_, token) = cluster.user("across").await;
    let sender = cluster.client(0, &token).await;
    // Owned by node-1: each send crosses to node-1 and its `sent` crosses back.
    let room = loop {
        let room = sender
            .create_room("across", Visibility::Public)
            .await
            .unwrap();
        if ring.owner(room) == Some(&node(1)) {
            break room;
        }
    };
    sender.send(room, "before", "hello").await.unwrap();

    // Sends go on all through the outage (as a chat's would), so the Redis client is in the
    // middle of its reconnect backoff when Redis comes back.
    let mut outage = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        redis.down();
        tokio::time::sleep(Duration::from_secs(6)).await;
        redis.up().await;
        (Instant::now(), redis)
    });
    let mut back: Option<(Instant, PrivateRedis)> = None;
    let mut n = 0;
    let took = loop {
        n += 1;
        let cmid = format!("probe-{n}");
        let probe = sender.send(room, &cmid, "there?");
        let acked = matches!(
            tokio::time::timeout(Duration::from_millis(100), probe).await,
            Ok(Ok(_))
        );
        if let Some((at, _)) = &back {
            if acked {
                break at.elapsed();
            }
            assert!(at.elapsed() < Duration::from_secs(10), "never recovered");
        } else if outage.is_finished() {
            back = Some((&mut outage).await.unwrap());
            continue;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    eprintln!(
        "after a 6 s Redis outage, a cross-node send was acknowledged {took:?} after Redis was back"
    );
    assert!(
        took < Duration::from_millis(500),
        "cross-node traffic came back {took:?} after Redis"
    );
    cluster.stop_all();
}

/// Edits, reactions, replies and deletes of a room owned by another node: each reaches every
/// node once, in its place in the sequence; after the owner is killed, the room's next owner
/// reads the targets back from the store and decides as the first did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_to_messages_cross_nodes_and_survive_the_owner_s_crash() {
    let mut cluster = Cluster::start("changes", redis_url(), 3).await;
    let ring = cluster.ring();
    let (_, ann_token) = cluster.user("ann").await;
    let (_, bob_token) = cluster.user("bob").await;
    let mut ann = cluster.client(0, &ann_token).await;
    let room = loop {
        let room = ann.create_room("edited", Visibility::Public).await.unwrap();
        if ring.owner(room) == Some(&node(1)) {
            break room;
        }
    };
    let mut bob = cluster.client(2, &bob_token).await;
    ann.join(room, None).await.unwrap();
    bob.join(room, None).await.unwrap();
    let first = ann.send(room, "m1", "hello wrld").await.unwrap().pos;
    let edit = ann.edit(room, "e1", first, "hello world").await.unwrap();
    let thumbs = bob.react(room, "r1", first, "👍", false).await.unwrap();
    let reply = bob.reply(room, "m2", "yes", first).await.unwrap();
    // Bob's node and Ann's see every entry once, in order.
    for (who, c) in [("bob", &mut bob), ("ann", &mut ann)] {
        let mut seen = Vec::new();
        while seen.len() < 4 {
            let frame = c.event_within(support::WAIT).await.expect("an entry");
            if let Some((r, pos)) = frame.room_position()
                && r == room
            {
                seen.push(pos);
            }
        }
        assert_eq!(seen, [first, edit.pos, thumbs.pos, reply.pos], "{who}");
    }

    cluster.kill9(1);
    let killed = Instant::now();
    // The next owner decides on the target as stored: Bob's reaction is there, so a second
    // one is refused; Ann may still edit; Bob may not.
    let again = loop {
        match bob.react(room, "r2", first, "👍", false).await {
            Err(e) if e.code() == Some(switchboard_engine::ErrorCode::Busy) => {}
            Err(e) if e.code().is_none() => {}
            other => break other,
        }
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "never recovered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        again.err().and_then(|e| e.code()),
        Some(switchboard_engine::ErrorCode::Conflict)
    );
    assert_eq!(
        bob.edit(room, "e2", first, "bob was here")
            .await
            .err()
            .and_then(|e| e.code()),
        Some(switchboard_engine::ErrorCode::Forbidden)
    );
    let later = ann.edit(room, "e3", first, "hello, world").await.unwrap();
    assert!(later.pos.epoch > first.epoch, "a new owner's epoch");
    let removed = bob.react(room, "r3", first, "👍", true).await.unwrap();
    let deleted = ann.delete(room, "d1", first).await.unwrap();
    let page = ann.history(room, None, None, 10).await.unwrap().messages;
    assert!(page[0].deleted && page[0].reactions.is_empty(), "{page:?}");
    assert_eq!(page[1].reply_to.as_ref().map(|q| q.deleted), Some(true));

    // A third device resuming from the first message gets every change after it, in order.
    let mut phone = cluster.client(0, &bob_token).await;
    phone.join(room, Some(first)).await.unwrap();
    let mut replayed = Vec::new();
    while replayed.last() != Some(&deleted.pos) {
        let frame = phone
            .event_within(support::WAIT)
            .await
            .expect("a replayed entry");
        if let Some((_, pos)) = frame.room_position() {
            replayed.push(pos);
        }
    }
    assert_eq!(
        replayed,
        [
            edit.pos,
            thumbs.pos,
            reply.pos,
            later.pos,
            removed.pos,
            deleted.pos
        ]
    );
    cluster.stop_all();
}

/// A rolling deploy: each node of three replaced in turn (SIGTERM, a new process at the same
/// address and with the same node id) while every node takes sends. Each old node drains well
/// within a load balancer's deregistration delay; no acknowledged message is lost, and every
/// follower (told 1012 and resuming on another node) saw the store's messages in order without
/// gap. Besides them a follower may see a copy that a room's incarnation fanned out while its
/// rooms were moving and that a newer owner fenced before it was stored (its sender, never told
/// `sent`, sent it again, PROTOCOL §8.2): with the id reused, the ring flaps (the node leaves
/// and comes back within a lease) and a room moves twice in a moment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_deploy_replaces_every_node_under_load_without_loss_or_gap() {
    let mut cluster = Cluster::start("rolling", redis_url(), 3).await;
    let rooms = rooms(&mut cluster, 12).await;
    let every = Duration::from_millis(20);
    let load = Load::start(&cluster, "rolling", &rooms, &[0, 1, 2], &[0, 1, 2], every).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    for i in 0..3 {
        let drained = cluster.replace(i).await;
        eprintln!("node-{i} drained and exited in {drained:?}; its replacement is up");
        // The deregistration delay ops/terraform sets (30 s) must outlast the drain.
        assert!(
            drained < Duration::from_secs(10),
            "node-{i} took {drained:?}"
        );
        cluster.settle().await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let (views, acked) = load.finish(Duration::from_secs(1)).await;
    let (stored, copies) = verify(&cluster, &rooms, &views, &acked, Views::AllowCrashCopies).await;
    eprintln!(
        "{} acknowledged across three replacements, {stored} stored, every follower saw the \
         store in order; {copies} fenced live copies",
        acked.len()
    );
    assert!(acked.len() > 100, "the load ran");
    cluster.stop_all();
}

/// The room list on a three-node cluster: rooms owned by different nodes, messages sent
/// through another node, edited and read; a user's devices on two nodes list the same rooms in
/// the same order, with the same last messages and unread counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_room_list_is_the_same_from_every_node() {
    let mut cluster = Cluster::start("roomlist", redis_url(), 3).await;
    let ring = cluster.ring();
    let (_, ann_token) = cluster.user("ann").await;
    let (bob, bob_token) = cluster.user("bob").await;
    let ann = cluster.client(0, &ann_token).await;
    // One room owned by each node.
    let mut rooms = Vec::new();
    for owner in 0..3 {
        let room = loop {
            let room = ann
                .create_room(&format!("owned by {owner}"), Visibility::Private)
                .await
                .unwrap();
            if ring.owner(room) == Some(&node(owner)) {
                break room;
            }
        };
        ann.invite(room, bob).await.unwrap();
        rooms.push(room);
    }
    let mut last = Vec::new();
    for (i, &room) in rooms.iter().enumerate() {
        for j in 0..=i {
            last.push(
                ann.send(room, &format!("m{i}-{j}"), &format!("hello {i}.{j}"))
                    .await
                    .unwrap()
                    .pos,
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    // Room 0 gets the newest message: an edit is no new message, a send is.
    ann.edit(rooms[1], "e", last[2], "edited 1.1")
        .await
        .unwrap();
    let newest = ann.send(rooms[0], "m0-new", "newest").await.unwrap().pos;
    let bob_on_1 = cluster.client(1, &bob_token).await;
    let mut bob_on_2 = cluster.client(2, &bob_token).await;
    bob_on_2.join(rooms[0], None).await.unwrap();
    bob_on_2.mark_read(rooms[0], newest).await.unwrap();
    let expected = vec![
        (rooms[0], Some("newest".to_owned()), 0),
        (rooms[2], Some("hello 2.2".to_owned()), 3),
        (rooms[1], Some("edited 1.1".to_owned()), 2),
    ];
    assert_eq!(room_list(&bob_on_1).await, expected, "from node-1");
    assert_eq!(room_list(&bob_on_2).await, expected, "from node-2");
    cluster.stop_all();
}

/// A user's room list as (room, last message's text, unread), in its order.
async fn room_list(c: &switchboard_client::Client) -> Vec<(RoomId, Option<String>, u32)> {
    let (page, more) = c.rooms(None, 10).await.unwrap();
    assert!(!more);
    page.into_iter()
        .map(|r| (r.id, r.last.map(|m| m.text), r.unread))
        .collect()
}
