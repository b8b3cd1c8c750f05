//! The stand-in user pool of `identity = "cognito"` runs: an RSA key made for the run, its
//! JWKS served on loopback the way Cognito serves a pool's, and access tokens signed with it
//! exactly as Cognito signs them. The nodes verify them as they would a real pool's (RS256,
//! issuer, app client, `token_use`, times), with the keys fetched once and cached, so a run
//! measures what a Cognito token costs a node against a local one. The stand-in has no pool API,
//! so the nodes' revocation checks are off (`revoke_within_secs = 0`): they run beside the
//! connects, once per half-bound per connected user, not per connect.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use axum::Router;
use axum::routing::get;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use serde_json::json;

const REGION: &str = "us-east-1";
const POOL: &str = "us-east-1_LoadPool";
const CLIENT: &str = "load-app-client";
const KID: &str = "load-key-1";
/// Lifetime of the tokens signed here: Cognito's default for access tokens.
const TOKEN_SECS: u64 = 3_600;

pub struct Pool {
    key: EncodingKey,
    url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Pool {
    /// A fresh key, and its JWKS served at `/<pool>/.well-known/jwks.json` on 127.0.0.1.
    pub async fn start() -> anyhow::Result<Pool> {
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)?;
        let key = EncodingKey::from_rsa_der(private.to_pkcs1_der()?.as_bytes());
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::RS256)?;
        jwk.common.key_id = Some(KID.to_owned());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        let jwks = JwkSet { keys: vec![jwk] };
        let path = format!("/{POOL}/.well-known/jwks.json");
        let app = Router::new().route(
            &path,
            get(move || {
                let jwks = jwks.clone();
                async move { axum::Json(jwks) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Pool {
            key,
            url: format!("http://{addr}{path}"),
            server,
        })
    }

    /// The settings that make a node take this pool's tokens.
    pub fn node_env(&self) -> Vec<(String, String)> {
        [
            ("SWITCHBOARD_AUTH__PROVIDER", "cognito"),
            ("SWITCHBOARD_COGNITO__REGION", REGION),
            ("SWITCHBOARD_COGNITO__USER_POOL_ID", POOL),
            ("SWITCHBOARD_COGNITO__CLIENT_ID", CLIENT),
            ("SWITCHBOARD_COGNITO__JWKS_URL", self.url.as_str()),
            // The stand-in serves keys only: no pool API for the revocation checks to ask.
            ("SWITCHBOARD_COGNITO__REVOKE_WITHIN_SECS", "0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// An access token for the pool user `name`, as Cognito would issue it at sign-in.
    pub fn access_token(&self, name: &str) -> anyhow::Result<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let claims = json!({
            "iss": format!("https://cognito-idp.{REGION}.amazonaws.com/{POOL}"),
            "sub": format!("sub-{name}"),
            "client_id": CLIENT,
            "token_use": "access",
            "scope": "aws.cognito.signin.user.admin",
            "auth_time": now,
            "iat": now,
            "exp": now + TOKEN_SECS,
            "jti": format!("jti-{name}-{now}"),
            "username": name,
        });
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(KID.to_owned());
        jsonwebtoken::encode(&header, &claims, &self.key).context("signing a token")
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.server.abort();
    }
}
