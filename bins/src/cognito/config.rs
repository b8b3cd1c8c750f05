//! `[cognito]`: which user pool's tokens a node accepts, and how it keeps the pool's keys. Read
//! only when `auth.provider = "cognito"`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchboard_engine::settings::{ms, secs};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CognitoConfig {
    /// AWS region of the user pool, e.g. `eu-west-1`: with `user_pool_id` it makes the default
    /// `issuer`.
    pub region: String,
    /// The user pool's id, e.g. `eu-west-1_AbCdEf123`.
    pub user_pool_id: String,
    /// The app client whose tokens are accepted: the `aud` of an ID token, the `client_id` of
    /// an access token. Tokens issued to other clients of the pool are refused (2001).
    pub client_id: String,
    /// The `iss` tokens must carry. Unset: `https://cognito-idp.<region>.amazonaws.com/
    /// <user_pool_id>`, what Cognito (and local stand-ins such as moto) write.
    pub issuer: Option<String>,
    /// Where the pool's keys (JWKS) are fetched. Unset: `<issuer>/.well-known/jwks.json`. A
    /// separate setting because a local stand-in serves them elsewhere than the issuer it
    /// writes (moto: `http://127.0.0.1:<port>/<user_pool_id>/.well-known/jwks.json`).
    pub jwks_url: Option<String>,
    /// Endpoint of the Cognito API for the account routes (`/api/cognito/*`). Unset: the
    /// region's AWS endpoint. Set for a local stand-in (moto: `http://127.0.0.1:<port>`).
    pub endpoint: Option<String>,
    /// `skew_secs`: how far the node's clock and the pool's may disagree: tokens are accepted
    /// up to this long after `exp` and before `nbf` or `iat`.
    pub skew_secs: u64,
    /// `jwks_refetch_ms`: least time between two fetches of the keys. A token signed with an
    /// unknown key id (a rotated key, or a made-up id) fetches them again only once this long
    /// has passed since the last fetch; until then it is refused with 2001.
    #[serde(rename = "jwks_refetch_ms", with = "ms")]
    pub jwks_refetch: Duration,
    /// `jwks_timeout_ms`: how long one fetch of the keys may take. A token waiting for the
    /// fetch waits at most this long (and within `engine.store_timeout_ms` on `/ws`).
    #[serde(rename = "jwks_timeout_ms", with = "ms")]
    pub jwks_timeout: Duration,
    /// `revoke_within_secs`: how soon a user the pool disabled, deleted or signed out
    /// everywhere loses their connections (close 4003) on every node. Each node checks its
    /// connected users every half of it, and reads the other nodes' revocations as often. 0
    /// turns both off (a benchmark against a stand-in pool with no API): then only a sign-out
    /// through this node's `/api/cognito/signout` revokes, and only here.
    #[serde(rename = "revoke_within_secs", with = "secs")]
    pub revoke_within: Duration,
    /// Whether the checks also ask `AdminGetUser` (finds disabled and deleted users whose
    /// access token the node does not hold or that has expired). Needs the IAM permission
    /// `cognito-idp:AdminGetUser` on the pool; without it, only global sign-outs (and, on real
    /// Cognito, disables) seen through an access token are found.
    pub admin_checks: bool,
    /// Calls to the pool one node's checks have in flight at most.
    pub check_concurrency: usize,
    /// `check_timeout_ms`: how long one call of a check may take. One that takes longer, or
    /// fails otherwise, cuts nobody off (logged and counted).
    #[serde(rename = "check_timeout_ms", with = "ms")]
    pub check_timeout: Duration,
    /// The pool group whose members are on the premium plan (larger uploads,
    /// `media.limits.premium_max_bytes`): a verified token whose `cognito:groups` names it
    /// opens upload slots as premium, whatever the store says. Unset: the store's plan only
    /// (`switchboard set-plan`). Group names compare exactly (Cognito's are case-sensitive).
    pub premium_group: Option<String>,
    /// Static credentials for `AdminGetUser`; with both unset the standard AWS chain is used
    /// (environment, profile, the task's or instance's role).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

impl Default for CognitoConfig {
    fn default() -> Self {
        CognitoConfig {
            region: "us-east-1".into(),
            user_pool_id: String::new(),
            client_id: String::new(),
            issuer: None,
            jwks_url: None,
            endpoint: None,
            skew_secs: 30,
            jwks_refetch: Duration::from_secs(30),
            jwks_timeout: Duration::from_secs(5),
            revoke_within: Duration::from_secs(60),
            admin_checks: true,
            check_concurrency: 8,
            check_timeout: Duration::from_secs(5),
            premium_group: None,
            access_key_id: None,
            secret_access_key: None,
        }
    }
}

/// A `[cognito]` section that cannot work: what is missing.
#[derive(Debug, thiserror::Error)]
pub enum CognitoConfigError {
    #[error("cognito.{0} must be set when auth.provider = \"cognito\"")]
    Missing(&'static str),
}

impl CognitoConfig {
    /// The issuer tokens must carry.
    pub fn issuer(&self) -> String {
        self.issuer.clone().unwrap_or_else(|| {
            format!(
                "https://cognito-idp.{}.amazonaws.com/{}",
                self.region, self.user_pool_id
            )
        })
    }

    /// Where the keys are fetched.
    pub fn jwks_url(&self) -> String {
        self.jwks_url
            .clone()
            .unwrap_or_else(|| format!("{}/.well-known/jwks.json", self.issuer()))
    }

    /// How often a node checks its connected users and reads the others' revocations: half
    /// the bound, so a revocation made just after one round is found by the next.
    pub fn check_interval(&self) -> Duration {
        (self.revoke_within / 2).max(Duration::from_millis(100))
    }

    /// Refuses a section that names no pool or no client.
    pub fn check(&self) -> Result<(), CognitoConfigError> {
        if self.client_id.is_empty() {
            return Err(CognitoConfigError::Missing("client_id"));
        }
        if self.issuer.is_none() && (self.user_pool_id.is_empty() || self.region.is_empty()) {
            return Err(CognitoConfigError::Missing(
                "user_pool_id (and region), or issuer",
            ));
        }
        if self.admin_checks && self.user_pool_id.is_empty() {
            return Err(CognitoConfigError::Missing(
                "user_pool_id (for admin_checks; or set admin_checks = false)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_and_keys_default_to_the_pools_aws_addresses() {
        let c = CognitoConfig {
            region: "eu-west-1".into(),
            user_pool_id: "eu-west-1_abc".into(),
            client_id: "app".into(),
            ..Default::default()
        };
        c.check().unwrap();
        let issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc";
        assert_eq!(c.issuer(), issuer);
        assert_eq!(c.jwks_url(), format!("{issuer}/.well-known/jwks.json"));
        let local = CognitoConfig {
            jwks_url: Some("http://127.0.0.1:5000/eu-west-1_abc/.well-known/jwks.json".into()),
            ..c.clone()
        };
        assert_eq!(local.issuer(), issuer, "the issuer stays the AWS form");
        assert!(local.jwks_url().starts_with("http://127.0.0.1:5000/"));
    }

    #[test]
    fn a_section_without_pool_or_client_is_refused() {
        assert!(CognitoConfig::default().check().is_err());
        let no_pool = CognitoConfig {
            client_id: "app".into(),
            ..Default::default()
        };
        assert!(no_pool.check().is_err());
    }
}
