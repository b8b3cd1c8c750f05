//! `Revocation checks`: every `cognito.revoke_within_secs / 2` a node asks the user pool about
//! each Cognito user connected to it, and reads the revocations the other nodes recorded. A
//! user found revoked loses every connection here at once (close 4003, through each
//! connection's own loop) and on the other nodes by their next read; their tokens issued
//! before the revocation are refused at `auth` (2005) everywhere.
//!
//! Per connected user (not per connection), a round makes at most two calls:
//! - `GetUser` with the newest access token the node has seen for them, while it has not
//!   expired: `NotAuthorizedException` means it was revoked (a global sign-out; real Cognito
//!   also revokes access tokens on `AdminDisableUser`), and so is every token issued no later
//!   than it: the revocation covers tokens issued up to its `iat`, never a token of a sign-in
//!   made after the sign-out.
//! - `AdminGetUser` (with `cognito.admin_checks`, IAM `cognito-idp:AdminGetUser`): a disabled
//!   user, or one deleted (or whose name now belongs to another `sub`), is revoked up to now.
//!
//! Bounds: at most `check_concurrency` calls in flight, each within `check_timeout_ms`. Any
//! other answer (a timeout, throttling, a missing permission, the pool unreachable) revokes
//! nobody: it is counted (`switchboard_cognito_check_failures_total`) and logged once a round.
//! A round that takes longer than the interval delays the next; it never overlaps it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata;
use futures::StreamExt as _;
use switchboard_actors::Hub;
use switchboard_actors::revocation::{TOKEN_LIFETIME_MAX_SECS, Watched};
use switchboard_engine::metrics as names;
use switchboard_persistence::{Revocation, Store};

use super::CognitoConfig;

/// Revocations read from the store per query; a round reads at most `SYNC_PAGES` of them.
const SYNC_PAGE: u32 = 1000;
const SYNC_PAGES: usize = 100;

/// How far back each read of the store starts before the newest record it has seen: records
/// are stamped with their node's clock and may commit late, so nodes' clocks must agree within
/// this. Records read twice are applied once.
const SYNC_OVERLAP_MS: u64 = 60_000;

/// Why a user's access was revoked (the `cause` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    SignedOut,
    Disabled,
    Deleted,
    /// Through this node's `/api/cognito/signout`.
    SignOut,
}

impl Cause {
    fn name(self) -> &'static str {
        match self {
            Cause::SignedOut => "signed_out",
            Cause::Disabled => "disabled",
            Cause::Deleted => "deleted",
            Cause::SignOut => "sign_out",
        }
    }
}

/// What one call found.
enum Answer {
    Stands,
    Revoked {
        before: u64,
        cause: Cause,
    },
    /// No clear answer: nobody is cut off for it.
    Failed(String),
}

/// The checks of one node; run by the supervised `revocation_check` task.
pub struct RevocationChecks {
    /// For `GetUser`, which the access token authorises: no AWS credentials.
    public: Client,
    /// For `AdminGetUser`, with the node's credentials; `None` without `admin_checks`.
    admin: Option<Client>,
    pool_id: String,
    hub: Arc<Hub>,
    store: Arc<dyn Store>,
    interval: Duration,
    concurrency: usize,
    timeout: Duration,
    skew_secs: u64,
}

impl RevocationChecks {
    /// Clients for `config`'s pool (at `config.endpoint` when set). Nothing is sent until the
    /// first round.
    pub async fn connect(config: &CognitoConfig, hub: Arc<Hub>, store: Arc<dyn Store>) -> Self {
        let loader = || {
            let loader = switchboard_media::aws::sdk_loader(&config.region);
            match &config.endpoint {
                Some(endpoint) => loader.endpoint_url(endpoint),
                None => loader,
            }
        };
        let public = Client::new(&loader().no_credentials().load().await);
        let admin = match config.admin_checks {
            false => None,
            true => {
                let loader = switchboard_media::aws::with_configured_credentials(
                    loader(),
                    config.access_key_id.as_deref(),
                    config.secret_access_key.as_deref(),
                );
                Some(Client::new(&loader.load().await))
            }
        };
        RevocationChecks {
            public,
            admin,
            pool_id: config.user_pool_id.clone(),
            hub,
            store,
            interval: config.check_interval(),
            concurrency: config.check_concurrency.max(1),
            timeout: config.check_timeout,
            skew_secs: config.skew_secs,
        }
    }

