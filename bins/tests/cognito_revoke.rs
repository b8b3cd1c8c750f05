//! Revocation against moto's user pool: a user an administrator disabled, or who signed out
//! everywhere, loses every connection within `cognito.revoke_within_secs` (2 s here) with close
//! 4003 and cannot come back with the tokens they had (2005); a user who did nothing stays; a
//! user re-enabled, or signed in again, connects with fresh tokens; a revocation another node
//! recorded in the store (SQLite, and Postgres shared by two nodes) closes connections here too.

mod support;

use std::time::Duration;

use support::cognito::{Moto, refused};
use switchboard_client::Client;
use switchboard_engine::protocol::{Disconnect, ServerFrame};
use switchboard_engine::{ErrorCode, close};
use switchboard_persistence::Revocation;
use switchboard_persistence::store::scratch::{ScratchDatabase, admin_url};
use tokio::time::Instant;

/// The bound the tests configure: checks every second.
const WITHIN: Duration = Duration::from_secs(2);
/// What a cut-off may take beyond the bound: a round's calls to moto and the close handshake.
const SLACK: Duration = Duration::from_millis(1500);

/// The `disconnect` frame `c` gets next (skipping other events), and when it came.
async fn disconnect(c: &mut Client) -> (Disconnect, Instant) {
    let d = support::expect(c, WITHIN + SLACK, |f| match f {
        ServerFrame::Disconnect(d) => Some(d),
        _ => None,
    })
    .await;
    (d, Instant::now())
}

fn assert_revoked(d: &Disconnect) {
    assert_eq!(
        (d.code, d.reason.as_str(), d.reconnect),
        (close::REVOKED, "revoked", false),
        "{d:?}"
    );
}

/// `c` is still served: it answers a ping, and no `disconnect` came.
async fn still_connected(c: &mut Client, what: &str) {
    support::expect_none(c, Duration::ZERO, |f| {
        matches!(f, ServerFrame::Disconnect(_))
    })
    .await;
    c.ping().await.unwrap_or_else(|e| panic!("{what}: {e}"));
}

/// The `sub` claim of a token (read without checking it: the node has checked it).
fn subject_of(token: &str) -> String {
    let claims: serde_json::Value = jsonwebtoken::dangerous::insecure_decode_claims(token).unwrap();
    claims["sub"].as_str().unwrap().to_owned()
}

