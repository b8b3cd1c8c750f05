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