    /// Rounds, one per interval, until the task is stopped. A run keeps nothing a restart
    /// would miss: the next one reads the store's revocations of the last token lifetime again.
    pub async fn run(self: Arc<Self>) {
        let mut since = now_ms().saturating_sub(TOKEN_LIFETIME_MAX_SECS * 1000);
        let mut every = tokio::time::interval(self.interval);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            self.hub.revocations().prune(now_secs());
            since = self.sync(since).await;
            self.check_all().await;
        }
    }

    /// Applies the revocations other nodes recorded since `since`; returns where the next read
    /// starts.
    async fn sync(&self, mut since: u64) -> u64 {
        let mut newest = None;
        for _ in 0..SYNC_PAGES {
            let page = match self.store.revocations_since(since, SYNC_PAGE).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "reading revocations failed; retrying next round");
                    break;
                }
            };
            let now = now_secs();
            for r in &page {
                let done = self
                    .hub
                    .revocations()
                    .revoke(&r.subject, r.before_secs, now);
                if done.widened {
                    metrics::counter!(names::REVOCATIONS, "cause" => "other_node").increment(1);
                    if done.closed > 0 {
                        tracing::info!(
                            closed = done.closed,
                            "a user revoked on another node: connections closed (4003)"
                        );
                    }
                }
            }
            let full = page.len() == SYNC_PAGE as usize;
            let Some(last) = page.last().map(|r| r.recorded_ms) else {
                break;
            };
            newest = Some(last);
            // A full page of one millisecond cannot be paged past; the next round goes on.
            if !full || last == since {
                break;
            }
            since = last;
        }
        newest.map_or(since, |n| n.saturating_sub(SYNC_OVERLAP_MS).max(since))
    }

    /// Checks every user connected here, `concurrency` at a time.
    async fn check_all(&self) {
        let watched = self.hub.revocations().watched();
        let failures: Vec<String> = futures::stream::iter(watched)
            .map(|user| self.check(user))
            .buffer_unordered(self.concurrency)
            .filter_map(|failure| async move { failure })
            .collect()
            .await;
        if let Some(first) = failures.first() {
            tracing::warn!(
                failed = failures.len(),
                "Cognito revocation checks without an answer (nobody cut off): {first}"
            );
        }
    }

    /// Checks one user and applies what it finds; the first failure, if any.
    async fn check(&self, user: Watched) -> Option<String> {
        let mut verdict: Option<(u64, Cause)> = None;
        let mut failure = None;
        let mut found = |answer: Answer, call: &'static str| match answer {
            Answer::Stands => {}
            Answer::Revoked { before, cause } => {
                if verdict.is_none_or(|(b, _)| b < before) {
                    verdict = Some((before, cause));
                }
            }
            Answer::Failed(why) => {
                metrics::counter!(names::COGNITO_CHECK_FAILURES, "call" => call).increment(1);
                failure.get_or_insert(format!("{call}: {why}"));
            }
        };
        // An access token about to expire could be answered "expired", which says nothing.
        let margin = self.skew_secs + self.timeout.as_secs() + 1;
        if let Some(token) = user
            .access
            .as_ref()
            .filter(|t| t.expires_at > now_secs() + margin)
        {
            found(
                self.get_user(&token.token, token.issued_at).await,
                "get_user",
            );
        }
        if let Some(admin) = &self.admin {
            found(self.admin_get_user(admin, &user).await, "admin_get_user");
        }
        if let Some((before, cause)) = verdict {
            record(&self.hub, &*self.store, &user.subject, before, cause).await;
        }
        failure
    }

    async fn get_user(&self, token: &str, issued_at: u64) -> Answer {
        metrics::counter!(names::COGNITO_CHECKS, "call" => "get_user").increment(1);
        let call = self.public.get_user().access_token(token).send();
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Answer::Failed(format!("no answer within {:?}", self.timeout)),
            Ok(Ok(_)) => Answer::Stands,
            Ok(Err(e)) => match e.code() {
                // "Access Token has been revoked", "User is disabled.": no token issued up to
                // this one stands. "... has expired" says nothing (a clock ahead of ours).
                Some("NotAuthorizedException")
                    if !e.message().is_some_and(|m| m.contains("expired")) =>
                {
                    Answer::Revoked {
                        before: issued_at,
                        cause: Cause::SignedOut,
                    }
                }
                Some("UserNotFoundException") => Answer::Revoked {
                    before: now_secs(),
                    cause: Cause::Deleted,
                },
                _ => Answer::Failed(format!("{e:?}")),
            },
        }
    }

    async fn admin_get_user(&self, admin: &Client, user: &Watched) -> Answer {
        metrics::counter!(names::COGNITO_CHECKS, "call" => "admin_get_user").increment(1);
        let call = admin
            .admin_get_user()
            .user_pool_id(&self.pool_id)
            .username(&user.name)
            .send();
        let revoked = |cause| Answer::Revoked {
            before: now_secs(),
            cause,
        };
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Answer::Failed(format!("no answer within {:?}", self.timeout)),
            Ok(Ok(out)) => {
                let sub = out
                    .user_attributes()
                    .iter()
                    .find(|a| a.name() == "sub")
                    .and_then(|a| a.value());
                if sub.is_some_and(|sub| sub != user.subject) {
                    // The name was deleted and made again: a new user, not this one.
                    revoked(Cause::Deleted)
                } else if !out.enabled() {
                    revoked(Cause::Disabled)
                } else {
                    Answer::Stands
                }
            }
            Ok(Err(e)) => match e.code() {
                Some("UserNotFoundException") => revoked(Cause::Deleted),
                _ => Answer::Failed(format!("{e:?}")),
            },
        }
    }
}

/// Revokes `subject`'s tokens issued up to `before`: closes its connections here, counts it,
/// and records it in the store for the other nodes (a failed write is logged; this node has
/// applied it all the same, and the checks of the others find the user on their own).
pub async fn record(hub: &Hub, store: &dyn Store, subject: &str, before: u64, cause: Cause) {
    let done = hub.revocations().revoke(subject, before, now_secs());
    if !done.widened {
        return;
    }
    metrics::counter!(names::REVOCATIONS, "cause" => cause.name()).increment(1);
    tracing::info!(
        cause = cause.name(),
        closed = done.closed,
        "a Cognito user's access was revoked: their connections here closed (4003)"
    );
    let revocation = Revocation {
        subject: subject.to_owned(),
        before_secs: before,
        recorded_ms: now_ms(),
    };
    if let Err(e) = store.revoke(&revocation).await {
        tracing::warn!(error = %e, "recording a revocation failed: other nodes learn it only from their own checks");
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub(crate) fn now_secs() -> u64 {
    now_ms() / 1000
}
