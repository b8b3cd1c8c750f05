//! Identity: who a token says the caller is.
//!
//! `TokenVerifier` is the seam: the embedded default issues and checks its own HS256 tokens
//! (`LocalTokens`); Cognito's RS256 JWTs plug in behind the same trait.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

use crate::{ErrorCode, UserId};

/// The caller a valid token names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub user: UserId,
    pub name: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("invalid token")]
    Invalid,
    #[error("token expired")]
    Expired,
}

impl AuthError {
    pub fn code(self) -> ErrorCode {
        match self {
            AuthError::Invalid => ErrorCode::InvalidToken,
            AuthError::Expired => ErrorCode::TokenExpired,
        }
    }
}

/// Checks a bearer token and says whose it is. Implementations must not block: keys are
/// fetched ahead of time, not during `verify`.
pub trait TokenVerifier: Send + Sync + 'static {
    fn verify(&self, token: &str) -> Result<Identity, AuthError>;
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
    fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid,
            })?;
        let user = data.claims.sub.parse().map_err(|_| AuthError::Invalid)?;
        Ok(Identity {
            user: UserId(user),
            name: data.claims.name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Identity {
        Identity {
            user: UserId(7),
            name: "alice".into(),
        }
    }

    #[test]
    fn issued_tokens_verify() {
        let tokens = LocalTokens::new(&[1; 32], 60);
        assert_eq!(tokens.verify(&tokens.issue(&alice())), Ok(alice()));
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
