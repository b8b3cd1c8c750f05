//! Who a token names, checked against the store once per user: a correctly signed token for a
//! user id that does not exist (a store reset, a key shared with another deployment) is refused
//! with 2001 instead of making a ghost that shows online and fails every command. A token of an
//! identity provider (Cognito) names its user by the provider's `sub`; the store links each
//! subject to a Switchboard user, created the first time the subject is seen. A provider's token
//! issued before its user's access was revoked is refused with 2005 (`Revocations`).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use switchboard_engine::auth::{AuthError, External, Identity, Subject, TokenVerifier};
use switchboard_engine::domain::Plan;
use switchboard_engine::{ErrorCode, UserId};
use switchboard_persistence::Store;

use crate::error::internal;
use crate::revocation::{Pass, Revocations};

/// Answers remembered so that reconnect storms with valid tokens cost no store read. Users are
/// never deleted and a subject's user never changes, so a remembered answer stays true. When
/// full it starts over, which costs one store read per user afterwards, never a wrong answer.
struct Remembered<K, V> {
    /// Guards map operations only, never an `.await`.
    map: Mutex<HashMap<K, V>>,
    max: usize,
}

impl<K: Eq + Hash, V: Clone> Remembered<K, V> {
    fn new(max: usize) -> Self {
        Remembered {
            map: Mutex::new(HashMap::new()),
            max,
        }
    }

    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key).cloned()
    }

    fn insert(&self, key: K, value: V) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.max {
            map.clear();
        }
        map.insert(key, value);
    }
}

/// Ids of users known to exist: at most 100 000 (~2 MiB).
const KNOWN_USERS_MAX: usize = 100_000;
/// Subjects and the users they are linked to: at most 100 000 (a `sub` of 36 bytes and a name
/// of at most 32, ~16 MiB when full).
const SUBJECTS_MAX: usize = 100_000;

/// Checks tokens: their signature (the verifier) and their user (the store, once per user).
pub(crate) struct Authenticator {
    tokens: Arc<dyn TokenVerifier>,
    store: Arc<dyn Store>,
    known_users: Remembered<UserId, ()>,
    subjects: Remembered<String, Identity>,
    revocations: Arc<Revocations>,
}

impl Authenticator {
    pub(crate) fn new(
        tokens: Arc<dyn TokenVerifier>,
        store: Arc<dyn Store>,
        revocations: Arc<Revocations>,
    ) -> Self {
        Authenticator {
            tokens,
            store,
            revocations,
            known_users: Remembered::new(KNOWN_USERS_MAX),
            subjects: Remembered::new(SUBJECTS_MAX),
        }
    }

    /// The identity `token` names, if it verifies and its user exists (or, for a token of an
    /// identity provider, once its user is found or created): 2001 for a token that is
    /// malformed, forged or names no user; 2002 for an expired one; 2005 for a provider's
    /// token issued before its user's access was revoked. With the identity, a provider's
    /// token gives its [`Pass`] (what the checks of its user need).
    ///
    /// A token signed with a key the verifier lacks waits for the verifier to fetch its keys
    /// again (a rotated key is picked up this way), then is checked once more. The verifier
    /// bounds how often that fetches, so tokens with made-up key ids cost no fetch.
    pub(crate) async fn authenticate(
        &self,
        token: &str,
    ) -> Result<(Identity, Option<Pass>), ErrorCode> {
        let subject = match self.tokens.verify(token) {
            Err(AuthError::UnknownKey) => {
                self.tokens.refresh_keys().await;
                self.tokens.verify(token)
            }
            checked => checked,
        }
        .map_err(|e| e.code())?;
        match subject {
            Subject::User(identity) => Ok((self.existing(identity).await?, None)),
            Subject::External(external) => {
                if self
                    .revocations
                    .refuses(&external.subject, external.issued_at)
                {
                    return Err(ErrorCode::Revoked);
                }
                let pass = Pass::new(token, &external);
                Ok((self.linked(external).await?, Some(pass)))
            }
        }
    }

    async fn existing(&self, identity: Identity) -> Result<Identity, ErrorCode> {
        if self.known_users.get(&identity.user).is_some() {
            return Ok(identity);
        }
        match self.store.user(identity.user).await.map_err(internal)? {
            Some(_) => {
                self.known_users.insert(identity.user, ());
                Ok(identity)
            }
            None => Err(ErrorCode::InvalidToken),
        }
    }

    /// The user linked to an identity provider's subject, created on first sight.
    /// The plan its token vouches for comes with it: premium when the token names the pool's
    /// premium group, else none (the store's plan holds). It is this token's, never
    /// remembered: a user taken out of the group is free again with their next token.
    async fn linked(&self, external: External) -> Result<Identity, ErrorCode> {
        let plan = external.premium.then_some(Plan::Premium);
        if let Some(identity) = self.subjects.get(external.subject.as_str()) {
            return Ok(Identity { plan, ..identity });
        }
        let user = self
            .store
            .external_user(&external.subject, &external.name)
            .await
            .map_err(internal)?;
        let identity = Identity {
            user: user.id,
            name: user.name,
            plan: None,
        };
        self.subjects.insert(external.subject, identity.clone());
        Ok(Identity { plan, ..identity })
    }
}
