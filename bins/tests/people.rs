//! People over real sockets: profiles, names for ids, the search for users by name, their
//! bounds and rate limit, `profile_changed`, and the HTTP routes; on SQLite and on Postgres.

mod support;

use std::time::Duration;

use support::{TestNode, WAIT, expect, expect_none, start};
use switchboard_client::{Client, ClientError};
use switchboard_engine::domain::Profile;
use switchboard_engine::protocol::{ServerFrame, Visibility};
use switchboard_engine::{ErrorCode, UserId};
use switchboard_persistence::store::scratch::{ScratchDatabase, admin_url};

fn code<T: std::fmt::Debug>(r: Result<T, ClientError>) -> Option<ErrorCode> {
    r.err().and_then(|e| e.code())
}

/// A new account named `name`: its id and a connected client.
async fn named(t: &TestNode, name: &str) -> (UserId, Client, String) {
    let s = t
        .node
        .accounts
        .sign_up(name, "correct horse")
        .await
        .unwrap();
    (s.user.id, t.client(&s.token).await, s.token)
}

fn names(found: &[Profile]) -> Vec<&str> {
    found.iter().map(|p| p.name.as_str()).collect()
}

/// Set a profile and read it from another user; find users by account and display name;
/// `profile_changed` reaches a watcher and the user's other connection, not the one that
/// set it.
async fn profiles_resolve_and_changes_reach_watchers(t: &TestNode) {
    let (ann, ann_phone, token) = named(t, "annlee").await;
    let (bob, mut bob_c, _) = named(t, "bobby").await;
    let (carol, carol_c, _) = named(t, "crl77").await;
    carol_c
        .set_profile(Some("  Carol King "), Some("on holiday"))
        .await
        .unwrap();

    let found = bob_c
        .profiles(vec![carol, UserId(999_999), bob])
        .await
        .unwrap();
    let carol_seen = found.iter().find(|p| p.id == carol).expect("carol");
    assert_eq!(
        (carol_seen.name.as_str(), carol_seen.display_name.as_str()),
        ("crl77", "Carol King"),
        "trimmed"
    );
    assert_eq!(carol_seen.status, "on holiday");
    let bob_seen = found.iter().find(|p| p.id == bob).expect("bob");
    assert_eq!(
        (bob_seen.display_name.as_str(), bob_seen.status.as_str()),
        ("", "")
    );
    assert_eq!(found.len(), 2, "an unknown id is left out");

    assert_eq!(
        names(&bob_c.find_users("ANN", 5).await.unwrap()),
        ["annlee"]
    );
    assert_eq!(
        names(&bob_c.find_users("carol k", 5).await.unwrap()),
        ["crl77"],
        "by display name"
    );
    assert!(bob_c.find_users("king", 5).await.unwrap().is_empty());

    // Bob shares a room with Ann and watches her presence; Ann has a second connection.
    let room = ann_phone
        .create_room("people", Visibility::Public)
        .await
        .unwrap();
    bob_c.join(room, None).await.unwrap();
    bob_c.presence_subscribe(vec![ann]).await.unwrap();
    let mut ann_laptop = t.client(&token).await;
    let mut ann_phone = ann_phone;
    ann_phone
        .set_profile(Some("Ann L."), Some("here"))
        .await
        .unwrap();
    for (who, c) in [("bob", &mut bob_c), ("ann's laptop", &mut ann_laptop)] {
        let changed = expect(c, WAIT, |f| match f {
            ServerFrame::ProfileChanged(p) => Some(p.user),
            _ => None,
        })
        .await;
        assert_eq!(
            (
                changed.id,
                changed.display_name.as_str(),
                changed.status.as_str()
            ),
            (ann, "Ann L.", "here"),
            "{who}"
        );
    }
    expect_none(&mut ann_phone, Duration::from_millis(300), |f| {
        matches!(f, ServerFrame::ProfileChanged(_))
    })
    .await;
    // Carol neither watches Ann nor is Ann.
    let mut carol_c = carol_c;
    expect_none(&mut carol_c, Duration::from_millis(100), |f| {
        matches!(f, ServerFrame::ProfileChanged(_))
    })
    .await;
    let ann_seen = bob_c.profiles(vec![ann]).await.unwrap();
    assert_eq!(ann_seen[0].display_name, "Ann L.");
}

