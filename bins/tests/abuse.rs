//! Abuse and stale rights, over real sockets: membership revoked on every connection at once,
//! per-user and sign-in throttles, unsolicited events, tokens for users that do not exist.

mod support;

use support::{WAIT, expect, start};
use switchboard_client::ClientError;
use switchboard_engine::ErrorCode;
use switchboard_engine::protocol::{ServerFrame, Visibility};

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
