//! Stand-ins for a Cognito user pool: `Pool`, a JWKS server of the test's own (keys it
//! generates, publishes and signs with, fetches counted), and `Moto`, a `moto_server` on a free
//! port, killed at the end of the test.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use serde_json::{Value, json};
use switchboard::Config;
use switchboard::config::Provider;
use switchboard_client::Client;
use switchboard_engine::ErrorCode;

use super::TestNode;
use super::cluster::{Reaped, free_port};

pub const REGION: &str = "eu-west-1";
pub const POOL: &str = "eu-west-1_TestPool";
pub const CLIENT: &str = "test-app-client";

/// The issuer Cognito writes for `POOL`.
pub fn issuer() -> String {
    format!("https://cognito-idp.{REGION}.amazonaws.com/{POOL}")
}

/// RSA keys made once per test binary (each takes a moment), by index.
fn key(i: usize) -> &'static EncodingKey {
    static KEYS: OnceLock<Vec<EncodingKey>> = OnceLock::new();
    &KEYS.get_or_init(|| {
        (0..3)
            .map(|_| {
                let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
                EncodingKey::from_rsa_der(key.to_pkcs1_der().unwrap().as_bytes())
            })
            .collect()
    })[i]
}

/// The key ids a `Pool` knows, each for one of the generated keys.
pub const KIDS: [&str; 3] = ["key-1", "key-2", "key-3"];

fn key_of(kid: &str) -> &'static EncodingKey {
    key(KIDS.iter().position(|k| *k == kid).expect("a known kid"))
}

/// A user pool's keys, served over HTTP as Cognito serves them.
pub struct Pool {
    pub url: String,
    published: Arc<Mutex<Vec<&'static str>>>,
    fetches: Arc<AtomicUsize>,
    server: tokio::task::JoinHandle<()>,
}

