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
    let reads = t.node.store.read_positions(room).await.unwrap();
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
        plan: None,
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

/// Every reply to `n` pings (and malformed frames, with `bad`) sent at once, by code.
async fn burst(c: &Client, n: usize) -> (usize, usize) {
    let replies = futures::future::join_all((0..n).map(|_| c.ping())).await;
    let limited = replies
        .iter()
        .filter(|r| matches!(r, Err(e) if e.code() == Some(ErrorCode::RateLimited)))
        .count();
    (n - limited, limited)
}

#[tokio::test]
async fn rate_limits_hold_per_user_over_all_connections_and_count_malformed_frames() {
    let t = start(|c| {
        c.limits.commands_per_sec = 1000;
        c.limits.command_burst = 1000;
        c.limits.user_commands_per_sec = 20;
        c.engine.max_bad_frames = 1000;
    })
    .await;
    let (_, token) = t.user().await;
    let (a, b) = (t.client(&token).await, t.client(&token).await);
    let (ok_a, _) = burst(&a, 15).await;
    let (ok_b, limited_b) = burst(&b, 15).await;
    assert_eq!(ok_a + ok_b, 20, "one budget for the user's two connections");
    assert_eq!(limited_b, 10);

    // Malformed frames spend the budget too: after 25 of them a well-formed ping is refused.
    let (_, token) = t.user().await;
    let mut c = t.client(&token).await;
    for _ in 0..25 {
        c.send_raw(vec![0xc1], false).unwrap();
    }
    let mut refused = 0;
    for _ in 0..25 {
        let e = expect(&mut c, WAIT, |f| match f {
            ServerFrame::Error(e) => Some(e.code),
            _ => None,
        })
        .await;
        refused += usize::from(e == ErrorCode::RateLimited);
    }
    assert_eq!(
        refused, 5,
        "the 21st to 25th frames are over the user's limit"
    );
    assert_eq!(code(c.ping().await), Some(ErrorCode::RateLimited));
    t.node.shutdown().await;
}

#[tokio::test]
async fn strangers_cannot_flood_a_user_with_room_added() {
    let t = start(|c| c.limits.introductions_per_min = 5).await;
    let (victim, mut target) = t.member().await;
    let (_, stranger) = t.member().await;
    let mut codes = Vec::new();
    for _ in 0..8 {
        codes.push(code(stranger.open_direct(victim).await));
    }
    assert_eq!(codes[..5], [None; 5]);
    assert_eq!(codes[5..], [Some(ErrorCode::RateLimited); 3]);
    expect(&mut target, WAIT, |f| {
        matches!(f, ServerFrame::RoomAdded(_)).then_some(())
    })
    .await;
    support::expect_none(&mut target, std::time::Duration::from_millis(300), |f| {
        matches!(f, ServerFrame::RoomAdded(_))
    })
    .await;

    // Invitations count against the same budget.
    let (_, inviter) = t.member().await;
    let mut codes = Vec::new();
    for i in 0..6 {
        let room = inviter
            .create_room(&format!("r{i}"), Visibility::Private)
            .await
            .unwrap();
        codes.push(code(inviter.invite(room, victim).await));
    }
    assert_eq!(codes[..5], [None; 5]);
    assert_eq!(codes[5], Some(ErrorCode::RateLimited));
    t.node.shutdown().await;
}

async fn sign_in(t: &support::TestNode, name: &str, password: &str) -> (u16, serde_json::Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/api/signin", t.http_url()))
        .json(&serde_json::json!({ "name": name, "password": password }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

#[tokio::test]
async fn sign_in_is_throttled_per_name_from_an_address_and_per_address() {
    let t = start(|c| {
        c.auth.sign_in_per_name_addr_per_min = 5;
        c.auth.sign_in_per_addr_per_min = 8;
    })
    .await;
    t.node
        .accounts
        .sign_up("victim", "correct horse")
        .await
        .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(sign_in(&t, "Victim", "wrong password").await);
    }
    assert!(
        statuses[..5]
            .iter()
            .all(|(s, b)| *s == 401 && b["error"]["code"] == 2001)
    );
    assert!(
        statuses[5..]
            .iter()
            .all(|(s, b)| *s == 429 && b["error"]["code"] == 4000)
    );
    // From this address even the right password waits out the window now (the owner, from
    // another address, does not: tests/accounts.rs).
    assert_eq!(sign_in(&t, "victim", "correct horse").await.0, 429);
    // That was the address's 8th attempt: the next one is refused whatever the name.
    assert_eq!(sign_in(&t, "nobody", "whatever1").await.0, 429);
    t.node.shutdown().await;
}

/// The median time of five sign-ins.
async fn median_sign_in(t: &support::TestNode, name: &str) -> std::time::Duration {
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = std::time::Instant::now();
        assert_eq!(sign_in(t, name, "wrong password").await.0, 401);
        times.push(started.elapsed());
    }
    times.sort();
    times[2]
}

#[tokio::test]
async fn sign_in_takes_as_long_for_an_unknown_name() {
    let t = start(|c| {
        c.auth.argon2_memory_kib = 1024;
        c.auth.argon2_iterations = 2;
    })
    .await;
    t.node
        .accounts
        .sign_up("known", "correct horse")
        .await
        .unwrap();
    let known = median_sign_in(&t, "known").await;
    let unknown = median_sign_in(&t, "unknown").await;
    assert!(
        unknown * 2 > known && known * 2 > unknown,
        "known {known:?}, unknown {unknown:?}"
    );
    t.node.shutdown().await;
}

#[tokio::test]
async fn concurrent_hashing_is_bounded_and_the_excess_refused() {
    let t = start(|c| {
        c.auth.argon2_memory_kib = 1024;
        c.auth.hash_concurrency = 1;
        c.auth.hash_queue = 2;
        c.auth.sign_in_per_addr_per_min = 1000;
    })
    .await;
    let t = &t;
    let replies = futures::future::join_all(
        (0..12).map(|i| async move { sign_in(t, &format!("n{i}"), "wrong password").await }),
    )
    .await;
    let refused = replies
        .iter()
        .filter(|(s, b)| *s == 429 && b["error"]["code"] == 4000)
        .count();
    let denied = replies.iter().filter(|(s, _)| *s == 401).count();
    assert_eq!(refused + denied, 12, "{replies:?}");
    assert!(
        refused >= 6,
        "one hashing and two waiting at most: {replies:?}"
    );
    assert!(denied >= 3, "{replies:?}");
}
