//! The user pool's account routes (`/api/cognito/*`) against moto: sign-up, confirm, sign-in,
//! refresh and sign-out, each refusal with its documented code.

mod support;

use serde_json::{Value, json};
use support::cognito::Moto;
use switchboard_client::Client;
use switchboard_engine::close;
use switchboard_engine::protocol::ServerFrame;

/// POSTs `body` to `path`, with a bearer token when given: (status, body).
async fn post(base: &str, path: &str, body: Value, bearer: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(&body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// (status, error code, error message) of a refused request.
fn refusal((status, body): (u16, Value)) -> (u16, u64, String) {
    let error = &body["error"];
    (
        status,
        error["code"].as_u64().unwrap_or_default(),
        error["message"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn pool_accounts_sign_up_confirm_sign_in_refresh_and_sign_out() {
    let moto = Moto::start().await;
    let (pool, client) = moto.pool().await;
    let node = support::start(|c| moto.configure(c, &pool, &client)).await;
    let base = node.http_url();
    let zoe = json!({ "name": "zoe", "password": "Correct-Horse-1", "email": "zoe@example.com" });

    let (status, body) = post(&base, "/api/cognito/signup", zoe.clone(), None).await;
    assert_eq!((status, &body["confirmed"]), (200, &json!(false)), "{body}");
    let taken = post(&base, "/api/cognito/signup", zoe.clone(), None).await;
    assert_eq!(refusal(taken), (409, 3003, "that name is taken".into()));
    let weak = json!({ "name": "yan", "password": "short" });
    let weak = refusal(post(&base, "/api/cognito/signup", weak, None).await);
    assert_eq!((weak.0, weak.1), (400, 1002), "{weak:?}");

    let unconfirmed = post(&base, "/api/cognito/signin", zoe.clone(), None).await;
    assert_eq!(
        refusal(unconfirmed),
        (403, 2004, "confirm the account first".into())
    );
    let confirm = json!({ "name": "zoe", "code": "123456" });
    assert_eq!(
        post(&base, "/api/cognito/confirm", confirm, None).await.0,
        200
    );

    // A wrong password and an unknown name read the same.
    for (name, password) in [("zoe", "Wrong-Horse-1"), ("nobody", "Correct-Horse-1")] {
        let body = json!({ "name": name, "password": password });
        assert_eq!(
            refusal(post(&base, "/api/cognito/signin", body, None).await),
            (401, 2001, "wrong name or password".into()),
            "{name}"
        );
    }
    let (status, session) = post(&base, "/api/cognito/signin", zoe.clone(), None).await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["user"]["name"], "zoe");
    let token = session["token"].as_str().unwrap();
    let mut c = Client::connect(&node.ws_url(), Some(token)).await.unwrap();
    assert_eq!(
        c.hello().user.as_ref().unwrap().id.0,
        session["user"]["id"].as_u64().unwrap()
    );

    let refresh = json!({ "refresh_token": session["refresh_token"] });
    let (status, fresh) = post(&base, "/api/cognito/refresh", refresh.clone(), None).await;
    assert_eq!(status, 200, "{fresh}");
    let fresh_token = fresh["token"].as_str().unwrap();
    Client::connect(&node.ws_url(), Some(fresh_token))
        .await
        .unwrap();
    let bogus = json!({ "refresh_token": "not-a-refresh-token" });
    assert_eq!(
        refusal(post(&base, "/api/cognito/refresh", bogus, None).await),
        (401, 2001, "invalid refresh token".into())
    );

    let access = session["access_token"].as_str().unwrap();
    let signed_out = post(&base, "/api/cognito/signout", json!({}), Some(access)).await;
    assert_eq!(signed_out.0, 200, "{signed_out:?}");
    // A sign-out through the node cuts off at once the connections of the tokens before it,
    // an ID token's too (which the node could not have asked the pool about).
    let d = support::expect(&mut c, support::WAIT, |f| match f {
        ServerFrame::Disconnect(d) => Some(d),
        _ => None,
    })
    .await;
    assert_eq!((d.code, d.reconnect), (close::REVOKED, false), "{d:?}");
    let again = Client::connect(&node.ws_url(), Some(fresh_token)).await;
    assert!(
        again.is_err_and(|e| e.to_string().contains("401")),
        "a token refreshed before the sign-out is refused too"
    );
    let after = refusal(post(&base, "/api/cognito/refresh", refresh, None).await);
    assert_eq!(
        (after.0, after.1),
        (401, 2001),
        "refresh tokens end with a sign-out"
    );
    let anonymous = refusal(post(&base, "/api/cognito/signout", json!({}), None).await);
    assert_eq!((anonymous.0, anonymous.1), (401, 2000));

    // Local accounts are not served beside the pool.
    assert_eq!(post(&base, "/api/signup", zoe, None).await.0, 404);
    node.node.shutdown().await;
}
