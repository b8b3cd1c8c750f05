//! `Revocations`: which identity-provider users lost their access, and which of them have
//! connections on this node. Two tables under one lock, so that a connection signing in and a
//! revocation of its user cannot pass each other:
//!
//! - the **record**: per subject (Cognito's `sub`), the time before which its tokens are
//!   refused (`auth` answers 2005). Filled by this node's checker and, through the store, by
//!   the other nodes'; an entry goes once only expired tokens can fall under it (issued more
//!   than the longest token lifetime ago), and the record holds at most
//!   [`Revocations::new`]'s `max` entries.
//! - the **sessions**: per connected subject (per user, not per connection), what the checker
//!   needs (the pool's user name, the newest access token seen) and the connections' queues,
//!   so a revocation closes them (4003) through each connection's own loop
//!   ([`Outbound::revoke`]). A session goes with its user's last connection here; there is
//!   at most one per connection, and connections are bounded (`http.max_connections`).
//!
//! The checks themselves (asking the pool) are the binary's: actors know no identity provider.

use std::collections::HashMap;
use std::sync::Mutex;

use switchboard_engine::ConnId;
use switchboard_engine::auth::External;

use crate::outbound::Outbound;

/// The longest a Cognito ID or access token lives (a pool allows at most one day), plus the
/// clock skew a verifier may allow: a revocation older than this refuses only expired tokens.
pub const TOKEN_LIFETIME_MAX_SECS: u64 = 24 * 3600 + 300;

/// Largest access token kept for the checks, in bytes (Cognito's are 1–2 KiB). A longer one is
/// not kept: its user is then checked with `AdminGetUser` alone.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// An access token, kept for the checks: the provider can say whether it still stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessToken {
    pub token: String,
    pub issued_at: u64,
    pub expires_at: u64,
}

/// What a provider's token lets this node check about its user later.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pass {
    /// The provider's id for the user (Cognito's `sub`).
    pub subject: String,
    /// The user's name in the pool (what `AdminGetUser` takes).
    pub name: String,
    /// When the token was issued: a revocation closes connections whose token is older.
    pub issued_at: u64,
    /// The token itself, when it is an access token.
    pub access: Option<AccessToken>,
}

impl Pass {
    /// The pass of a verified token of the provider.
    pub fn new(token: &str, external: &External) -> Pass {
        let access = (external.access && token.len() <= MAX_TOKEN_BYTES).then(|| AccessToken {
            token: token.to_owned(),
            issued_at: external.issued_at,
            expires_at: external.expires_at,
        });
        Pass {
            subject: external.subject.clone(),
            name: external.name.clone(),
            issued_at: external.issued_at,
            access,
        }
    }
}

/// A connected user, as the checker sees it: a copy, taken once per round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watched {
    pub subject: String,
    pub name: String,
    /// The newest access token any of the user's connections here brought.
    pub access: Option<AccessToken>,
}

/// What [`Revocations::revoke`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Revoked {
    /// The record now refuses more tokens than before (false: it already did).
    pub widened: bool,
    /// Connections here told to close.
    pub closed: usize,
}

/// See the module docs. Shared by the authenticator, the connections and the checker.
pub struct Revocations {
    /// Guards map operations only, never an `.await`.
    state: Mutex<State>,
    max: usize,
}

#[derive(Default)]
struct State {
    /// Subject → tokens issued at or before this (seconds since the Unix epoch) are refused.
    record: HashMap<String, u64>,
    sessions: HashMap<String, Session>,
}

struct Session {
    name: String,
    access: Option<AccessToken>,
    /// Each connection's queue and its token's `iat`.
    conns: Vec<(ConnId, Outbound, u64)>,
}