/// Seconds-resolution `iat`s: a token made in the second of a revocation falls under it.
async fn next_second() {
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

#[tokio::test]
async fn a_disabled_user_is_cut_off_within_the_bound_and_comes_back_once_enabled() {
    let moto = Moto::start().await;
    let (pool, client) = moto.pool().await;
    let node = support::start(|c| moto.revoking(c, &pool, &client, WITHIN)).await;
    let (dana_id, dana_access) = moto.user(&pool, &client, "dana").await;
    let (eve_id, _) = moto.user(&pool, &client, "eve").await;
    let (_, quiet_access) = moto.user(&pool, &client, "quiet").await;
    let (quiet_id, _) = moto.sign_in(&client, "quiet").await;
    // Two devices, one on each kind of token; Eve on an ID token only (so only `AdminGetUser`
    // can find her out); a quiet user on each kind too.
    let mut by_access = node.client(&dana_access).await;
    let mut by_id = node.client(&dana_id).await;
    let mut eve = node.client(&eve_id).await;
    let mut quiet = [
        node.client(&quiet_access).await,
        node.client(&quiet_id).await,
    ];
    // A round or two with nothing to find.
    tokio::time::sleep(WITHIN).await;
    still_connected(&mut by_access, "dana before").await;

    moto.admin("AdminDisableUser", &pool, "dana").await;
    moto.admin("AdminDisableUser", &pool, "eve").await;
    let disabled = Instant::now();
    for c in [&mut by_access, &mut by_id, &mut eve] {
        let (d, at) = disconnect(c).await;
        assert_revoked(&d);
        assert!(
            at - disabled <= WITHIN + SLACK,
            "cut off after {:?}",
            at - disabled
        );
    }
    for token in [&dana_access, &dana_id, &eve_id] {
        refused(
            &node,
            token,
            ErrorCode::Revoked,
            "a disabled user's old token",
        )
        .await;
    }
    // Several intervals later the quiet user is still there.
    tokio::time::sleep(WITHIN).await;
    for c in &mut quiet {
        still_connected(c, "the quiet user").await;
    }

    next_second().await;
    moto.admin("AdminEnableUser", &pool, "dana").await;
    let (fresh_id, fresh_access) = moto.sign_in(&client, "dana").await;
    let mut back = [
        node.client(&fresh_access).await,
        node.client(&fresh_id).await,
    ];
    tokio::time::sleep(WITHIN).await;
    for c in &mut back {
        still_connected(c, "dana, enabled again").await;
    }
    refused(&node, &dana_id, ErrorCode::Revoked, "still the old token").await;
    node.node.shutdown().await;
}

#[tokio::test]
async fn a_global_sign_out_cuts_off_the_tokens_issued_before_it() {
    let moto = Moto::start().await;
    let (pool, client) = moto.pool().await;
    let node = support::start(|c| moto.revoking(c, &pool, &client, WITHIN)).await;
    let (gus_id, gus_access) = moto.user(&pool, &client, "gus").await;
    let (_, hal_access) = moto.user(&pool, &client, "hal").await;
    let mut gus = [node.client(&gus_access).await, node.client(&gus_id).await];
    let mut hal = node.client(&hal_access).await;

    // Gus signs out with the pool directly (not through the node); an administrator signs Hal
    // out.
    moto.call(
        "GlobalSignOut",
        serde_json::json!({ "AccessToken": gus_access }),
    )
    .await;
    moto.admin("AdminUserGlobalSignOut", &pool, "hal").await;
    let signed_out = Instant::now();
    for c in gus.iter_mut().chain([&mut hal]) {
        let (d, at) = disconnect(c).await;
        assert_revoked(&d);
        assert!(
            at - signed_out <= WITHIN + SLACK,
            "after {:?}",
            at - signed_out
        );
    }
    for token in [&gus_access, &gus_id, &hal_access] {
        refused(
            &node,
            token,
            ErrorCode::Revoked,
            "a token from before the sign-out",
        )
        .await;
    }

    // Signed in again: the new tokens stand, and their connections stay.
    next_second().await;
    let (new_id, new_access) = moto.sign_in(&client, "gus").await;
    let mut back = [node.client(&new_access).await, node.client(&new_id).await];
    tokio::time::sleep(WITHIN).await;
    for c in &mut back {
        still_connected(c, "gus, signed in again").await;
    }
    node.node.shutdown().await;
}

#[tokio::test]
async fn a_revocation_another_node_recorded_closes_connections_here() {
    let moto = Moto::start().await;
    let (pool, client) = moto.pool().await;
    // No checks of its own that could find it: only the store tells this node.
    let node = support::start(|c| {
        moto.revoking(c, &pool, &client, WITHIN);
        c.cognito.admin_checks = false;
    })
    .await;
    let (kim_id, _) = moto.user(&pool, &client, "kim").await;
    let mut kim = node.client(&kim_id).await;
    let subject = subject_of(&kim_id);
    node.node
        .store
        .revoke(&Revocation {
            subject,
            before_secs: jsonwebtoken::get_current_timestamp(),
            recorded_ms: jsonwebtoken::get_current_timestamp() * 1000,
        })
        .await
        .unwrap();
    let recorded = Instant::now();
    let (d, at) = disconnect(&mut kim).await;
    assert_revoked(&d);
    assert!(at - recorded <= WITHIN + SLACK, "after {:?}", at - recorded);
    refused(&node, &kim_id, ErrorCode::Revoked, "kim's token").await;
    node.node.shutdown().await;
}

#[tokio::test]
async fn a_node_that_cannot_find_a_sign_out_itself_learns_it_from_another_through_postgres() {
    let db = ScratchDatabase::create(&admin_url(), "revoke")
        .await
        .expect("Postgres must be running for these tests (ops/test.sh starts it)");
    let moto = Moto::start().await;
    let (pool, client) = moto.pool().await;
    let finder = support::start(|c| {
        moto.revoking(c, &pool, &client, WITHIN);
        c.database.url = Some(db.url.clone());
    })
    .await;
    // No admin checks, and Lou's connection here has an ID token only: nothing this node can
    // ask the pool would find the sign-out.
    let blind = support::start(|c| {
        moto.revoking(c, &pool, &client, WITHIN);
        c.cognito.admin_checks = false;
        c.database.url = Some(db.url.clone());
    })
    .await;
    let (lou_id, lou_access) = moto.user(&pool, &client, "lou").await;
    let mut there = finder.client(&lou_access).await;
    let mut here = blind.client(&lou_id).await;

    moto.call(
        "GlobalSignOut",
        serde_json::json!({ "AccessToken": lou_access }),
    )
    .await;
    let signed_out = Instant::now();
    for c in [&mut there, &mut here] {
        let (d, at) = disconnect(c).await;
        assert_revoked(&d);
        assert!(
            at - signed_out <= WITHIN + SLACK,
            "after {:?}",
            at - signed_out
        );
    }
    refused(
        &blind,
        &lou_id,
        ErrorCode::Revoked,
        "lou's token on the other node",
    )
    .await;
    finder.node.shutdown().await;
    blind.node.shutdown().await;
}
