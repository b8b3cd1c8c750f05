//! Who a token names, checked against the store once per connection: a correctly signed token
//! for a user id that does not exist (a store reset, a key shared with another deployment) is
//! refused with 2001 instead of making a ghost that shows online and fails every command.

use std::collections::HashSet;
use std::sync::Mutex;

use switchboard_engine::auth::Identity;
use switchboard_engine::{ErrorCode, UserId};
use switchboard_persistence::cluster::throttle::{Class, Subject};

use crate::hub::Hub;
use crate::queries::internal;

/// Ids of users known to exist, so reconnect storms with valid tokens cost no store read.
/// Users are never deleted, so a remembered id stays true. At most 100 000 ids (~2 MiB); when
/// full it starts over, which costs one store read per user afterwards, never a wrong answer.
pub(crate) struct KnownUsers {
    /// Guards set operations only, never an `.await`.
    ids: Mutex<HashSet<UserId>>,
}

const KNOWN_USERS_MAX: usize = 100_000;

impl KnownUsers {
    pub(crate) fn new() -> Self {
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

impl Hub {
    /// Counts `user` introducing itself to someone (opening a conversation, adding a member);
    /// false when over `introductions_per_min`. Bounds the unsolicited `room_added` events one
    /// user can cause others.
    pub fn introduction(&self, user: UserId) -> bool {
        self.throttle
            .hit(Class::Introductions, &Subject::User(user.0))
    }

    /// The identity `token` names, if it verifies and its user exists: 2001 for a token that
    /// is malformed, forged or names no user; 2002 for an expired one.
    pub async fn authenticate(&self, token: &str) -> Result<Identity, ErrorCode> {
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
