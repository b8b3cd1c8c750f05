//! Upload slots: what a member gets when asking to upload a file to a room (the HTTP route
//! `POST /api/rooms/{id}/attachments`, and a WebSocket command with the same meaning). Every
//! limit is checked, and the upload recorded, before any URL is made; the caller has already
//! checked that the uploader is a member of the room.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use switchboard_engine::{AttachmentId, ErrorCode, RoomId, UserId};
use switchboard_persistence::{Store, StoreError, Upload};

use crate::config::MediaConfig;
use crate::key::MediaKey;
use crate::limits::{LimitError, Plan, UploadRequest};
use crate::store::{MediaError, MediaStore, SignedRequest, Validity};

/// The span `uploads_per_day` counts over.
const DAY: Duration = Duration::from_secs(24 * 3600);

/// Attempts at a fresh random id before giving up (a collision among 2^53 ids is already
/// unheard of).
const ID_ATTEMPTS: usize = 3;

/// An attachment as clients see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AttachmentInfo {
    pub id: AttachmentId,
    pub room: RoomId,
    pub name: String,
    pub content_type: String,
    pub size: u64,
}

impl From<&Upload> for AttachmentInfo {
    fn from(u: &Upload) -> Self {
        AttachmentInfo {
            id: u.id,
            room: u.room,
            name: u.name.clone(),
            content_type: u.content_type.clone(),
            size: u.size,
        }
    }
}

/// A slot: the attachment-to-be and the request that uploads its file.
#[derive(Clone, Debug, Serialize)]
pub struct Slot {
    pub attachment: AttachmentInfo,
    pub upload: SignedRequest,
}

#[derive(Debug, thiserror::Error)]
pub enum SlotError {
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Media(#[from] MediaError),
}

impl SlotError {
    /// The code the client is answered with.
    pub fn code(&self) -> ErrorCode {
        match self {
            SlotError::Limit(e) => e.code(),
            SlotError::Store(StoreError::Busy) => ErrorCode::Busy,
            SlotError::Media(MediaError::Invalid(_)) => ErrorCode::InvalidArgument,
            SlotError::Store(_) | SlotError::Media(_) => ErrorCode::Internal,
        }
    }

    /// The `outcome` label of `switchboard_media_slots_total`.
    pub fn outcome(&self) -> &'static str {
        match self {
            SlotError::Limit(LimitError::TooLarge { .. }) => "too_large",
            SlotError::Limit(LimitError::UnsupportedType) => "unsupported_type",
            SlotError::Limit(LimitError::QuotaExceeded(_)) => "quota",
            SlotError::Limit(LimitError::BadName(_) | LimitError::Empty) => "invalid",
            SlotError::Media(MediaError::Invalid(_)) => "invalid",
            SlotError::Store(_) | SlotError::Media(_) => "error",
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A random id below 2^53: one a store holds, and one JavaScript's numbers (JSON, the web page)
/// hold exactly.
fn random_id() -> AttachmentId {
    AttachmentId((rand::random::<u64>() >> 11).max(1))
}

/// Opens an upload slot for `uploader` (on `plan`) in `room`: checks the request against
/// `config.limits` and the uploads the user started in the last 24 hours, records the upload
/// (unattached), then signs its upload URL for `config.upload_url`. Two requests at the same
/// moment may both pass a nearly used-up daily count: the count is not a lock.
pub async fn open(
    store: &dyn Store,
    media: &dyn MediaStore,
    config: &MediaConfig,
    plan: Plan,
    room: RoomId,
    uploader: UserId,
    request: UploadRequest<'_>,
) -> Result<Slot, SlotError> {
    let now = now_ms();
    let since = now.saturating_sub(DAY.as_millis() as u64);
    let today = store.uploads_since(uploader, since).await?;
    let content_type = config.limits.check(plan, request, today)?;
    let mut attempts = 0;
    let upload = loop {
        let id = random_id();
        let upload = Upload {
            id,
            room,
            uploader,
            key: MediaKey::attachment(room, id).to_string(),
            name: request.name.to_owned(),
            content_type: content_type.clone(),
            size: request.size,
            created_ms: now,
            attached: false,
        };
        match store.create_upload(&upload).await {
            Ok(()) => break upload,
            Err(StoreError::Conflict) if attempts + 1 < ID_ATTEMPTS => attempts += 1,
            Err(e) => return Err(e.into()),
        }
    };
    let key = MediaKey::attachment(room, upload.id);
    let validity = Validity::from_now(config.upload_url);
    let signed = media
        .presign_put(&key, &content_type, request.size, validity)
        .await?;
    Ok(Slot {
        attachment: AttachmentInfo::from(&upload),
        upload: signed,
    })
}

/// A short-lived download request for an attachment of `room` (its thumbnail when `thumbnail`)
/// that `user`, a member of the room, may fetch: one attached to a message, or their own upload.
/// `Ok(None)` when there is no such attachment for them (another room's, or an id no store can
/// hold, included).
pub async fn download(
    store: &dyn Store,
    media: &dyn MediaStore,
    config: &MediaConfig,
    room: RoomId,
    user: UserId,
    attachment: AttachmentId,
    thumbnail: bool,
) -> Result<Option<SignedRequest>, SlotError> {
    if !attachment.can_exist() {
        return Ok(None);
    }
    let Some(upload) = store.upload(attachment).await? else {
        return Ok(None);
    };
    if upload.room != room || !(upload.attached || upload.uploader == user) {
        return Ok(None);
    }
    let key = MediaKey::parse(&upload.key)
        .map_err(|_| MediaError::Backend(format!("stored key {:?} is malformed", upload.key)))?;
    let key = if thumbnail { key.thumbnail() } else { key };
    let validity = Validity::from_now(config.download_url);
    Ok(Some(media.presign_get(&key, validity).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PROTOCOL §3.3: ids are 1 to 2^53 − 1, exact as JavaScript numbers and in JSON.
    #[test]
    fn attachment_ids_fit_a_javascript_number() {
        const MAX_SAFE: u64 = (1 << 53) - 1;
        let mut high = 0;
        for _ in 0..10_000 {
            let id = random_id().0;
            assert!((1..=MAX_SAFE).contains(&id), "{id}");
            high = high.max(id);
        }
        assert!(
            high > MAX_SAFE / 2,
            "ids use the whole range: highest {high}"
        );
    }
}
