//! Pins over real sockets (PROTOCOL §6.16): `joined` names the caller's role; an owner pins and unpins messages, each an entry of
//! the room's sequence (`pinned` live, replayed on resume, idempotent by `cmid`); members may
//! not; `pins` lists the pinned messages newest pin first and history marks them; a deleted
//! message leaves the list; on SQLite and on Postgres.

mod support;

use support::{TestNode, WAIT, expect, start};
use switchboard_client::{Client, ClientError};
use switchboard_engine::domain::Role;
use switchboard_engine::protocol::{ServerFrame, Visibility};
use switchboard_engine::{ErrorCode, Position, RoomId, UserId};

fn code<T: std::fmt::Debug>(r: Result<T, ClientError>) -> Option<ErrorCode> {
    r.err().and_then(|e| e.code())
}

async fn named(t: &TestNode, name: &str) -> (UserId, Client) {
    let s = t
        .node
        .accounts
        .sign_up(name, "correct horse")
        .await
        .unwrap();
    (s.user.id, t.client(&s.token).await)
}

async fn pinned(c: &Client, room: RoomId) -> Vec<Position> {
    let (list, more) = c.pins(room, 100).await.unwrap();
    assert!(!more);
    list.iter().map(|m| m.pos).collect()
}

async fn pins(t: &TestNode) {
    let (_, mut ann) = named(t, "ann_pin").await;
    let (bob_id, mut bob) = named(t, "bob_pin").await;
    let room = ann.create_room("pins", Visibility::Private).await.unwrap();
    ann.invite(room, bob_id).await.unwrap();
    // `joined` tells each their role, so a client offers pins to those who may pin.
    let joined = ann.join(room, None).await.unwrap();
    assert_eq!(joined.role, Some(Role::Owner));
    let joined = bob.join(room, None).await.unwrap();
    assert_eq!(joined.role, Some(Role::Member));
    let first = ann.send(room, "m1", "the plan").await.unwrap().pos;
    let second = bob.send(room, "m2", "the venue").await.unwrap().pos;
    let third = bob.send(room, "m3", "the time").await.unwrap().pos;
    let before_pins = third;

    let pin = ann.pin(room, "p1", second, false).await.unwrap();
    let live = expect(&mut bob, WAIT, |f| match f {
        ServerFrame::Pinned(p) if p.pos == pin.pos => Some(p),
        _ => None,
    })
    .await;
    assert_eq!((live.target, live.removed), (second, false));
    ann.pin(room, "p2", first, false).await.unwrap();
    assert_eq!(
        pinned(&bob, room).await,
        [first, second],
        "newest pin first"
    );
    // The same cmid again is the same pin; pinning a pinned message is a conflict.
    assert!(ann.pin(room, "p1", second, false).await.unwrap().duplicate);
    assert_eq!(
        code(ann.pin(room, "p9", second, false).await),
        Some(ErrorCode::Conflict)
    );
    // A member may not pin or unpin; nobody unpins what is not pinned.
    assert_eq!(
        code(bob.pin(room, "b1", third, false).await),
        Some(ErrorCode::Forbidden)
    );
    assert_eq!(
        code(ann.pin(room, "p3", third, true).await),
        Some(ErrorCode::NotFound)
    );
    let page = bob.history(room, None, None, 10).await.unwrap().messages;
    let marks: Vec<(Position, bool)> = page.iter().map(|m| (m.pos, m.pinned)).collect();
    assert_eq!(marks, [(first, true), (second, true), (third, false)]);

    // Unpinned, and deleted: each leaves the list.
    let unpin = ann.pin(room, "p4", first, true).await.unwrap();
    assert_eq!(pinned(&ann, room).await, [second]);
    ann.delete(room, "d1", second).await.unwrap();
    assert!(pinned(&ann, room).await.is_empty());

    // A member who was away gets the pins and unpins in order on resume.
    let mut again = {
        let s = t
            .node
            .accounts
            .sign_in("bob_pin", "correct horse")
            .await
            .unwrap();
        t.client(&s.token).await
    };
    again.join(room, Some(before_pins)).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let f = again.event_within(WAIT).await.expect("replayed pins");
        if let ServerFrame::Pinned(p) = f {
            seen.push((p.target, p.removed));
        }
    }
    assert_eq!(seen, [(second, false), (first, false), (first, true)]);
    assert_eq!(unpin.pos.seq, pin.pos.seq + 2);
    assert_eq!(
        code(ann.pins(room, 0).await),
        Some(ErrorCode::InvalidArgument)
    );
}

#[tokio::test]
async fn pins_on_sqlite() {
    let t = start(|_| {}).await;
    pins(&t).await;
    t.node.shutdown().await;
}

#[tokio::test]
async fn pins_on_postgres() {
    let (_db, t) = support::start_on_postgres("pins").await;
    pins(&t).await;
    t.node.shutdown().await;
}
