//! A node that accepts a Cognito user pool's tokens (`auth.provider = "cognito"`): tokens from
//! moto's user pool, and tokens signed with keys the test makes and serves as the pool's JWKS
//! (for what moto cannot do: expiry, rotation, unknown key ids, counting fetches).

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::cognito::{
    KIDS, Moto, Pool, access_claims, id_claims, refused, rooms_with, sign, sign_with,
};
use switchboard_client::Client;
use switchboard_engine::ErrorCode;
use switchboard_engine::protocol::{ServerFrame, Visibility};

const REFETCH: Duration = Duration::from_secs(60);

#[tokio::test]
async fn pool_tokens_connect_and_make_a_user_on_first_sight() {
    let pool = Pool::start(&KIDS[..1]).await;
    let node = support::start(|c| pool.configure(c, REFETCH)).await;
    let alice_id = sign(&id_claims("sub-alice", "alice"), KIDS[0]);
    let mut alice = node.client(&alice_id).await;
    let me = alice
        .hello()
        .user
        .clone()
        .expect("authenticated at upgrade");
    assert_eq!(me.name, "alice");
    let room = alice
        .create_room("lobby", Visibility::Public)
        .await
        .unwrap();
    alice.join(room, None).await.unwrap();
    // The access token of the same user names the same Switchboard user.
    let access = sign(&access_claims("sub-alice", "alice"), KIDS[0]);
    let c = Client::connect(&node.ws_url(), None).await.unwrap();
    assert_eq!(c.auth(&access).await.unwrap().user, me);
    // Another pool user whose name is taken gets a suffix, and joins like anyone.
    let other = sign(&id_claims("sub-other", "Alice"), KIDS[0]);
    let mut other = node.client(&other).await;
    let them = other.hello().user.clone().unwrap();
    assert_eq!(them.name, "Alice-2");
    assert_ne!(them.id, me.id);
    other.join(room, None).await.unwrap();
    other.send(room, "c1", "hi alice").await.unwrap();
    support::expect(&mut alice, support::WAIT, |f| match f {
        ServerFrame::Message(m) if m.text == "hi alice" => Some(()),
        _ => None,
    })
    .await;
    // Accounts live in the pool: no local sign-up or sign-in.
    let signup = reqwest::Client::new()
        .post(format!("{}/api/signup", node.http_url()))
        .json(&json!({ "name": "mallory", "password": "long-enough" }))
        .send()
        .await
        .unwrap();
    assert_eq!(signup.status().as_u16(), 404);
    assert_eq!(pool.fetches(), 1, "keys fetched once, at start-up");
    node.node.shutdown().await;
}