impl Pool {
    /// Serves `/<POOL>/.well-known/jwks.json` holding the keys `kids`.
    pub async fn start(kids: &[&'static str]) -> Pool {
        let published = Arc::new(Mutex::new(kids.to_vec()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (p, f) = (published.clone(), fetches.clone());
        let app = Router::new().route(
            &format!("/{POOL}/.well-known/jwks.json"),
            get(move || {
                let (p, f) = (p.clone(), f.clone());
                async move {
                    f.fetch_add(1, Ordering::SeqCst);
                    let kids = p.lock().unwrap().clone();
                    axum::Json(jwks(&kids))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Pool {
            url: format!("http://{addr}/{POOL}/.well-known/jwks.json"),
            published,
            fetches,
            server,
        }
    }

    /// Publishes `kids` from now on (a key rotation).
    pub fn publish(&self, kids: &[&'static str]) {
        *self.published.lock().unwrap() = kids.to_vec();
    }

    /// Requests for the keys so far.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// A node config that accepts this pool's tokens.
    pub fn configure(&self, c: &mut Config, refetch: Duration) {
        c.auth.provider = Provider::Cognito;
        c.cognito.region = REGION.into();
        c.cognito.user_pool_id = POOL.into();
        c.cognito.client_id = CLIENT.into();
        c.cognito.jwks_url = Some(self.url.clone());
        c.cognito.jwks_refetch = refetch;
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn jwks(kids: &[&'static str]) -> JwkSet {
    let keys = kids
        .iter()
        .map(|kid| {
            let mut jwk = Jwk::from_encoding_key(key_of(kid), Algorithm::RS256).unwrap();
            jwk.common.key_id = Some((*kid).to_owned());
            jwk.common.public_key_use = Some(PublicKeyUse::Signature);
            jwk
        })
        .collect();
    JwkSet { keys }
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// The claims of an ID token Cognito would issue to `CLIENT` for `sub` named `name`.
pub fn id_claims(sub: &str, name: &str) -> Value {
    json!({
        "sub": sub, "iss": issuer(), "aud": CLIENT, "token_use": "id",
        "cognito:username": name, "iat": now(), "exp": now() + 3600,
    })
}

/// The claims of an access token for the same.
pub fn access_claims(sub: &str, name: &str) -> Value {
    json!({
        "sub": sub, "iss": issuer(), "client_id": CLIENT, "token_use": "access",
        "username": name, "iat": now(), "exp": now() + 3600,
    })
}

/// `claims` signed RS256 under `kid` with `key`'s key (which need not be `kid`'s: a forgery).
pub fn sign_with(claims: &Value, kid: &str, key: &'static str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, key_of(key)).unwrap()
}

/// `claims` signed RS256 with `kid`'s key.
pub fn sign(claims: &Value, kid: &'static str) -> String {
    sign_with(claims, kid, kid)
}

/// The password of every user `Moto::user` makes.
const PASSWORD: &str = "Correct-Horse-1";

/// A `moto_server` (the AWS stand-in) of one test's own, on a free port; killed when dropped.
pub struct Moto {
    pub endpoint: String,
    _server: Reaped,
}

impl Moto {
    /// Starts `moto_server`; returns once it answers.
    pub async fn start() -> Moto {
        let port = free_port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server must be installed (ops/test.sh installs it: ensure_moto)");
        let moto = Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            _server: Reaped(child),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let http = reqwest::Client::new();
        loop {
            let up = http
                .get(format!("{}/moto-api/", moto.endpoint))
                .send()
                .await;
            if up.is_ok() {
                return moto;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "moto_server did not answer within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// One call of the Cognito user-pool API (JSON 1.1, as the SDK sends it).
    pub async fn call(&self, action: &str, body: Value) -> Value {
        let response = reqwest::Client::new()
            .post(&self.endpoint)
            .header("Content-Type", "application/x-amz-json-1.1")
            .header(
                "X-Amz-Target",
                format!("AWSCognitoIdentityProviderService.{action}"),
            )
            // moto reads the region from the credential scope.
            .header(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/cognito-idp/aws4_request, \
                 SignedHeaders=host, Signature=0",
            )
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "{action}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

impl Moto {
    /// A user pool with an app client that allows `USER_PASSWORD_AUTH`: (pool id, client id).
    pub async fn pool(&self) -> (String, String) {
        let created = self
            .call("CreateUserPool", json!({ "PoolName": "switchboard" }))
            .await;
        let pool = created["UserPool"]["Id"].as_str().unwrap().to_owned();
        (pool.clone(), self.app_client(&pool, "chat").await)
    }

    /// Another app client of `pool`.
    pub async fn app_client(&self, pool: &str, name: &str) -> String {
        let created = self
            .call(
                "CreateUserPoolClient",
                json!({
                    "UserPoolId": pool, "ClientName": name,
                    "ExplicitAuthFlows": ["USER_PASSWORD_AUTH", "REFRESH_TOKEN_AUTH"],
                }),
            )
            .await;
        created["UserPoolClient"]["ClientId"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A node config that accepts `pool`'s tokens for `client` and reaches this moto.
    pub fn configure(&self, c: &mut Config, pool: &str, client: &str) {
        c.auth.provider = Provider::Cognito;
        c.cognito.region = "us-east-1".into();
        c.cognito.user_pool_id = pool.to_owned();
        c.cognito.client_id = client.to_owned();
        c.cognito.jwks_url = Some(format!("{}/{pool}/.well-known/jwks.json", self.endpoint));
        c.cognito.endpoint = Some(self.endpoint.clone());
    }

    /// As [`Moto::configure`], with revocation checks every half of `within` (AdminGetUser
    /// signed with made-up credentials, which moto takes).
    pub fn revoking(&self, c: &mut Config, pool: &str, client: &str, within: Duration) {
        self.configure(c, pool, client);
        c.cognito.revoke_within = within;
        c.cognito.check_timeout = Duration::from_secs(2);
        c.cognito.access_key_id = Some("test".into());
        c.cognito.secret_access_key = Some("test".into());
    }

    /// An administrator's call about `name` in `pool` (`AdminDisableUser`, ...).
    pub async fn admin(&self, action: &str, pool: &str, name: &str) {
        self.call(action, json!({ "UserPoolId": pool, "Username": name }))
            .await;
    }

    /// Signs `name` up in moto's pool, confirms them as an administrator and signs them in with
    /// USER_PASSWORD_AUTH: (ID token, access token).
    pub async fn user(&self, pool: &str, client: &str, name: &str) -> (String, String) {
        self.call(
            "SignUp",
            json!({ "ClientId": client, "Username": name, "Password": PASSWORD }),
        )
        .await;
        self.call(
            "AdminConfirmSignUp",
            json!({ "UserPoolId": pool, "Username": name }),
        )
        .await;
        self.sign_in(client, name).await
    }

    /// Signs `name` in (USER_PASSWORD_AUTH): fresh (ID token, access token).
    pub async fn sign_in(&self, client: &str, name: &str) -> (String, String) {
        let password = PASSWORD;
        let auth = self
            .call(
                "InitiateAuth",
                json!({
                    "ClientId": client,
                    "AuthFlow": "USER_PASSWORD_AUTH",
                    "AuthParameters": { "USERNAME": name, "PASSWORD": password },
                }),
            )
            .await;
        let result = &auth["AuthenticationResult"];
        (
            result["IdToken"].as_str().unwrap().to_owned(),
            result["AccessToken"].as_str().unwrap().to_owned(),
        )
    }
}

/// The answer to `GET /api/rooms` with `token`: (status, error code or 0).
pub async fn rooms_with(node: &TestNode, token: &str) -> (u16, u64) {
    let response = reqwest::Client::new()
        .get(format!("{}/api/rooms", node.http_url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["error"]["code"].as_u64().unwrap_or(0))
}

/// `token` is refused with `code`: at the upgrade (HTTP 401), by the `auth` command, and on
/// the HTTP API.
pub async fn refused(node: &TestNode, token: &str, code: ErrorCode, what: &str) {
    let err = Client::connect(&node.ws_url(), Some(token))
        .await
        .err()
        .unwrap_or_else(|| panic!("{what}: accepted at upgrade"));
    assert!(err.to_string().contains("401"), "{what}: {err}");
    let c = Client::connect(&node.ws_url(), None).await.unwrap();
    assert_eq!(
        c.auth(token).await.unwrap_err().code(),
        Some(code),
        "{what}"
    );
    assert_eq!(
        rooms_with(node, token).await,
        (401, code as u64),
        "{what} on the API"
    );
}
