//! Plans decide the upload size limit, over real sockets. A free user is refused 1003 above the
//! free limit, over HTTP and over WebSocket; once `set-plan premium` put them on premium (the
//! admin command's own function) the same request gets a slot, on connections already open,
//! and the file uploads. A Cognito token naming the pool's premium group opens premium slots
//! with nothing stored; the same user's token without the group does not.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::TestNode;
use support::cognito::{KIDS, Pool, id_claims, sign};
use support::media::upload_of;
use switchboard_client::Client;
use switchboard_engine::domain::{Plan, RoomKind};
use switchboard_engine::{ErrorCode, RoomId, UserId};
use switchboard_media::conformance::send;

const MIB: u64 = 1024 * 1024;
/// One byte over the free plan's default limit (2 MiB).
const OVER_FREE: u64 = 2 * MIB + 1;
/// One byte over the premium plan's default limit (25 MiB).
const OVER_PREMIUM: u64 = 25 * MIB + 1;

async fn room_of(node: &TestNode, owner: UserId) -> RoomId {
    node.node
        .store
        .create_room("plans", RoomKind::Private, owner)
        .await
        .unwrap()
        .id
}

/// Asks for a slot for a PNG of `size` bytes over HTTP: the status and the JSON body.
async fn ask(node: &TestNode, room: RoomId, token: &str, size: u64) -> (u16, Value) {
    let answer = reqwest::Client::new()
        .post(format!("{}/api/rooms/{room}/attachments", node.http_url()))
        .bearer_auth(token)
        .json(&json!({"name": "big.png", "content_type": "image/png", "size": size}))
        .send()
        .await
        .unwrap();
    (answer.status().as_u16(), answer.json().await.unwrap())
}

/// Asks for the same slot over WebSocket: `Ok` with the slot's size, or the refusal's code.
async fn ask_ws(client: &Client, room: RoomId, size: u64) -> Result<u64, ErrorCode> {
    match client
        .attachment_slot(room, "big.png", "image/png", size)
        .await
    {
        Ok(slot) => Ok(slot.attachment.size),
        Err(e) => Err(e.code().unwrap_or_else(|| panic!("{e}"))),
    }
}

fn too_large(answer: (u16, Value)) -> bool {
    answer.0 == 413 && answer.1["error"]["code"] == json!(1003)
}

#[tokio::test]
async fn set_plan_premium_raises_a_users_upload_limit() {
    let node = support::start(|_| {}).await;
    let accounts = &node.node.accounts;
    let paula = accounts.sign_up("paula", "correct horse").await.unwrap();
    let (me, token) = (paula.user.id, paula.token);
    let room = room_of(&node, me).await;
    let client = node.client(&token).await;

    assert_eq!(node.node.store.plan(me).await.unwrap(), Plan::Free);
    assert!(too_large(ask(&node, room, &token, OVER_FREE).await));
    assert_eq!(
        ask_ws(&client, room, OVER_FREE).await,
        Err(ErrorCode::TooLarge)
    );
    let (status, _) = ask(&node, room, &token, 2 * MIB).await;
    assert_eq!(status, 201, "the free limit itself is allowed");

    // The admin command's function, by name; the names ignore case as everywhere.
    let user = accounts.set_plan("PAULA", Plan::Premium).await.unwrap();
    assert_eq!(user.id, me);
    assert_eq!(node.node.store.plan(me).await.unwrap(), Plan::Premium);

    let (status, slot) = ask(&node, room, &token, OVER_FREE).await;
    assert_eq!(status, 201, "{slot}");
    assert_eq!(slot["attachment"]["size"], json!(OVER_FREE));
    let body: &'static [u8] = vec![7u8; OVER_FREE as usize].leak();
    let put = send(&reqwest::Client::new(), &upload_of(&slot), None, body).await;
    assert!(put.status().is_success(), "upload: {}", put.status());
    assert_eq!(
        ask_ws(&client, room, OVER_FREE).await,
        Ok(OVER_FREE),
        "a connection opened before the change gets premium slots too"
    );
    assert!(
        too_large(ask(&node, room, &token, OVER_PREMIUM).await),
        "premium has its limit too"
    );

    accounts.set_plan("paula", Plan::Free).await.unwrap();
    assert_eq!(
        ask_ws(&client, room, OVER_FREE).await,
        Err(ErrorCode::TooLarge),
        "and back to free"
    );
    assert_eq!(
        accounts
            .set_plan("nobody", Plan::Premium)
            .await
            .unwrap_err(),
        ErrorCode::NotFound
    );
}

#[tokio::test]
async fn a_cognito_token_in_the_premium_group_opens_premium_slots() {
    let pool = Pool::start(&KIDS[..1]).await;
    let node = support::start(|c| {
        pool.configure(c, Duration::from_secs(30));
        // No pool API here: nothing to check revocations against.
        c.cognito.revoke_within = Duration::ZERO;
        c.cognito.premium_group = Some("premium".into());
    })
    .await;
    let plain = sign(&id_claims("sub-pat", "pat"), KIDS[0]);
    let mut claims = id_claims("sub-pat", "pat");
    claims["cognito:groups"] = json!(["staff", "premium"]);
    let grouped = sign(&claims, KIDS[0]);
    let mut staff = id_claims("sub-pat", "pat");
    staff["cognito:groups"] = json!(["staff"]);
    let staff = sign(&staff, KIDS[0]);

    let plain_client = node.client(&plain).await;
    let me = plain_client.hello().user.clone().expect("signed in").id;
    let room = room_of(&node, me).await;
    assert_eq!(
        ask_ws(&plain_client, room, OVER_FREE).await,
        Err(ErrorCode::TooLarge)
    );
    assert!(too_large(ask(&node, room, &plain, OVER_FREE).await));
    assert!(
        too_large(ask(&node, room, &staff, OVER_FREE).await),
        "another group"
    );

    let (status, slot) = ask(&node, room, &grouped, OVER_FREE).await;
    assert_eq!(status, 201, "{slot}");
    let grouped_client = node.client(&grouped).await;
    assert_eq!(
        ask_ws(&grouped_client, room, OVER_FREE).await,
        Ok(OVER_FREE)
    );
    assert_eq!(
        ask_ws(&plain_client, room, OVER_FREE).await,
        Err(ErrorCode::TooLarge),
        "the group is the token's, not remembered for the user"
    );
    assert_eq!(node.node.store.plan(me).await.unwrap(), Plan::Free);

    // A Cognito-made user is put on a plan by their Switchboard name, like a local one.
    node.node
        .accounts
        .set_plan("pat", Plan::Premium)
        .await
        .unwrap();
    assert_eq!(ask_ws(&plain_client, room, OVER_FREE).await, Ok(OVER_FREE));
}
