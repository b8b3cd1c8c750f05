//! Identity: who a token says the caller is.
//!
//! `TokenVerifier` is the seam: the embedded default issues and checks its own HS256 tokens
//! (`LocalTokens`); Cognito's RS256 JWTs plug in behind the same trait ([`cognito`]: the checks,
//! given the user pool's keys; fetching the keys is the binary's job).

pub mod cognito;
pub mod crypto;

use std::future::Future;
use std::pin::Pin;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

use crate::domain::Plan;
use crate::{ErrorCode, UserId};

/// The caller a valid token names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub user: UserId,
    pub name: String,
    /// The plan the token itself vouches for: premium for a Cognito token that names the
    /// pool's premium group (`cognito.premium_group`). `None`: the store's plan for the user
    /// holds. Never written into a token this node issues.
    pub plan: Option<Plan>,
}

/// A user of an identity provider (a Cognito user pool), as a verified token names them: by
/// the provider's stable id for them, which never changes, and the name they go by there. The
/// store links the subject to a Switchboard user the first time it is seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct External {
    /// The provider's id for the user (Cognito's `sub`).
    pub subject: String,
    /// The name the provider knows them by (Cognito's `cognito:username` or `username`); the
    /// Switchboard name is made from it.
    pub name: String,
    /// When the token was issued (`iat`, seconds since the Unix epoch): a revocation refuses
    /// the tokens issued before it.
    pub issued_at: u64,
    /// When the token expires (`exp`, seconds since the Unix epoch).
    pub expires_at: u64,
    /// An access token (`token_use = access`), which the provider can be asked about
    /// (Cognito's `GetUser`); else an ID token.
    pub access: bool,
    /// The token names the pool group whose members are premium (Cognito's `cognito:groups`
    /// holds `cognito.premium_group`).
    pub premium: bool,
}

/// Who a verified token names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A user of this node's store, by id (local tokens).
    User(Identity),
    /// A user of an identity provider, not yet mapped to a store user.
    External(External),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("invalid token")]
    Invalid,
    #[error("token expired")]
    Expired,
    /// Signed with a key this verifier does not hold (yet): the caller may have the keys
    /// refreshed ([`TokenVerifier::refresh_keys`]) and verify once more. Answered as 2001.
    #[error("token signed with an unknown key")]
    UnknownKey,
}

impl AuthError {
    pub fn code(self) -> ErrorCode {
        match self {
            AuthError::Invalid | AuthError::UnknownKey => ErrorCode::InvalidToken,
            AuthError::Expired => ErrorCode::TokenExpired,
        }
    }
}

/// What [`TokenVerifier::refresh_keys`] returns: done when the keys are as fresh as the
/// verifier will make them for now.
pub type KeyRefresh<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Checks a bearer token and says whose it is. `verify` must not block: it works with the keys
/// in hand. Keys that can change (a user pool's JWKS) are fetched by `refresh_keys`, which a
/// caller awaits after `verify` answered [`AuthError::UnknownKey`]; an implementation bounds
/// how often it really fetches, so a flood of tokens with made-up key ids costs nothing.
pub trait TokenVerifier: Send + Sync + 'static {
    fn verify(&self, token: &str) -> Result<Subject, AuthError>;

    /// Fetches the keys anew, if the implementation has keys to fetch and its bound allows.
    fn refresh_keys(&self) -> KeyRefresh<'_> {
        Box::pin(std::future::ready(()))
    }
}

const ISSUER: &str = "switchboard";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    name: String,
    iss: String,
    iat: u64,
    exp: u64,
}

/// Issues and verifies HS256 tokens signed with a node-local secret.
pub struct LocalTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_secs: u64,
}

impl LocalTokens {
    /// `secret` should be at least 32 random bytes; `ttl_secs` is each token's lifetime.
    pub fn new(secret: &[u8], ttl_secs: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        validation.leeway = 0;
        LocalTokens {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_secs,
        }
    }

    /// A token for `who`, valid from `now` (seconds since the Unix epoch) for the configured ttl.
    pub fn issue_at(&self, who: &Identity, now: u64) -> String {
        let claims = Claims {
            sub: who.user.0.to_string(),
            name: who.name.clone(),
            iss: ISSUER.to_owned(),
            iat: now,
            exp: now + self.ttl_secs,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of plain claims cannot fail")
    }

    pub fn issue(&self, who: &Identity) -> String {
        self.issue_at(who, jsonwebtoken::get_current_timestamp())
    }
}

impl TokenVerifier for LocalTokens {
    fn verify(&self, token: &str) -> Result<Subject, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid,
            })?;
        let user = data.claims.sub.parse().map_err(|_| AuthError::Invalid)?;
        Ok(Subject::User(Identity {
            user: UserId(user),
            name: data.claims.name,
            plan: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Identity {
        Identity {
            user: UserId(7),
            name: "alice".into(),
            plan: None,
        }
    }

    #[test]
    fn issued_tokens_verify() {
        let tokens = LocalTokens::new(&[1; 32], 60);
        assert_eq!(
            tokens.verify(&tokens.issue(&alice())),
            Ok(Subject::User(alice()))
        );
    }

    #[test]
    fn expired_forged_and_garbage_tokens_are_rejected() {
        let tokens = LocalTokens::new(&[1; 32], 60);
        let old = tokens.issue_at(&alice(), jsonwebtoken::get_current_timestamp() - 3600);
        assert_eq!(tokens.verify(&old), Err(AuthError::Expired));
        let forged = LocalTokens::new(&[2; 32], 60).issue(&alice());
        assert_eq!(tokens.verify(&forged), Err(AuthError::Invalid));
        assert_eq!(tokens.verify("not.a.token"), Err(AuthError::Invalid));
        assert_eq!(tokens.verify(""), Err(AuthError::Invalid));
    }
}
