//! Sign-up and sign-in over HTTP: each refusal keeps its code and says what was wrong.

mod support;

use serde_json::{Value, json};

/// POSTs `body` to `path`; (status, the error's code, the error's message).
async fn refused(base: &str, path: &str, body: Value) -> (u16, u64, String) {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    let error = &body["error"];
    (
        status,
        error["code"].as_u64().unwrap_or_default(),
        error["message"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn sign_up_names_the_rule_that_failed() {
    let node = support::start(|_| {}).await;
    let base = node.http_url();
    let cases = [
        (
            "",
            "long-enough",
            "the name must be 1 to 32 characters long",
        ),
        (
            &"x".repeat(33),
            "long-enough",
            "the name must be 1 to 32 characters long",
        ),
        (
            "has space",
            "long-enough",
            "the name may contain only letters a-z and A-Z, digits, '_', '-' and '.'",
        ),
        // Not ASCII: refused for its characters, however many bytes they take.
        (
            "é",
            "long-enough",
            "the name may contain only letters a-z and A-Z, digits, '_', '-' and '.'",
        ),
        ("carol", "short", "the password must be 8 to 128 bytes long"),
        (
            "carol",
            &"p".repeat(129),
            "the password must be 8 to 128 bytes long",
        ),
    ];
    for (name, password, message) in cases {
        let body = json!({ "name": name, "password": password });
        assert_eq!(
            refused(&base, "/api/signup", body).await,
            (400, 1002, message.to_owned()),
            "name {name:?}, password of {} bytes",
            password.len()
        );
    }

    let ok = json!({ "name": "Carol.b-2_", "password": "long-enough" });
    let response = reqwest::Client::new()
        .post(format!("{base}/api/signup"))
        .json(&ok)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let same_ignoring_case = json!({ "name": "carol.B-2_", "password": "long-enough" });
    assert_eq!(
        refused(&base, "/api/signup", same_ignoring_case).await,
        (
            409,
            3003,
            "that name is taken (names ignore case)".to_owned()
        )
    );
}

#[tokio::test]
async fn sign_in_says_wrong_name_or_password_and_no_more() {
    let node = support::start(|_| {}).await;
    let base = node.http_url();
    let signed_up = json!({ "name": "dora", "password": "long-enough" });
    reqwest::Client::new()
        .post(format!("{base}/api/signup"))
        .json(&signed_up)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    // An unknown name and a wrong password read the same.
    for (name, password) in [("nobody", "long-enough"), ("dora", "wrong-password")] {
        let body = json!({ "name": name, "password": password });
        assert_eq!(
            refused(&base, "/api/signin", body).await,
            (401, 2001, "wrong name or password".to_owned()),
            "{name}"
        );
    }
}

/// A user first seen through an identity provider (Cognito) has no password: sign-in with
/// local accounts answers as for an unknown name, whatever password is tried.
#[tokio::test]
async fn a_user_of_an_identity_provider_cannot_sign_in_locally() {
    let node = support::start(|_| {}).await;
    let store = &node.node.store;
    store.external_user("sub-pooled", "pooled").await.unwrap();
    for password in ["", "long-enough"] {
        let body = json!({ "name": "pooled", "password": password });
        assert_eq!(
            refused(&node.http_url(), "/api/signin", body).await,
            (401, 2001, "wrong name or password".to_owned()),
            "password {password:?}"
        );
    }
    node.node.shutdown().await;
}

/// A client whose connections come from `ip`: every 127.x.y.z address is this machine's own,
/// so a test can sign in from as many source addresses as it likes.
fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(ip))
        .build()
        .unwrap()
}

/// Signs in through `client`: (status, the error's code, 0 on success).
async fn sign_in_with(
    client: &reqwest::Client,
    base: &str,
    name: &str,
    password: &str,
) -> (u16, u64) {
    let response = client
        .post(format!("{base}/api/signin"))
        .json(&json!({ "name": name, "password": password }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["error"]["code"].as_u64().unwrap_or_default())
}

/// Guessing a name's password from one address is refused there, but cannot lock the name's
/// owner out: the owner, from their own address, signs in at once (issue 19).
#[tokio::test]
async fn a_guessing_run_does_not_lock_the_owner_out() {
    let node = support::start(|_| {}).await;
    let base = node.http_url();
    node.node
        .accounts
        .sign_up("alice", "correct horse")
        .await
        .unwrap();
    let attacker = client_from([127, 0, 0, 2]);
    let mut answers = Vec::new();
    for _ in 0..12 {
        answers.push(sign_in_with(&attacker, &base, "alice", "guess-guess").await);
    }
    assert!(
        answers[..10].iter().all(|a| *a == (401, 2001)),
        "{answers:?}"
    );
    assert!(
        answers[10..].iter().all(|a| *a == (429, 4000)),
        "{answers:?}"
    );

    let owner = client_from([127, 0, 0, 1]);
    assert_eq!(
        sign_in_with(&owner, &base, "Alice", "correct horse").await,
        (200, 0),
        "the owner is let in from their own address"
    );
    assert_eq!(
        sign_in_with(&attacker, &base, "alice", "correct horse").await,
        (429, 4000),
        "the guessing address stays refused for that name, whatever it sends"
    );
    node.node.shutdown().await;
}

/// A name tried from many addresses, each within its own bound, is slowed, never refused: past
/// `auth.sign_in_per_name_per_min` every attempt for it waits `auth.sign_in_slow_ms`, the
/// owner's included, and then is checked as usual.
#[tokio::test]
async fn a_name_tried_from_many_addresses_is_slowed_not_refused() {
    let slow = std::time::Duration::from_millis(600);
    let node = support::start(|c| {
        c.auth.sign_in_per_name_per_min = 4;
        c.auth.sign_in_slow_ms = slow.as_millis() as u64;
    })
    .await;
    let base = node.http_url();
    node.node
        .accounts
        .sign_up("bella", "correct horse")
        .await
        .unwrap();
    let timed = async |client: &reqwest::Client, password: &str| {
        let started = std::time::Instant::now();
        let answer = sign_in_with(client, &base, "bella", password).await;
        (answer, started.elapsed())
    };
    for i in 0..4 {
        let (answer, took) = timed(&client_from([127, 0, 1, i]), "guess-guess").await;
        assert_eq!(answer, (401, 2001), "address {i}");
        assert!(took < slow, "address {i}: {took:?}");
    }
    let (answer, took) = timed(&client_from([127, 0, 1, 9]), "guess-guess").await;
    assert_eq!(answer, (401, 2001), "slowed, not refused");
    assert!(took >= slow, "{took:?}");
    let (answer, took) = timed(&client_from([127, 0, 0, 1]), "correct horse").await;
    assert_eq!(answer, (200, 0), "the owner gets in, after the wait");
    assert!(took >= slow, "{took:?}");
    node.node.shutdown().await;
}