#[tokio::test]
async fn profiles_resolve_and_changes_reach_watchers_on_sqlite() {
    let t = start(|_| {}).await;
    profiles_resolve_and_changes_reach_watchers(&t).await;
    t.node.shutdown().await;
}

#[tokio::test]
async fn profiles_resolve_and_changes_reach_watchers_on_postgres() {
    let db = ScratchDatabase::create(&admin_url(), "people")
        .await
        .expect("Postgres must be running for these tests (ops/test.sh starts it)");
    let url = db.url.clone();
    let t = start(|c| c.database.url = Some(url)).await;
    profiles_resolve_and_changes_reach_watchers(&t).await;
    t.node.shutdown().await;
}

#[tokio::test]
async fn people_commands_are_bounded_and_searches_rate_limited() {
    let t = start(|c| c.limits.user_searches_per_min = 5).await;
    let (_, c) = t.member().await;
    let too_many: Vec<UserId> = (1..=101).map(UserId).collect();
    assert_eq!(
        code(c.profiles(too_many).await),
        Some(ErrorCode::InvalidArgument)
    );
    assert_eq!(
        code(c.profiles(Vec::new()).await),
        Some(ErrorCode::InvalidArgument)
    );
    let hundred: Vec<UserId> = (1..=100).map(UserId).collect();
    assert!(c.profiles(hundred).await.is_ok());

    let long = "x".repeat(65);
    for (name, status) in [
        (Some(long.as_str()), None),
        (Some("two\nlines"), None),
        (None, Some("x".repeat(141).as_str())),
        (None, Some("bell\u{7}")),
    ] {
        let refused = c.set_profile(name, status).await.unwrap_err();
        assert_eq!(
            refused.code(),
            Some(ErrorCode::InvalidArgument),
            "{name:?} {status:?}"
        );
        let ClientError::Server { message, .. } = refused else {
            panic!("a server error");
        };
        assert!(
            message.contains("bytes, without control characters"),
            "{message}"
        );
    }
    // 64 bytes of two-byte characters, trimmed, is fine.
    c.set_profile(Some(&format!(" {} ", "é".repeat(32))), None)
        .await
        .unwrap();

    for (prefix, limit) in [("", 5), ("   ", 5), (&"p".repeat(65)[..], 5), ("user", 0)] {
        assert_eq!(
            code(c.find_users(prefix, limit).await),
            Some(ErrorCode::InvalidArgument),
            "{prefix:?} {limit}"
        );
    }
    // Refused searches were not counted: five go through, the sixth is rate limited.
    for i in 0..5 {
        assert!(c.find_users("user", 1000).await.is_ok(), "search {i}");
    }
    assert_eq!(
        code(c.find_users("user", 5).await),
        Some(ErrorCode::RateLimited)
    );
    // Another user has a budget of their own.
    let (_, other) = t.member().await;
    assert!(other.find_users("user", 5).await.is_ok());
    t.node.shutdown().await;
}

#[tokio::test]
async fn a_search_returns_at_most_twenty() {
    let t = start(|_| {}).await;
    for i in 0..22 {
        t.node
            .accounts
            .sign_up(&format!("many{i:02}"), "correct horse")
            .await
            .unwrap();
    }
    let (_, c) = t.member().await;
    let found = c.find_users("MANY", 1000).await.unwrap();
    assert_eq!(found.len(), 20);
    assert_eq!(
        (found[0].name.as_str(), found[19].name.as_str()),
        ("many00", "many19")
    );
    assert_eq!(c.find_users("many", 3).await.unwrap().len(), 3);
    t.node.shutdown().await;
}

