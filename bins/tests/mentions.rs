//! `@name` mentions over real sockets (PROTOCOL §6.8): resolved on send to the members they
//! name (case ignored; unknown names and non-members stay plain text), carried by the live
//! event, a resume and history, and counted apart in the room list's unread state until the
//! mentioned user reads; on SQLite and on Postgres.

mod support;

use support::{TestNode, WAIT, expect, start};
use switchboard_client::Client;
use switchboard_engine::protocol::{ServerFrame, Visibility};
use switchboard_engine::{RoomId, UserId};

async fn named(t: &TestNode, name: &str) -> (UserId, Client) {
    let s = t
        .node
        .accounts
        .sign_up(name, "correct horse")
        .await
        .unwrap();
    (s.user.id, t.client(&s.token).await)
}

/// `c`'s room list row for `room`: (unread, mentions).
async fn counts(c: &Client, room: RoomId) -> (u32, u32) {
    let (list, _) = c.rooms(None, 100).await.unwrap();
    let row = list
        .iter()
        .find(|s| s.id == room)
        .expect("the room is listed");
    (row.unread, row.mentions)
}

async fn mentions(t: &TestNode) {
    let (_, mut ann) = named(t, "ann_mn").await;
    let (bob_id, mut bob) = named(t, "bob_mn").await;
    let (cy_id, _cy) = named(t, "cy_mn").await;
    let (dan_id, _dan) = named(t, "dan_mn").await;
    let room = ann.create_room("plans", Visibility::Private).await.unwrap();
    ann.invite(room, bob_id).await.unwrap();
    ann.invite(room, dan_id).await.unwrap();
    ann.join(room, None).await.unwrap();

    let text =
        "hi @BOB_mn, @cy_mn (not here) and @nobody_mn; mail dan@example.com or @dan_mn. @bob_mn";
    let sent = ann.send(room, "m1", text).await.unwrap();
    let live = expect(&mut ann, WAIT, |f| match f {
        ServerFrame::Message(m) if m.pos == sent.pos => Some(m),
        _ => None,
    })
    .await;
    assert_eq!(
        live.mentions,
        [bob_id, dan_id],
        "members named, in order, once each"
    );
    assert_eq!(live.text, text, "the text as written");
    assert!(!live.mentions.contains(&cy_id));

    let page = bob.history(room, None, None, 10).await.unwrap();
    assert_eq!(page.messages[0].mentions, [bob_id, dan_id]);
    // A resend of the same cmid is the same message.
    assert!(ann.send(room, "m1", text).await.unwrap().duplicate);

    ann.send(room, "m2", "no one named here").await.unwrap();
    assert_eq!(
        counts(&bob, room).await,
        (2, 1),
        "two unread, one mentions bob"
    );
    assert_eq!(counts(&ann, room).await, (0, 0), "her own messages");
    let plain = ann
        .send(room, "m3", "@ann_mn talking to myself")
        .await
        .unwrap();
    assert_eq!(
        counts(&ann, room).await,
        (0, 0),
        "her own mention of herself"
    );
    bob.join(room, None).await.unwrap();
    bob.mark_read(room, plain.pos).await.unwrap();
    assert_eq!(counts(&bob, room).await, (0, 0), "read: nothing left");
    let last = ann.send(room, "m4", "@bob_mn again").await.unwrap();
    assert_eq!(counts(&bob, room).await, (1, 1));
    // A reconnecting member gets the mention with the missed message.
    let mut again = {
        let s = t
            .node
            .accounts
            .sign_in("bob_mn", "correct horse")
            .await
            .unwrap();
        t.client(&s.token).await
    };
    again.join(room, Some(plain.pos)).await.unwrap();
    let replayed = expect(&mut again, WAIT, |f| match f {
        ServerFrame::Message(m) if m.pos == last.pos => Some(m),
        _ => None,
    })
    .await;
    assert_eq!(replayed.mentions, [bob_id]);
}

#[tokio::test]
async fn mentions_on_sqlite() {
    let t = start(|_| {}).await;
    mentions(&t).await;
    t.node.shutdown().await;
}

#[tokio::test]
async fn mentions_on_postgres() {
    let (_db, t) = support::start_on_postgres("mentions").await;
    mentions(&t).await;
    t.node.shutdown().await;
}
