//! `CognitoTokens`: Cognito tokens checked against the user pool's keys, which it fetches from
//! the pool's JWKS URL at start-up and again when a token names a key id it lacks (Cognito
//! rotates keys by publishing a new one). Fetches are bounded: at most one at a time, and none
//! sooner than `jwks_refetch_ms` after the last began, so tokens with made-up key ids cannot
//! make the node hammer the endpoint. A failed fetch keeps the keys it had.

use std::sync::{Arc, Mutex, RwLock, Weak};

use bytes::Bytes;
use futures::FutureExt as _;
use futures::future::{BoxFuture, Shared};
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use switchboard_engine::auth::cognito::{CognitoRules, JwksError, KeySet};
use switchboard_engine::auth::{AuthError, KeyRefresh, Subject, TokenVerifier};
use tokio::time::{Duration, Instant};

use super::CognitoConfig;

/// Largest JWKS document read, in bytes. A pool's holds two keys in about 1 KiB.
const MAX_JWKS_BYTES: usize = 64 * 1024;

/// Why a fetch of the keys failed (logged; the keys in hand stay).
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("request failed: {0}")]
    Request(#[from] hyper_util::client::legacy::Error),
    #[error("answered {0}")]
    Status(hyper::StatusCode),
    #[error("reading the document: {0} (at most {MAX_JWKS_BYTES} bytes are read)")]
    Body(Box<dyn std::error::Error + Send + Sync>),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Keys(#[from] JwksError),
}

/// Why the verifier could not be built.
#[derive(Debug, thiserror::Error)]
pub enum CognitoError {
    #[error("cognito.jwks_url {0:?} is not a URL")]
    Url(String),
    #[error("loading the system's root certificates: {0}")]
    Roots(std::io::Error),
}

/// A `TokenVerifier` for one user pool and app client. Cheap to clone.
#[derive(Clone)]
pub struct CognitoTokens {
    inner: Arc<Inner>,
}

struct Inner {
    rules: CognitoRules,
    /// The keys in hand; replaced whole by a fetch. Read per token, never held across an
    /// `.await`.
    keys: RwLock<Arc<KeySet>>,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    url: hyper::Uri,
    timeout: Duration,
    refetch: Duration,
    /// When the last fetch began and the fetch under way, if any. Never held across an
    /// `.await`.
    gate: Mutex<Gate>,
}

#[derive(Default)]
struct Gate {
    last: Option<Instant>,
    /// Every token that waits for keys waits for this one fetch.
    in_flight: Option<Shared<BoxFuture<'static, ()>>>,
}

impl CognitoTokens {
    /// A verifier for `config`'s pool, holding no keys yet: call [`CognitoTokens::refresh`]
    /// before serving (a node serves anyway when it fails, and fetches again on the first
    /// token, once `jwks_refetch_ms` has passed).
    pub fn new(config: &CognitoConfig) -> Result<Self, CognitoError> {
        let url = config.jwks_url();
        let url: hyper::Uri = url.parse().map_err(|_| CognitoError::Url(url))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)
            .map_err(CognitoError::Roots)?
            // Plain HTTP too: local stand-ins (moto) serve their keys without TLS.
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(CognitoTokens {
            inner: Arc::new(Inner {
                rules: CognitoRules::new(&config.issuer(), &config.client_id, config.skew_secs)
                    .with_premium_group(config.premium_group.as_deref()),
                keys: RwLock::new(Arc::new(KeySet::default())),
                client,
                url,
                timeout: config.jwks_timeout,
                refetch: config.jwks_refetch,
                gate: Mutex::new(Gate::default()),
            }),
        })
    }

    /// Fetches the keys now if the bound allows (or joins the fetch under way); returns the
    /// number of keys then in hand.
    pub async fn refresh(&self) -> usize {
        self.refresh_keys().await;
        self.keys().len()
    }

    fn keys(&self) -> Arc<KeySet> {
        self.inner
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Inner {
    async fn fetch(&self) {
        match self.get().await {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), url = %self.url, "Cognito keys fetched");
                *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys);
            }
            // At most one line per `jwks_refetch_ms`: fetches are that far apart.
            Err(e) => tracing::warn!(url = %self.url, "fetching Cognito keys: {e}"),
        }
    }

    async fn get(&self) -> Result<KeySet, FetchError> {
        let fetch = async {
            let response = self.client.get(self.url.clone()).await?;
            if !response.status().is_success() {
                return Err(FetchError::Status(response.status()));
            }
            let body = Limited::new(response.into_body(), MAX_JWKS_BYTES)
                .collect()
                .await
                .map_err(FetchError::Body)?
                .to_bytes();
            Ok(KeySet::from_jwks(&body)?)
        };
        tokio::time::timeout(self.timeout, fetch)
            .await
            .map_err(|_| FetchError::Timeout(self.timeout))?
    }
}

impl TokenVerifier for CognitoTokens {
    fn verify(&self, token: &str) -> Result<Subject, AuthError> {
        self.inner
            .rules
            .verify(&self.keys(), token)
            .map(Subject::External)
    }

    fn refresh_keys(&self) -> KeyRefresh<'_> {
        let fetch = {
            let mut gate = self.inner.gate.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(fetch) = &gate.in_flight {
                Some(fetch.clone())
            } else if gate
                .last
                .is_some_and(|last| last.elapsed() < self.inner.refetch)
            {
                None
            } else {
                gate.last = Some(Instant::now());
                // Weak: the fetch is kept in `gate`, which the verifier owns.
                let inner: Weak<Inner> = Arc::downgrade(&self.inner);
                let fetch = async move {
                    if let Some(inner) = inner.upgrade() {
                        inner.fetch().await;
                        inner
                            .gate
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .in_flight = None;
                    }
                }
                .boxed()
                .shared();
                gate.in_flight = Some(fetch.clone());
                Some(fetch)
            }
        };
        Box::pin(async move {
            if let Some(fetch) = fetch {
                fetch.await;
            }
        })
    }
}
