//! The room list (migration 11) as both stores build it: every room of a user, most recently
//! active first, keyset-paged by (activity, room), each with its last message as history
//! shows it, its unread count (bounded) and the user's muted flag.
//!
//! A room's activity is its last message's `ts` (entries of kind 0 only: edits, deletes and
//! reactions do not move a room), else when the user joined (`members.joined_ms`, recorded
//! from migration 11 on), else when the room was created. Unread counts the messages of
//! others after the user's read watermark (`reads`), not deleted, and stops at
//! [`MAX_UNREAD`] + 1, so a room's cost is bounded whatever its backlog.

use switchboard_engine::domain::{MAX_UNREAD, Profile, RoomCursor};
use switchboard_engine::ids::MAX_STORED;

/// How many unread messages a store counts at most: one past the cap, to know there are more.
pub(super) const UNREAD_PROBE: u32 = MAX_UNREAD + 1;

/// The unread count and whether it was capped, from a count of at most [`UNREAD_PROBE`].
pub(super) fn unread(counted: u64) -> (u32, bool) {
    let more = counted > u64::from(MAX_UNREAD);
    (counted.min(u64::from(MAX_UNREAD)) as u32, more)
}

/// The mention count, of the messages the unread probe read (so within the unread cap).
pub(super) fn mentioned(counted: u64) -> u32 {
    counted.min(u64::from(MAX_UNREAD)) as u32
}

/// The name a direct conversation shows: the other person's display name, else their
/// account name.
pub(super) fn peer_name(peer: &Profile) -> String {
    if peer.display_name.is_empty() {
        peer.name.clone()
    } else {
        peer.display_name.clone()
    }
}

/// The bound a page is read below: the cursor, or past every room for the first page.
pub(super) fn bound(before: Option<RoomCursor>) -> (i64, i64) {
    match before {
        Some(c) => (c.activity as i64, c.room.0 as i64),
        None => (MAX_STORED as i64, MAX_STORED as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unread_is_capped_with_a_flag() {
        assert_eq!(unread(0), (0, false));
        assert_eq!(unread(100), (100, false));
        assert_eq!(unread(u64::from(UNREAD_PROBE)), (100, true));
    }
}
