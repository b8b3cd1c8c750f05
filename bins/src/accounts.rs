//! Local accounts for the embedded default: sign-up and sign-in with argon2id password hashes
//! (bounded in concurrency and memory: `passwords`), and the HS256 key that signs tokens.

use std::path::Path;
use std::sync::Arc;

use rand::RngCore;
use switchboard_engine::ErrorCode;
use switchboard_engine::auth::{Identity, LocalTokens};
use switchboard_engine::domain::UserInfo;
use switchboard_persistence::{Store, StoreError};

use crate::config::AuthConfig;
use crate::passwords::Passwords;

/// Signs people up and in against the store.
pub struct Accounts {
    store: Arc<dyn Store>,
    tokens: Arc<LocalTokens>,
    passwords: Passwords,
}

/// A signed-in user and their fresh token.
#[derive(Debug, serde::Serialize)]
pub struct Session {
    pub token: String,
    pub user: UserInfo,
}

fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
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
        }
    }

    pub fn tokens(&self) -> &Arc<LocalTokens> {
        &self.tokens
    }

    pub async fn sign_up(&self, name: &str, password: &str) -> Result<Session, ErrorCode> {
        if !valid_name(name) || !(8..=128).contains(&password.len()) {
            return Err(ErrorCode::InvalidArgument);
        }
        let hash = self.passwords.hash(password).await?;
        let user = self
            .store
            .create_user(name, &hash)
            .await
            .map_err(|e| match e {
                StoreError::Conflict => ErrorCode::Conflict,
                _ => ErrorCode::Internal,
            })?;
        Ok(self.session(user))
    }

    pub async fn sign_in(&self, name: &str, password: &str) -> Result<Session, ErrorCode> {
        let found = self
            .store
            .user_by_name(name)
            .await
            .map_err(|_| ErrorCode::Internal)?;
        // An unknown name costs the same hash as a known one: timing tells nothing.
        let (user, hash) = found.unzip();
        let ok = self.passwords.verify(hash.as_deref(), password).await?;
        let Some(user) = user.filter(|_| ok) else {
            return Err(ErrorCode::InvalidToken);
        };
        Ok(self.session(user))
    }

    /// A token for an existing user, for the admin `token` command.
    pub async fn issue_for(&self, name: &str) -> Result<Session, ErrorCode> {
        let (user, _) = self
            .store
            .user_by_name(name)
            .await
            .map_err(|_| ErrorCode::Internal)?
            .ok_or(ErrorCode::NotFound)?;
        Ok(self.session(user))
    }

    fn session(&self, user: UserInfo) -> Session {
        let token = self.tokens.issue(&Identity {
            user: user.id,
            name: user.name.clone(),
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
    let path = data_dir.join("token.key");
    match std::fs::read(&path) {
        Ok(secret) if secret.len() >= 32 => Ok(secret),
        _ => {
            let mut secret = vec![0u8; 32];
            rand::rng().fill_bytes(&mut secret);
            std::fs::write(&path, &secret)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
            }
            Ok(secret)
        }
    }
}
