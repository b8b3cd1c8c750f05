//! Abuse and stale rights, over real sockets: membership revoked on every connection at once,
//! per-user and sign-in throttles, unsolicited events, tokens for users that do not exist.

mod support;

use support::{WAIT, expect, start};
use switchboard_client::{Client, ClientError};
use switchboard_engine::auth::{Identity, LocalTokens};
use switchboard_engine::protocol::{ServerFrame, Visibility};
use switchboard_engine::{ErrorCode, UserId};

fn code<T>(r: Result<T, ClientError>) -> Option<ErrorCode> {
    r.err().and_then(|e| e.code())
}

#[tokio::test]
async fn leaving_on_one_connection_revokes_the_rights_of_every_connection() {
    let t = start(|_| {}).await;
    let (_, owner) = t.member().await;
    let (bob, bob_token) = t.user().await;
    let room = owner
        .create_room("private", Visibility::Private)
        .await
        .unwrap();
    owner.invite(room, bob).await.unwrap();
    let mut first = t.client(&bob_token).await;
    let mut second = t.client(&bob_token).await;
    first.join(room, None).await.unwrap();
    second.join(room, None).await.unwrap();
    second.leave(room).await.unwrap();
    expect(&mut first, WAIT, |f| {
        matches!(f, ServerFrame::MemberLeft(_)).then_some(())
    })
    .await;

    let sent = owner
        .send(room, "after", "bob must not read this")
        .await
        .unwrap();
    assert_eq!(
        code(first.history(room, None, None, 10).await),
        Some(ErrorCode::Forbidden),
        "history through a connection that joined before the leave"
    );
    assert_eq!(
        code(first.mark_read(room, sent.pos).await),
        Some(ErrorCode::Forbidden)
    );
    assert_eq!(
        code(first.send(room, "b1", "still here?").await),
        Some(ErrorCode::Forbidden)
    );
    assert!(
        first
            .search("bob", Some(room), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Nothing was stored for bob: no read mark survives the leave.
    let reads = t.node.hub.store.read_positions(room).await.unwrap();
    assert!(reads.iter().all(|(u, _)| *u != bob), "{reads:?}");
    t.node.shutdown().await;
}

#[tokio::test]
async fn a_signed_token_for_a_user_that_does_not_exist_is_refused() {
    let t = start(|_| {}).await;
    let secret = std::fs::read(t.dir.path().join("token.key")).unwrap();
    let ghost = LocalTokens::new(&secret, 60).issue(&Identity {
        user: UserId(9_999_999),
        name: "ghost".into(),
    });
    // At upgrade: 401 with code 2001, before any WebSocket exists.
    let err = Client::connect(&t.ws_url(), Some(&ghost))
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("401"), "{err}");
    // With the auth command.
    let c = Client::connect(&t.ws_url(), None).await.unwrap();
    assert_eq!(code(c.auth(&ghost).await), Some(ErrorCode::InvalidToken));
    // On the HTTP API.
    let resp = reqwest::Client::new()
        .get(format!("{}/api/rooms", t.http_url()))
        .bearer_auth(&ghost)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], 2001);
    // A real user's token still works, twice (the second time from the known-user cache).
    let (_, good) = t.user().await;
    for _ in 0..2 {
        c.ping().await.unwrap_err();
        let other = t.client(&good).await;
        other.ping().await.unwrap();
    }
    t.node.shutdown().await;
}