#[tokio::test]
async fn tokens_breaking_a_rule_are_refused_with_their_codes() {
    let pool = Pool::start(&KIDS[..1]).await;
    let node = support::start(|c| pool.configure(c, REFETCH)).await;
    let good = sign(&id_claims("sub-bob", "bob"), KIDS[0]);
    let with = |key: &str, value: Value| {
        let mut claims = id_claims("sub-bob", "bob");
        claims[key] = value;
        sign(&claims, KIDS[0])
    };
    // The payload of another user's token under bob's signature.
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let carol = sign(&id_claims("sub-carol", "carol"), KIDS[0]);
    parts[1] = carol.split('.').nth(1).unwrap().to_owned();
    let tampered = parts.join(".");
    let now = jsonwebtoken::get_current_timestamp();
    let cases = [
        (tampered, ErrorCode::InvalidToken, "tampered"),
        (
            with("exp", json!(now - 3600)),
            ErrorCode::TokenExpired,
            "expired",
        ),
        (
            with("aud", json!("another-client")),
            ErrorCode::InvalidToken,
            "wrong audience",
        ),
        (
            with(
                "iss",
                json!("https://cognito-idp.eu-west-1.amazonaws.com/other"),
            ),
            ErrorCode::InvalidToken,
            "wrong issuer",
        ),
        (
            with("token_use", json!("refresh")),
            ErrorCode::InvalidToken,
            "wrong token_use",
        ),
        (
            sign_with(&id_claims("sub-bob", "bob"), KIDS[0], KIDS[1]),
            ErrorCode::InvalidToken,
            "signed by another key",
        ),
        (
            sign(&id_claims("sub-bob", "bob"), KIDS[1]),
            ErrorCode::InvalidToken,
            "unknown kid",
        ),
    ];
    for (token, code, what) in &cases {
        refused(&node, token, *code, what).await;
    }
    // The refusals made no user, and the good token still works.
    assert!(node.node.store.user_by_name("bob").await.unwrap().is_none());
    assert_eq!(rooms_with(&node, &good).await, (200, 0));
    node.node.shutdown().await;
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_without_restart() {
    let pool = Pool::start(&KIDS[..1]).await;
    let refetch = Duration::from_millis(300);
    let node = support::start(|c| pool.configure(c, refetch)).await;
    let old = sign(&id_claims("sub-dan", "dan"), KIDS[0]);
    let new = sign(&id_claims("sub-dan", "dan"), KIDS[1]);
    assert_eq!(rooms_with(&node, &old).await, (200, 0));
    // The pool rotates: the new key is published beside the old one, then used.
    pool.publish(&KIDS[..2]);
    tokio::time::sleep(refetch).await;
    assert_eq!(rooms_with(&node, &new).await, (200, 0), "new key fetched");
    assert_eq!(pool.fetches(), 2);
    // The old key retired: once the node fetches again, its tokens are refused.
    pool.publish(&KIDS[1..2]);
    tokio::time::sleep(refetch).await;
    let third = sign(&id_claims("sub-dan", "dan"), KIDS[2]);
    assert_eq!(
        rooms_with(&node, &third).await,
        (401, 2001),
        "never published"
    );
    assert_eq!(pool.fetches(), 3);
    assert_eq!(rooms_with(&node, &old).await, (401, 2001), "retired");
    assert_eq!(rooms_with(&node, &new).await, (200, 0));
    node.node.shutdown().await;
}

#[tokio::test]
async fn a_flood_of_unknown_key_ids_fetches_at_most_once_per_interval() {
    let pool = Pool::start(&KIDS[..1]).await;
    let refetch = Duration::from_secs(3);
    let node = support::start(|c| pool.configure(c, refetch)).await;
    let started = tokio::time::Instant::now();
    assert_eq!(pool.fetches(), 1);
    // Signed ahead, so that both floods fall within one interval.
    let made_up = |n: usize| -> Vec<String> {
        (0..n)
            .map(|_| {
                let kid = format!("made-up-{}", rand::random::<u64>());
                sign_with(&id_claims("sub-eve", "eve"), &kid, KIDS[0])
            })
            .collect()
    };
    let (first, second) = (made_up(100), made_up(100));
    let flood = |tokens: Vec<String>| {
        let node = &node;
        async move {
            let answers =
                futures::future::join_all(tokens.iter().map(|t| rooms_with(node, t))).await;
            assert!(answers.iter().all(|a| *a == (401, 2001)), "{answers:?}");
        }
    };
    tokio::time::sleep_until(started + refetch).await;
    let flooded = tokio::time::Instant::now();
    flood(first).await;
    assert_eq!(pool.fetches(), 2, "one fetch for the whole flood");
    flood(second).await;
    assert!(
        flooded.elapsed() < refetch,
        "the test ran too slowly to tell"
    );
    assert_eq!(pool.fetches(), 2, "none again within the interval");
    let good = sign(&id_claims("sub-eve", "eve"), KIDS[0]);
    assert_eq!(rooms_with(&node, &good).await, (200, 0));
    node.node.shutdown().await;
}

#[tokio::test]
async fn tokens_from_a_moto_user_pool_connect_and_chat() {
    let moto = Moto::start().await;
    let (pool, client) = moto.pool().await;
    let node = support::start(|c| moto.configure(c, &pool, &client)).await;
    let (ann_id, ann_access) = moto.user(&pool, &client, "ann").await;
    let (ben_id, _) = moto.user(&pool, &client, "ben").await;
    let mut ann = node.client(&ann_id).await;
    assert_eq!(ann.hello().user.as_ref().unwrap().name, "ann");
    let room = ann.create_room("moto", Visibility::Public).await.unwrap();
    ann.join(room, None).await.unwrap();
    let mut ben = node.client(&ben_id).await;
    ben.join(room, None).await.unwrap();
    ben.send(room, "m1", "hello from moto").await.unwrap();
    let text = support::expect(&mut ann, support::WAIT, |f| match f {
        ServerFrame::Message(m) => Some(m.text),
        _ => None,
    })
    .await;
    assert_eq!(text, "hello from moto");
    // Ann's access token names the same user as her ID token.
    let again = Client::connect(&node.ws_url(), None).await.unwrap();
    let authed = again.auth(&ann_access).await.unwrap();
    assert_eq!(Some(authed.user), ann.hello().user.clone());
    // A token of the pool for another app client is refused.
    let other_client = moto.app_client(&pool, "other").await;
    let (foreign, _) = moto.user(&pool, &other_client, "cat").await;
    refused(&node, &foreign, ErrorCode::InvalidToken, "another client's").await;
    node.node.shutdown().await;
}
