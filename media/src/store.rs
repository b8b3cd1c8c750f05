//! The `MediaStore` trait: where attachments live, and the signed requests clients use to move
//! them without the node carrying the bytes (S3), or with the node serving them itself (local).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use serde::Serialize;

use crate::key::MediaKey;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("no such object")]
    NotFound,
    /// The object is larger than the caller is willing to read.
    #[error("object of {size} bytes is over the {max} bytes read at most")]
    TooLarge { size: u64, max: u64 },
    /// A request the store refuses before doing anything (e.g. a content type with characters
    /// no header may carry).
    #[error("invalid media request: {0}")]
    Invalid(&'static str),
    /// The backend failed; the operation may be retried.
    #[error("media backend: {0}")]
    Backend(String),
}

/// How long a signed request is good for: from `from` (normally now) for `lasts`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    pub from: SystemTime,
    pub lasts: Duration,
}

impl Validity {
    pub fn from_now(lasts: Duration) -> Validity {
        Validity {
            from: SystemTime::now(),
            lasts,
        }
    }

    /// When the request stops being accepted, in whole seconds since the Unix epoch (rounded
    /// down: a link never lasts longer than asked).
    pub fn expires_unix_secs(&self) -> u64 {
        (self.from + self.lasts)
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// A request a client makes on its own: the method, the URL (signature included) and the
/// headers it must send exactly as given (for an upload, `content-type` and `content-length`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SignedRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// When the URL stops working, in seconds since the Unix epoch.
    pub expires: u64,
}

/// What a store knows about an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    pub content_type: String,
}

/// Where attachments live. Keys are chosen by the node ([`MediaKey`]); every method is safe to
/// call concurrently and none blocks the async runtime.
#[async_trait]
pub trait MediaStore: Send + Sync + 'static {
    /// A URL to upload `key` with `PUT`, accepted only with exactly this `Content-Type` and
    /// `Content-Length`, only within `validity`. Nothing is written until the client uses it.
    async fn presign_put(
        &self,
        key: &MediaKey,
        content_type: &str,
        length: u64,
        validity: Validity,
    ) -> Result<SignedRequest, MediaError>;

    /// A URL to download `key` with `GET` within `validity`. The object need not exist yet.
    async fn presign_get(
        &self,
        key: &MediaKey,
        validity: Validity,
    ) -> Result<SignedRequest, MediaError>;

    /// The object's size and content type; `NotFound` when there is none.
    async fn head(&self, key: &MediaKey) -> Result<ObjectInfo, MediaError>;

    /// Stores a small object the node made itself (a thumbnail), replacing any before it.
    async fn put(&self, key: &MediaKey, content_type: &str, body: Bytes) -> Result<(), MediaError>;

    /// Reads a whole object of at most `max_bytes` (`TooLarge` beyond, before reading it).
    async fn get(&self, key: &MediaKey, max_bytes: u64) -> Result<(ObjectInfo, Bytes), MediaError>;

    /// Removes the object; removing one that does not exist succeeds.
    async fn delete(&self, key: &MediaKey) -> Result<(), MediaError>;
}

/// Whether `content_type` can travel in a header and a signed URL: visible ASCII and spaces,
/// at most 255 bytes. Both stores refuse anything else with `Invalid`.
pub fn header_safe(content_type: &str) -> Result<(), MediaError> {
    let fine = !content_type.is_empty()
        && content_type.len() <= 255
        && content_type
            .bytes()
            .all(|b| b == b' ' || b.is_ascii_graphic());
    if fine {
        Ok(())
    } else {
        Err(MediaError::Invalid("content type"))
    }
}