/// A user's view of the HTTP API: requests with their Bearer token (none: without).
struct Api {
    base: String,
    token: Option<String>,
}

impl Api {
    fn of(t: &TestNode, token: Option<&str>) -> Api {
        Api {
            base: t.http_url(),
            token: token.map(str::to_owned),
        }
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }

    async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let url = format!("{}{path}", self.base);
        self.call(reqwest::Client::new().get(url)).await
    }

    async fn put_profile(&self, body: serde_json::Value) -> (u16, serde_json::Value) {
        let url = format!("{}/api/profile", self.base);
        self.call(reqwest::Client::new().put(url).json(&body)).await
    }
}

/// The HTTP status and error code of a refusal.
fn refusal((status, body): &(u16, serde_json::Value)) -> (u16, u64) {
    (*status, body["error"]["code"].as_u64().unwrap_or_default())
}

#[tokio::test]
async fn people_over_http() {
    let t = start(|c| c.limits.user_searches_per_min = 3).await;
    let (dora, mut dora_ws, token) = named(&t, "dora").await;
    let (eve, _, eve_token) = named(&t, "eve_x").await;
    let (dora_api, eve_api) = (Api::of(&t, Some(&token)), Api::of(&t, Some(&eve_token)));

    let change = serde_json::json!({ "display_name": " Dora D ", "status": "free" });
    let (status, body) = dora_api.put_profile(change).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], dora.0);
    assert_eq!(
        (&body["name"], &body["display_name"]),
        (&"dora".into(), &"Dora D".into())
    );
    // No connection asked: the caller's connections all hear of it.
    let changed = expect(&mut dora_ws, WAIT, |f| match f {
        ServerFrame::ProfileChanged(p) => Some(p.user),
        _ => None,
    })
    .await;
    assert_eq!(changed.status, "free");
    let (_, body) = dora_api
        .put_profile(serde_json::json!({ "status": "" }))
        .await;
    assert_eq!(
        (&body["display_name"], &body["status"]),
        (&"Dora D".into(), &"".into())
    );
    let long = dora_api
        .put_profile(serde_json::json!({ "display_name": "d".repeat(65) }))
        .await;
    assert_eq!(refusal(&long), (400, 1002));
    let message = long.1["error"]["message"].as_str().unwrap();
    assert!(message.contains("display_name"), "{message}");

    let path = format!("/api/users?ids={},{},999999", dora.0, eve.0);
    let (status, body) = eve_api.get(&path).await;
    assert_eq!(status, 200, "{body}");
    let users = body["users"].as_array().unwrap();
    assert_eq!(users.len(), 2, "{body}");
    let seen = |id: UserId| &users.iter().find(|u| u["id"] == id.0).unwrap()["display_name"];
    assert_eq!((seen(dora), seen(eve)), (&"Dora D".into(), &"".into()));
    let ids = (1..=101).map(|i| i.to_string()).collect::<Vec<_>>();
    let too_many = eve_api
        .get(&format!("/api/users?ids={}", ids.join(",")))
        .await;
    assert_eq!(refusal(&too_many), (400, 1002));
    assert_eq!(eve_api.get("/api/users?ids=1,x").await.0, 400);
    assert_eq!(Api::of(&t, None).get(&path).await.0, 401);

    let (status, body) = eve_api.get("/api/users/search?prefix=DORA%20d").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["users"][0]["name"], "dora");
    let (_, body) = eve_api.get("/api/users/search?prefix=eve_&limit=1").await;
    assert_eq!(body["users"].as_array().unwrap().len(), 1, "{body}");
    let blank = eve_api.get("/api/users/search?prefix=%20").await;
    assert_eq!(refusal(&blank), (400, 1002));
    // The third good search of the minute is the last.
    assert_eq!(eve_api.get("/api/users/search?prefix=d").await.0, 200);
    let over = eve_api.get("/api/users/search?prefix=d").await;
    assert_eq!(refusal(&over), (429, 4000));
    t.node.shutdown().await;
}