impl Revocations {
    /// A record of at most `max` revocations.
    pub fn new(max: usize) -> Self {
        Revocations {
            state: Mutex::new(State::default()),
            max: max.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a token of `subject` issued at `issued_at` is revoked.
    pub fn refuses(&self, subject: &str, issued_at: u64) -> bool {
        refused(&self.lock().record, subject, issued_at)
    }

    /// Registers a connection signed in with `pass`. One whose token was revoked meanwhile
    /// (between its check and now) is not registered but told to close at once.
    pub fn join(&self, pass: Pass, conn: ConnId, out: &Outbound) {
        let mut state = self.lock();
        if refused(&state.record, &pass.subject, pass.issued_at) {
            drop(state);
            out.revoke();
            return;
        }
        let session = state
            .sessions
            .entry(pass.subject)
            .or_insert_with(|| Session {
                name: pass.name,
                access: None,
                conns: Vec::new(),
            });
        session.conns.push((conn, out.clone(), pass.issued_at));
        if let Some(token) = pass.access
            && session
                .access
                .as_ref()
                .is_none_or(|a| a.issued_at <= token.issued_at)
        {
            session.access = Some(token);
        }
    }

    /// Forgets a connection; its user's session goes with their last connection here.
    pub fn leave(&self, subject: &str, conn: ConnId) {
        let mut state = self.lock();
        if let Some(session) = state.sessions.get_mut(subject) {
            session.conns.retain(|(c, _, _)| *c != conn);
            if session.conns.is_empty() {
                state.sessions.remove(subject);
            }
        }
    }

    /// Records that `subject`'s tokens issued at or before `before` are revoked (a record is
    /// never narrowed), and tells this node's connections of that user whose token falls under
    /// it to close. `now` (seconds since the Unix epoch) ages the record out: when it is full
    /// after that, the entry refusing the fewest tokens goes (its user is still cut off by the
    /// checker's next round, only not refused at `auth` on this node).
    pub fn revoke(&self, subject: &str, before: u64, now: u64) -> Revoked {
        let mut state = self.lock();
        let mut revoked = Revoked::default();
        let old = state.record.get(subject).copied();
        if old.is_none_or(|b| b < before) {
            if old.is_none() && state.record.len() >= self.max {
                prune(&mut state.record, now);
                if state.record.len() >= self.max {
                    evict_oldest(&mut state.record);
                }
            }
            state.record.insert(subject.to_owned(), before);
            revoked.widened = true;
        }
        if let Some(session) = state.sessions.get_mut(subject) {
            session.conns.retain(|(_, out, issued_at)| {
                if *issued_at > before {
                    return true;
                }
                out.revoke();
                revoked.closed += 1;
                false
            });
            if session
                .access
                .as_ref()
                .is_some_and(|a| a.issued_at <= before)
            {
                session.access = None;
            }
            if session.conns.is_empty() {
                state.sessions.remove(subject);
            }
        }
        revoked
    }

    /// Forgets revocations that refuse only expired tokens by `now`.
    pub fn prune(&self, now: u64) {
        prune(&mut self.lock().record, now);
    }

    /// The users with a connection here, for one round of checks.
    pub fn watched(&self) -> Vec<Watched> {
        self.lock()
            .sessions
            .iter()
            .map(|(subject, s)| Watched {
                subject: subject.clone(),
                name: s.name.clone(),
                access: s.access.clone(),
            })
            .collect()
    }

    /// Revocations in the record.
    pub fn recorded(&self) -> usize {
        self.lock().record.len()
    }
}

fn refused(record: &HashMap<String, u64>, subject: &str, issued_at: u64) -> bool {
    record
        .get(subject)
        .is_some_and(|before| issued_at <= *before)
}

fn prune(record: &mut HashMap<String, u64>, now: u64) {
    let horizon = now.saturating_sub(TOKEN_LIFETIME_MAX_SECS);
    record.retain(|_, before| *before >= horizon);
}

fn evict_oldest(record: &mut HashMap<String, u64>) {
    let oldest = record
        .iter()
        .min_by_key(|(_, before)| **before)
        .map(|(subject, _)| subject.clone());
    if let Some(subject) = oldest {
        record.remove(&subject);
        tracing::warn!(
            "the revocation record is full: the oldest revocation is forgotten here (its user \
             is still cut off by the checks)"
        );
    }
}

#[cfg(test)]
mod tests {
    use switchboard_engine::Codec;

    use super::*;
    use crate::outbound::{self, OutboundReceiver, Stop};

    const NOW: u64 = 1_800_000_000;

    fn conn(id: u64) -> (Outbound, OutboundReceiver) {
        outbound::channel(ConnId(id), Codec::MsgPack, 8, 1024)
    }

    fn pass(subject: &str, issued_at: u64, access: Option<&str>) -> Pass {
        Pass {
            subject: subject.into(),
            name: format!("{subject}-name"),
            issued_at,
            access: access.map(|t| AccessToken {
                token: t.into(),
                issued_at,
                expires_at: issued_at + 3600,
            }),
        }
    }

    #[test]
    fn a_revocation_refuses_older_tokens_and_closes_their_connections_only() {
        let r = Revocations::new(10);
        let (old, old_rx) = conn(1);
        let (new, new_rx) = conn(2);
        r.join(pass("s", NOW - 100, Some("old-token")), ConnId(1), &old);
        r.join(pass("s", NOW - 10, None), ConnId(2), &new);
        assert_eq!(r.watched()[0].access.as_ref().unwrap().token, "old-token");
        let done = r.revoke("s", NOW - 50, NOW);
        assert_eq!(
            done,
            Revoked {
                widened: true,
                closed: 1
            }
        );
        assert_eq!(old_rx.stopped(), Some(Stop::Revoked));
        assert_eq!(
            new_rx.stopped(),
            None,
            "a token newer than the revocation stands"
        );
        assert!(r.refuses("s", NOW - 50) && !r.refuses("s", NOW - 49));
        assert!(!r.refuses("other", 0));
        assert_eq!(
            r.watched()[0].access,
            None,
            "a revoked access token is not checked"
        );
        // A narrower revocation changes nothing.
        assert_eq!(r.revoke("s", NOW - 60, NOW), Revoked::default());
        r.leave("s", ConnId(2));
        assert!(
            r.watched().is_empty(),
            "the session goes with its last connection"
        );
    }

    #[test]
    fn a_connection_signing_in_with_a_revoked_token_is_told_to_close() {
        let r = Revocations::new(10);
        r.revoke("s", NOW, NOW);
        let (out, rx) = conn(1);
        r.join(pass("s", NOW - 1, None), ConnId(1), &out);
        assert_eq!(rx.stopped(), Some(Stop::Revoked));
        assert!(r.watched().is_empty());
    }

    #[test]
    fn the_newest_access_token_is_kept() {
        let r = Revocations::new(10);
        let (a, _ra) = conn(1);
        let (b, _rb) = conn(2);
        r.join(pass("s", NOW - 5, Some("newer")), ConnId(1), &a);
        r.join(pass("s", NOW - 9, Some("older")), ConnId(2), &b);
        assert_eq!(r.watched()[0].access.as_ref().unwrap().token, "newer");
        r.leave("s", ConnId(1));
        assert_eq!(
            r.watched()[0].access.as_ref().unwrap().token,
            "newer",
            "kept while the user has a connection here"
        );
    }

    #[test]
    fn the_record_is_bounded_and_forgets_what_refuses_only_expired_tokens() {
        let r = Revocations::new(3);
        let expired = NOW - TOKEN_LIFETIME_MAX_SECS - 1;
        r.revoke("ancient", expired, NOW);
        r.revoke("a", NOW - 30, NOW);
        r.revoke("b", NOW - 20, NOW);
        assert_eq!(r.recorded(), 3);
        // Full: the expired entry goes first.
        r.revoke("c", NOW - 10, NOW);
        assert_eq!(r.recorded(), 3);
        assert!(!r.refuses("ancient", expired));
        assert!(r.refuses("a", NOW - 30));
        // Full of live entries: the one refusing the fewest tokens goes.
        r.revoke("d", NOW, NOW);
        assert_eq!(r.recorded(), 3);
        assert!(!r.refuses("a", NOW - 30), "the oldest went");
        assert!(r.refuses("b", NOW - 20) && r.refuses("c", NOW - 10) && r.refuses("d", NOW));
        // Widening an entry in a full record evicts nothing.
        r.revoke("b", NOW, NOW);
        assert_eq!(r.recorded(), 3);
        r.prune(NOW + TOKEN_LIFETIME_MAX_SECS + 1);
        assert_eq!(r.recorded(), 0, "all aged out");
    }
}
