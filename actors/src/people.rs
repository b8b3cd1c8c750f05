//! People: profiles, names for ids and the search for users by name, shared by the WebSocket
//! commands and the HTTP routes so both follow one set of bounds.
//!
//! A profile is public to every signed-in user (as an account name is: it is how people find
//! each other). What bounds listing the user table is the search: a prefix of at least one
//! byte, at most [`MAX_FOUND_USERS`] profiles a search, and `limits.user_searches_per_min`
//! searches per user, cluster-wide. Ids given to `profiles` are bounded per request
//! ([`MAX_PROFILE_IDS`]) and by the command rate.

use switchboard_engine::domain::{self, Profile};
use switchboard_engine::protocol::{ProfileChanged, ServerFrame};
use switchboard_engine::{ConnId, UserId};
use switchboard_persistence::StoreError;
use switchboard_persistence::store::MAX_FOUND_USERS;

use crate::error::Refused;
use crate::hub::Hub;
use crate::outbound::Event;

/// The most ids one `profiles` request may name.
pub const MAX_PROFILE_IDS: usize = 100;
/// The longest search prefix, in bytes after trimming.
pub const MAX_PREFIX_BYTES: usize = 64;

/// The profiles of the users among `ids` that exist (1 to [`MAX_PROFILE_IDS`] ids).
pub async fn profiles(hub: &Hub, ids: &[UserId]) -> Result<Vec<Profile>, Refused> {
    if ids.is_empty() || ids.len() > MAX_PROFILE_IDS {
        return Err(Refused::Invalid("users must name 1 to 100 ids"));
    }
    Ok(hub.store.profiles(ids).await?)
}

/// Changes `me`'s profile (each field given, checked; the others kept) and tells their other
/// devices and the connections watching their presence (`profile_changed`); `from` is the
/// connection that asked (`ConnId(0)` for none), which the caller answers itself.
pub async fn set_profile(
    hub: &Hub,
    me: UserId,
    from: ConnId,
    display_name: Option<&str>,
    status: Option<&str>,
) -> Result<Profile, Refused> {
    let display_name = display_name
        .map(domain::display_name)
        .transpose()
        .map_err(Refused::Invalid)?;
    let status = status
        .map(domain::profile_status)
        .transpose()
        .map_err(Refused::Invalid)?;
    let profile = match hub.store.set_profile(me, display_name, status).await {
        Ok(profile) => profile,
        // An account deleted while its token lives.
        Err(StoreError::NotFound) => return Err(Refused::NotFound("no such user")),
        Err(e) => return Err(e.into()),
    };
    let changed = ServerFrame::ProfileChanged(ProfileChanged {
        user: profile.clone(),
    });
    hub.presence()
        .announce(from, me, Event::new(None, &changed))
        .await;
    Ok(profile)
}

/// Users whose account or display name starts with `prefix` (trimmed, 1 to
/// [`MAX_PREFIX_BYTES`] bytes), ignoring case, by account name: at most `limit` (at least 1;
/// above [`MAX_FOUND_USERS`], that many). 4000 past `me`'s searches per minute.
pub async fn find_users(
    hub: &Hub,
    me: UserId,
    prefix: &str,
    limit: u32,
) -> Result<Vec<Profile>, Refused> {
    let prefix = prefix.trim();
    if prefix.is_empty() || prefix.len() > MAX_PREFIX_BYTES {
        return Err(Refused::Invalid("prefix must be 1 to 64 bytes"));
    }
    if limit == 0 {
        return Err(Refused::Invalid("limit must be at least 1"));
    }
    if !hub.rooms().user_search(me) {
        return Err(Refused::RateLimited);
    }
    let limit = limit.min(MAX_FOUND_USERS);
    Ok(hub.store.find_users(prefix, limit).await?)
}
