//! The room list over real sockets: `rooms` by activity and paged, with last messages (a
//! tombstone once deleted), unread counts that follow `mark_read`, direct conversations named
//! after the other person, `mute`, their bounds and errors, and `GET /api/rooms/list` beside
//! the unchanged `GET /api/rooms`; on SQLite and on Postgres.

mod support;

use support::{TestNode, start};
use switchboard_client::{Client, ClientError};
use switchboard_engine::domain::RoomKind;
use switchboard_engine::protocol::Visibility;
use switchboard_engine::{ErrorCode, RoomId, UserId};
use switchboard_persistence::store::scratch::{ScratchDatabase, admin_url};

fn code<T: std::fmt::Debug>(r: Result<T, ClientError>) -> Option<ErrorCode> {
    r.err().and_then(|e| e.code())
}

/// A new account named `name`: its id, a connected client and its token.
async fn named(t: &TestNode, name: &str) -> (UserId, Client, String) {
    let s = t
        .node
        .accounts
        .sign_up(name, "correct horse")
        .await
        .unwrap();
    (s.user.id, t.client(&s.token).await, s.token)
}

/// `GET path` with `token`: the status and the JSON body.
async fn get(t: &TestNode, token: Option<&str>, path: &str) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new().get(format!("{}{path}", t.http_url()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

async fn the_room_list(t: &TestNode) {
    let (ann, mut ann_c, token) = named(t, "ann_rl").await;
    let (bob, bob_c, _) = named(t, "bob_rl").await;
    let (_, cy_c, _) = named(t, "cy_rl").await;
    bob_c.set_profile(Some("Bob B."), None).await.unwrap();

    // Created first and never written to: active since ann joined it.
    let quiet = ann_c
        .create_room("quiet", Visibility::Private)
        .await
        .unwrap();
    let team = ann_c.create_room("team", Visibility::Public).await.unwrap();
    ann_c.invite(team, bob).await.unwrap();
    bob_c.send(team, "b1", "first").await.unwrap();
    bob_c.send(team, "b2", "second").await.unwrap();
    ann_c.join(team, None).await.unwrap();
    let mine = ann_c.send(team, "a1", "mine").await.unwrap();
    let direct = bob_c.open_direct(ann).await.unwrap();
    let hello = bob_c.send(direct, "d1", "hello ann").await.unwrap();
    let cys = cy_c
        .create_room("elsewhere", Visibility::Public)
        .await
        .unwrap();

    let (list, more) = ann_c.rooms(None, 10).await.unwrap();
    assert!(!more);
    let ids: Vec<RoomId> = list.iter().map(|s| s.id).collect();
    assert_eq!(ids, [direct, team, quiet], "newest activity first");
    let (d, tm, q) = (&list[0], &list[1], &list[2]);
    assert_eq!(d.kind, RoomKind::Direct);
    assert_eq!(d.name, "Bob B.", "the other person, never \"lo:hi\"");
    assert_eq!(d.peer.as_ref().map(|p| p.id), Some(bob));
    let last = d.last.as_ref().expect("a last message");
    assert_eq!((last.text.as_str(), last.pos), ("hello ann", hello.pos));
    assert_eq!((d.unread, d.unread_more, d.muted), (1, false, false));
    assert_eq!(tm.name, "team");
    assert_eq!(tm.last.as_ref().map(|m| m.pos), Some(mine.pos));
    assert_eq!(tm.unread, 2, "bob's two, not ann's own");
    assert_eq!(tm.activity, tm.last.as_ref().unwrap().ts);
    assert!(q.last.is_none() && q.unread == 0);
    assert!(q.activity <= tm.activity);

    // Bob's view: the conversation is named after ann (no display name: her account name).
    let (bobs, _) = bob_c.rooms(None, 10).await.unwrap();
    assert_eq!(
        bobs.iter().map(|s| s.id).collect::<Vec<_>>(),
        [direct, team]
    );
    assert_eq!(bobs[0].name, "ann_rl");
    assert_eq!(bobs[1].unread, 1);

    // Reading clears the count; muting shows, and still counts.
    ann_c.mark_read(team, mine.pos).await.unwrap();
    ann_c.mute(direct, true).await.unwrap();
    let (list, _) = ann_c.rooms(None, 10).await.unwrap();
    assert_eq!((list[1].id, list[1].unread), (team, 0));
    assert!(list[0].muted && list[0].unread == 1);
    // A deleted last message shows as a tombstone and is no longer unread; the room keeps
    // its place (a change is no new activity).
    bob_c.delete(direct, "x1", hello.pos).await.unwrap();
    let (list, _) = ann_c.rooms(None, 10).await.unwrap();
    assert_eq!(list[0].id, direct);
    let last = list[0].last.as_ref().unwrap();
    assert!(last.deleted && last.text.is_empty(), "{last:?}");
    assert_eq!(list[0].unread, 0);
    ann_c.mute(direct, false).await.unwrap();
    assert!(!ann_c.rooms(None, 1).await.unwrap().0[0].muted);

    // Pages by cursor.
    let (page, more) = ann_c.rooms(None, 2).await.unwrap();
    assert!(more);
    assert_eq!(
        page.iter().map(|s| s.id).collect::<Vec<_>>(),
        [direct, team]
    );
    let (rest, more) = ann_c.rooms(Some(page[1].cursor()), 2).await.unwrap();
    assert!(!more);
    assert_eq!(rest.iter().map(|s| s.id).collect::<Vec<_>>(), [quiet]);

    // Bounds and errors.
    for limit in [0, 101] {
        assert_eq!(
            code(ann_c.rooms(None, limit).await),
            Some(ErrorCode::InvalidArgument),
            "limit {limit}"
        );
    }
    assert_eq!(
        code(ann_c.mute(cys, true).await),
        Some(ErrorCode::Forbidden)
    );
    assert_eq!(
        code(ann_c.mute(RoomId(999_999), true).await),
        Some(ErrorCode::NotFound)
    );

    // HTTP: the same page; `GET /api/rooms` as before (every room, by id, as RoomInfo).
    let (status, body) = get(t, Some(&token), "/api/rooms/list?limit=2").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["more"], true);
    let rooms = body["rooms"].as_array().unwrap();
    assert_eq!(
        (rooms[0]["id"].as_u64(), rooms[1]["id"].as_u64()),
        (Some(direct.0), Some(team.0))
    );
    assert_eq!(rooms[0]["name"], "Bob B.");
    assert_eq!(rooms[0]["peer"]["id"], bob.0);
    assert_eq!(rooms[1]["unread"], 0);
    let path = format!(
        "/api/rooms/list?before={}:{}",
        rooms[1]["activity"], rooms[1]["id"]
    );
    let (status, body) = get(t, Some(&token), &path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rooms"][0]["id"], quiet.0);
    assert_eq!(body["more"], false);
    let (status, body) = get(t, Some(&token), "/api/rooms/list?before=7").await;
    assert_eq!((status, &body["error"]["code"]), (400, &1002.into()));
    let (status, _) = get(t, Some(&token), "/api/rooms/list?limit=101").await;
    assert_eq!(status, 400);
    assert_eq!(get(t, None, "/api/rooms/list").await.0, 401);
    let (status, body) = get(t, Some(&token), "/api/rooms").await;
    assert_eq!(status, 200);
    let ids: Vec<u64> = body["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    let mut by_id = vec![quiet.0, team.0, direct.0];
    by_id.sort_unstable();
    assert_eq!(ids, by_id);
    assert_eq!(body["rooms"][0].as_object().unwrap().len(), 3, "{body}");
}

#[tokio::test]
async fn the_room_list_on_sqlite() {
    let t = start(|_| {}).await;
    the_room_list(&t).await;
    t.node.shutdown().await;
}

#[tokio::test]
async fn the_room_list_on_postgres() {
    let db = ScratchDatabase::create(&admin_url(), "room_list")
        .await
        .expect("Postgres must be running for these tests (ops/test.sh starts it)");
    let url = db.url.clone();
    let t = start(|c| c.database.url = Some(url)).await;
    the_room_list(&t).await;
    t.node.shutdown().await;
}
