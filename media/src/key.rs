//! `MediaKey`: where an object lives in a media store. Keys are chosen by the node, never by a
//! client, and are checked to be plain relative paths, so the local store can use them as file
//! names and S3 keys need no escaping.

use std::fmt;

use switchboard_engine::{AttachmentId, RoomId};

/// Longest key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 256;

/// An object's key: segments of ASCII letters, digits, `-`, `_` and `.` joined by `/`, none
/// empty or made of dots only (so never `..`), at most [`MAX_KEY_BYTES`] long.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MediaKey(String);

/// A key that is not of the form above.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a media key")]
pub struct BadKey;

impl MediaKey {
    /// Checks `key`; the only way to make a key from text (such as a URL path).
    pub fn parse(key: &str) -> Result<MediaKey, BadKey> {
        let fine_segment = |s: &str| {
            !s.is_empty()
                && !s.bytes().all(|b| b == b'.')
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        };
        if key.len() <= MAX_KEY_BYTES && key.split('/').all(fine_segment) {
            Ok(MediaKey(key.to_owned()))
        } else {
            Err(BadKey)
        }
    }

    /// The key of an attachment's original: `rooms/{room}/{attachment}`.
    pub fn attachment(room: RoomId, attachment: AttachmentId) -> MediaKey {
        MediaKey(format!("rooms/{room}/{attachment}"))
    }

    /// The key of this object's thumbnail, beside it: `{key}.thumb`.
    pub fn thumbnail(&self) -> MediaKey {
        MediaKey(format!("{}.thumb", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MediaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_are_keys() {
        for good in ["rooms/1/2", "a", "a.b/c-d_e", "rooms/1/2.thumb"] {
            assert!(MediaKey::parse(good).is_ok(), "{good}");
        }
        let long = "a".repeat(MAX_KEY_BYTES + 1);
        for bad in [
            "", "/a", "a/", "a//b", "..", "a/../b", "a/./b", "a b", "a\\b", "ä", "a?b", &long,
        ] {
            assert_eq!(MediaKey::parse(bad), Err(BadKey), "{bad:?}");
        }
    }

    #[test]
    fn attachment_keys_parse_back() {
        let key = MediaKey::attachment(RoomId(7), AttachmentId(42));
        assert_eq!(key.as_str(), "rooms/7/42");
        assert_eq!(MediaKey::parse(key.as_str()), Ok(key.clone()));
        assert_eq!(key.thumbnail().as_str(), "rooms/7/42.thumb");
    }
}
