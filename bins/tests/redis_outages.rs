//! Repeated short Redis outages under traffic, on two `switchboard` processes with a Redis of
//! the test's own: after each, the members of rooms owned by the other node get `room_reset`,
//! their rejoin is answered and messages flow again within a second of Redis being back
//! (ARCHITECTURE §11 promises Redis back + 250 ms), and in the end every member's view of its
//! room is the store's. Timing as in `multinode.rs` (lease 700 ms, replies awaited 1.5 s).

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::cluster::{Cluster, Load, View, Views, verify};
use support::private_redis::PrivateRedis;
use switchboard_client::Client;
use switchboard_engine::protocol::{ResumeOutcome, ServerFrame, Visibility};
use switchboard_engine::ring::NodeId;
use switchboard_engine::{Position, RoomId};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long Redis is away each time (not multiples of the 250 ms between two subscription
/// attempts, so nodes find it back at different points of their wait).
const OUTAGES_MS: [u64; 5] = [1100, 2900, 1650, 2350, 1900];
/// From Redis back to messages flowing again at every member. §11 promises Redis back +
/// 250 ms (the later node subscribing again) and a round trip; a rejoin lost because its
/// room's owner had not subscribed yet waits out the reply deadline (1.5 s here) instead.
const RECOVERY_BOUND: Duration = Duration::from_secs(1);
/// Members per room, all on the node that does not own it.
const MEMBERS: usize = 2;

/// What one member went through since its last `room_reset`.
#[derive(Clone, Copy, Default)]
struct Track {
    reset: Option<Instant>,
    /// Its rejoin answered `joined`.
    joined: Option<Instant>,
    /// The first message after that.
    flowing: Option<Instant>,
    /// Rejoins answered with an error (`busy`) or not at all (the client's 2 s).
    failed_rejoins: u32,
}

/// A member of `room` (`client` has joined it) that rejoins from its position after each
/// `room_reset`, noting when (in `track`); panics on a message not newer than the last one.
fn member(
    mut client: Client,
    room: RoomId,
    track: Arc<Mutex<Track>>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<View> {
    let note = move |f: &dyn Fn(&mut Track)| f(&mut track.lock().unwrap());
    tokio::spawn(async move {
        let mut view = View::new();
        let seen = view.entry(room).or_default();
        loop {
            let event = tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                e = client.next_event() => e,
            };
            match event {
                Some(ServerFrame::Message(m)) if m.room == room => {
                    if let Some((last, _)) = seen.last() {
                        assert!(m.pos > *last, "room {room}: {} after {last}", m.pos);
                    }
                    seen.push((m.pos, m.cmid));
                    note(&|t| {
                        if t.joined.is_some() && t.flowing.is_none() {
                            t.flowing = Some(Instant::now());
                        }
                    });
                }
                Some(ServerFrame::RoomReset(r)) if r.room == room => {
                    note(&|t| {
                        *t = Track {
                            reset: Some(Instant::now()),
                            failed_rejoins: t.failed_rejoins,
                            ..Track::default()
                        }
                    });
                    let mut tries = 0;
                    loop {
                        let from = client.position(room).unwrap_or(Position::ZERO);
                        match client.join(room, Some(from)).await {
                            Ok(_) => break,
                            Err(_) => note(&|t| t.failed_rejoins += 1),
                        }
                        tries += 1;
                        assert!(tries < 100, "could not rejoin room {room}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    note(&|t| t.joined = Some(Instant::now()));
                }
                Some(ServerFrame::Resume(r)) => {
                    assert_eq!(r.outcome, ResumeOutcome::Recovered, "room {}", r.room)
                }
                Some(_) => {}
                None => panic!("member's connection closed: {:?}", client.close_frame()),
            }
        }
        view
    })
}

/// A room owned by `owner`, with a sender there and members on the other node.
struct Watched {
    room: RoomId,
    load: Load,
    tracks: Vec<Arc<Mutex<Track>>>,
    members: Vec<JoinHandle<View>>,
}

async fn watched(cluster: &mut Cluster, owner: usize, stop: &watch::Sender<bool>) -> Watched {
    let ring = cluster.ring();
    let (_, token) = cluster.user(&format!("creator-{owner}")).await;
    let creator = cluster.client(owner, &token).await;
    let room = loop {
        let room = creator
            .create_room("outages", Visibility::Public)
            .await
            .unwrap();
        if ring.owner(room) == Some(&NodeId(format!("node-{owner}"))) {
            break room;
        }
    };
    // Members first: each sees the room from its first message.
    let (mut tracks, mut members) = (Vec::new(), Vec::new());
    for m in 0..MEMBERS {
        let (_, token) = cluster.user(&format!("member-{owner}-{m}")).await;
        let mut client = cluster.client(1 - owner, &token).await;
        client.join(room, None).await.expect("initial join");
        let track = Arc::new(Mutex::new(Track::default()));
        members.push(member(client, room, track.clone(), stop.subscribe()));
        tracks.push(track);
    }
    let every = Duration::from_millis(20);
    let load = Load::start(cluster, &format!("o{owner}"), &[room], &[], &[owner], every).await;
    Watched {
        room,
        load,
        tracks,
        members,
    }
}

/// Time from `back` to `at` (zero when before).
fn after(back: Instant, at: Option<Instant>) -> Option<Duration> {
    at.map(|at| at.saturating_duration_since(back))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_each_of_several_short_redis_outages_remote_members_rejoin_and_messages_flow_within_a_second()
 {
    let mut redis = PrivateRedis::start().await;
    let mut cluster = Cluster::start("outages", redis.url(), 2).await;
    let stop = watch::channel(false).0;
    // Both directions: whichever node subscribes again first, the other's members rejoin too.
    let rooms = [
        watched(&mut cluster, 0, &stop).await,
        watched(&mut cluster, 1, &stop).await,
    ];
    let tracks: Vec<(RoomId, Arc<Mutex<Track>>)> = rooms
        .iter()
        .flat_map(|w| w.tracks.iter().map(|t| (w.room, t.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut slow = Vec::new();
    for (k, ms) in OUTAGES_MS.into_iter().enumerate() {
        let down = Instant::now();
        redis.down();
        tokio::time::sleep(Duration::from_millis(ms)).await;
        redis.up().await;
        let back = Instant::now();
        // Every member reset since `down`, rejoined and receiving (or 4 s passed).
        let recovered = || {
            tracks.iter().all(|(_, t)| {
                let t = *t.lock().unwrap();
                t.reset.is_some_and(|r| r > down) && t.flowing.is_some()
            })
        };
        while !recovered() && back.elapsed() < Duration::from_secs(4) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for (room, t) in &tracks {
            let t = *t.lock().unwrap();
            let fresh = t.reset.is_some_and(|r| r > down);
            let flowing = after(back, t.flowing).filter(|_| fresh);
            eprintln!(
                "outage {k} ({ms} ms), room {room}: reset +{:?}, rejoined +{:?}, flowing +{:?} \
                 after Redis was back; rejoins refused or unanswered so far: {}",
                after(back, t.reset).filter(|_| fresh),
                after(back, t.joined).filter(|_| fresh),
                flowing,
                t.failed_rejoins,
            );
            if flowing.is_none_or(|f| f > RECOVERY_BOUND) {
                slow.push((k, *room, flowing));
            }
        }
        // Traffic as usual for a while before the next outage.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Senders stop first; members once the last messages had time to arrive.
    let mut finished = Vec::new();
    for w in rooms {
        let (_, acked) = w.load.finish(Duration::from_millis(500)).await;
        finished.push((w.room, w.members, acked));
    }
    let _ = stop.send(true);
    for (room, members, acked) in finished {
        let mut views = Vec::new();
        for m in members {
            views.push(m.await.expect("member"));
        }
        let (stored, _) = verify(&cluster, &[room], &views, &acked, Views::Exact).await;
        eprintln!("room {room}: {stored} stored, every member's view matches the store");
    }
    if !slow.is_empty() {
        cluster.dump_logs();
    }
    assert!(
        slow.is_empty(),
        "members not receiving again within {RECOVERY_BOUND:?} of Redis being back \
         (outage, room, time): {slow:?}"
    );
    cluster.stop_all();
}
