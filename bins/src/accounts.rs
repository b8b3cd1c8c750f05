//! Local accounts for the embedded default: sign-up and sign-in with argon2id password hashes
//! (bounded in concurrency and memory: `passwords`), and the HS256 key that signs tokens. Also
//! the sign-in throttle, which Cognito's sign-in shares.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use switchboard_actors::error;
use switchboard_engine::ErrorCode;
use switchboard_engine::auth::{Identity, LocalTokens};
use switchboard_engine::domain::{Plan, UserInfo};
use switchboard_persistence::cluster::throttle::{Class, Subject, Throttle};
use switchboard_persistence::{Store, StoreError};

use crate::config::AuthConfig;
use crate::passwords::Passwords;

/// Signs people up and in against the store.
pub struct Accounts {
    store: Arc<dyn Store>,
    tokens: Arc<LocalTokens>,
    passwords: Passwords,
    /// `auth.sign_in_slow_ms`: the wait of a sign-in for a name over its bound.
    sign_in_slow: Duration,
}

/// What the sign-in throttle makes of an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Check the password now.
    Now,
    /// The name is over its bound from all addresses together: check the password after this
    /// wait, whether it is right or wrong.
    After(Duration),
    /// Over the bound of its source address, or of its name from that address: 429 (4000).
    Refused,
}

/// A signed-in user and their fresh token.
#[derive(Debug, serde::Serialize)]
pub struct Session {
    pub token: String,
    pub user: UserInfo,
}

/// A refused account request: the code a client acts on, and a message that names the rule that
/// failed, for the person who typed the name and password.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountError {
    pub code: ErrorCode,
    pub message: &'static str,
}

impl From<ErrorCode> for AccountError {
    fn from(code: ErrorCode) -> Self {
        AccountError {
            code,
            message: code.describe(),
        }
    }
}

pub(crate) const fn refused(code: ErrorCode, message: &'static str) -> AccountError {
    AccountError { code, message }
}

/// Longest password accepted at sign-up and sign-in, in bytes: bounds the hashing work a
/// request can ask for.
pub const MAX_PASSWORD_BYTES: usize = 128;

/// Sign-in names neither the part that was wrong nor whether the name exists.
pub(crate) const WRONG_NAME_OR_PASSWORD: AccountError =
    refused(ErrorCode::InvalidToken, "wrong name or password");

/// The sign-up rules (docs/PROTOCOL.md §3), each refused with its own message and code 1002.
/// Characters are checked first: a name of ASCII characters has as many bytes as characters.
fn check_sign_up(name: &str, password: &str) -> Result<(), AccountError> {
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(refused(
            ErrorCode::InvalidArgument,
            "the name may contain only letters a-z and A-Z, digits, '_', '-' and '.'",
        ));
    }
    if !(1..=32).contains(&name.len()) {
        return Err(refused(
            ErrorCode::InvalidArgument,
            "the name must be 1 to 32 characters long",
        ));
    }
    if !(8..=MAX_PASSWORD_BYTES).contains(&password.len()) {
        return Err(refused(
            ErrorCode::InvalidArgument,
            "the password must be 8 to 128 bytes long",
        ));
    }
    Ok(())
}

impl Accounts {
    pub fn new(store: Arc<dyn Store>, tokens: Arc<LocalTokens>, config: &AuthConfig) -> Self {
        Accounts {
            store,
            tokens,
            passwords: Passwords::new(
                config.argon2_memory_kib,
                config.argon2_iterations,
                config.hash_concurrency,
                config.hash_queue,
            ),
            sign_in_slow: Duration::from_millis(config.sign_in_slow_ms),
        }
    }

    /// Counts a sign-in attempt for `name` from `addr`, before any hashing (or request to an
    /// identity provider), and says whether and when to check its password. Only the places
    /// a guessing run comes from are refused: its address, and the name from that address.
    /// The name from all addresses together is only slowed: refusing it would let anyone keep
    /// the name's owner out (ARCHITECTURE §13). Each count is taken only if the one before
    /// admitted the attempt, so a refused attempt adds to no other count.
    pub fn admit_sign_in(&self, throttle: &dyn Throttle, name: &str, addr: IpAddr) -> Admission {
        if !throttle.hit(Class::SignInAddr, &Subject::Addr(addr))
            || !throttle.hit(Class::SignInNameAddr, &Subject::name_at(name, addr))
        {
            return Admission::Refused;
        }
        if throttle.hit(Class::SignInName, &Subject::name(name)) {
            Admission::Now
        } else {
            Admission::After(self.sign_in_slow)
        }
    }

    pub fn tokens(&self) -> &Arc<LocalTokens> {
        &self.tokens
    }

    pub async fn sign_up(&self, name: &str, password: &str) -> Result<Session, AccountError> {
        check_sign_up(name, password)?;
        let hash = self.passwords.hash(password).await?;
        let user = self
            .store
            .create_user(name, &hash)
            .await
            .map_err(|e| match e {
                StoreError::Conflict => refused(
                    ErrorCode::Conflict,
                    "that name is taken (names ignore case)",
                ),
                e => error::internal(e).into(),
            })?;
        Ok(self.session(user))
    }

    pub async fn sign_in(&self, name: &str, password: &str) -> Result<Session, AccountError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(refused(
                ErrorCode::InvalidArgument,
                "the password must be at most 128 bytes long",
            ));
        }
        let found = self
            .store
            .user_by_name(name)
            .await
            .map_err(error::internal)?;
        // An unknown name costs the same hash as a known one: timing tells nothing. A user
        // first seen through an identity provider has no password (an empty hash): the same.
        let (user, hash) = found.unzip();
        let hash = hash.filter(|h| !h.is_empty());
        let ok = self.passwords.verify(hash.as_deref(), password).await?;
        let Some(user) = user.filter(|_| ok) else {
            return Err(WRONG_NAME_OR_PASSWORD);
        };
        Ok(self.session(user))
    }

    /// A token for an existing user, for the admin `token` command.
    pub async fn issue_for(&self, name: &str) -> Result<Session, ErrorCode> {
        let (user, _) = self
            .store
            .user_by_name(name)
            .await
            .map_err(error::internal)?
            .ok_or(ErrorCode::NotFound)?;
        Ok(self.session(user))
    }

    /// Puts the user named `name` (a local account or one made for an identity provider's
    /// user: the Switchboard name either way) on `plan`, for the admin `set-plan` command.
    /// Takes effect with the user's next upload slot, on every node: slots read the plan from
    /// the store. 3001 `not_found` when no user has that name.
    pub async fn set_plan(&self, name: &str, plan: Plan) -> Result<UserInfo, ErrorCode> {
        let (user, _) = self
            .store
            .user_by_name(name)
            .await
            .map_err(error::internal)?
            .ok_or(ErrorCode::NotFound)?;
        self.store
            .set_plan(user.id, plan)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => ErrorCode::NotFound,
                e => error::internal(e),
            })?;
        Ok(user)
    }

    fn session(&self, user: UserInfo) -> Session {
        let token = self.tokens.issue(&Identity {
            user: user.id,
            name: user.name.clone(),
            plan: None,
        });
        Session { token, user }
    }
}

/// The token secret from the config, or the one kept in `<data_dir>/token.key` (generated on
/// first use, readable only by its owner).
pub fn token_secret(config: &AuthConfig, data_dir: &Path) -> std::io::Result<Vec<u8>> {
    if let Some(secret) = &config.token_secret {
        return Ok(secret.as_bytes().to_vec());
    }
    crate::keyfile::read_or_make(&data_dir.join("token.key"))
}
