//! Who a token names, checked against the store once per connection: a correctly signed token
//! for a user id that does not exist (a store reset, a key shared with another deployment) is
//! refused with 2001 instead of making a ghost that shows online and fails every command.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use switchboard_engine::auth::{Identity, TokenVerifier};
use switchboard_engine::{ErrorCode, UserId};
use switchboard_persistence::Store;

use crate::error::internal;

/// Ids of users known to exist, so reconnect storms with valid tokens cost no store read.
/// Users are never deleted, so a remembered id stays true. At most 100 000 ids (~2 MiB); when
/// full it starts over, which costs one store read per user afterwards, never a wrong answer.
struct KnownUsers {
    /// Guards set operations only, never an `.await`.
    ids: Mutex<HashSet<UserId>>,
}

const KNOWN_USERS_MAX: usize = 100_000;

impl KnownUsers {
    fn new() -> Self {
        KnownUsers {
            ids: Mutex::new(HashSet::new()),
        }
    }

    fn contains(&self, user: UserId) -> bool {
        self.ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&user)
    }

    fn insert(&self, user: UserId) {
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        if ids.len() >= KNOWN_USERS_MAX {
            ids.clear();
        }
        ids.insert(user);
    }
}

/// Checks tokens: their signature (the verifier) and their user (the store, once per user).
pub(crate) struct Authenticator {
    tokens: Arc<dyn TokenVerifier>,
    store: Arc<dyn Store>,
    known_users: KnownUsers,
}

impl Authenticator {
    pub(crate) fn new(tokens: Arc<dyn TokenVerifier>, store: Arc<dyn Store>) -> Self {
        Authenticator {
            tokens,
            store,
            known_users: KnownUsers::new(),
        }
    }

    /// The identity `token` names, if it verifies and its user exists: 2001 for a token that
    /// is malformed, forged or names no user; 2002 for an expired one.
    pub(crate) async fn authenticate(&self, token: &str) -> Result<Identity, ErrorCode> {
        let identity = self.tokens.verify(token).map_err(|e| e.code())?;
        if self.known_users.contains(identity.user) {
            return Ok(identity);
        }
        match self.store.user(identity.user).await.map_err(internal)? {
            Some(_) => {
                self.known_users.insert(identity.user);
                Ok(identity)
            }
            None => Err(ErrorCode::InvalidToken),
        }
    }
}
