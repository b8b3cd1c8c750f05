//! Attaching uploads to a message: before a message that references attachments is accepted,
//! each must be an upload of the message's room by its sender whose file is in the media
//! store, with the size and content type its slot declared. Only when every one passes are
//! they marked attached (so the sweep keeps them) and thumbnails made of the images. Called by
//! the room that owns the message, off its actor, through the node's `Attachments`.

use switchboard_engine::domain::Attachment;
use switchboard_engine::{AttachmentId, ErrorCode, RoomId, UserId};
use switchboard_persistence::{Store, StoreError, Upload};

use crate::key::MediaKey;
use crate::store::{MediaError, MediaStore};
use crate::thumbnail::{Thumbnailer, image_format};

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// No upload of this room has that id (none at all, another room's, or one swept).
    #[error("attachment {0} is not an upload of this room")]
    NotFound(AttachmentId),
    /// An upload of this room by another member: a message references only its sender's own.
    #[error("attachment {0} was uploaded by another member")]
    NotYours(AttachmentId),
    /// The slot exists but its file is not in the media store (yet).
    #[error("attachment {0} is not uploaded yet: upload it first, then send again")]
    NotUploaded(AttachmentId),
    /// The stored file is not what the slot declared.
    #[error(
        "attachment {id}: the stored file is {size} bytes of {content_type:?}, \
         not the {declared_size} bytes of {declared_type:?} its slot declared"
    )]
    Mismatch {
        id: AttachmentId,
        size: u64,
        content_type: String,
        declared_size: u64,
        declared_type: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Media(#[from] MediaError),
}

impl AttachError {
    /// The code the sender is answered with.
    pub fn code(&self) -> ErrorCode {
        match self {
            AttachError::NotFound(_) => ErrorCode::NotFound,
            AttachError::NotYours(_) => ErrorCode::Forbidden,
            AttachError::NotUploaded(_) => ErrorCode::NotUploaded,
            AttachError::Mismatch { .. } => ErrorCode::UploadMismatch,
            AttachError::Store(StoreError::Busy) => ErrorCode::Busy,
            AttachError::Store(_) | AttachError::Media(_) => ErrorCode::Internal,
        }
    }

    /// Whether the client caused it (else the store or the media store failed).
    pub fn is_refusal(&self) -> bool {
        !matches!(self, AttachError::Store(_) | AttachError::Media(_))
    }
}

/// Checks `ids` for a message `sender` posts to `room`, then marks them attached and makes the
/// thumbnail of each image (a thumbnail that cannot be made is logged, and the attachment has
/// none). Their metadata, in `ids`' order.
pub async fn attach(
    store: &dyn Store,
    media: &dyn MediaStore,
    thumbnailer: &Thumbnailer,
    room: RoomId,
    sender: UserId,
    ids: &[AttachmentId],
) -> Result<Vec<Attachment>, AttachError> {
    let mut checked = Vec::with_capacity(ids.len());
    for &id in ids {
        checked.push(check(store, media, room, sender, id).await?);
    }
    for (upload, _) in &checked {
        match store.attach_upload(upload.id, room).await {
            Ok(()) => {}
            // Swept between the check and now.
            Err(StoreError::NotFound) => return Err(AttachError::NotFound(upload.id)),
            Err(e) => return Err(e.into()),
        }
    }
    let mut attachments = Vec::with_capacity(checked.len());
    for (upload, key) in checked {
        let thumbnail = image_format(&upload.content_type).is_some()
            && match thumbnailer.store(media, &key).await {
                Ok(_) => true,
                Err(e) => {
                    tracing::info!(attachment = %upload.id, error = %e, "no thumbnail");
                    false
                }
            };
        attachments.push(Attachment {
            id: upload.id,
            name: upload.name,
            content_type: upload.content_type,
            size: upload.size,
            thumbnail,
        });
    }
    Ok(attachments)
}

/// One attachment: an upload of `room` by `sender`, its file stored as declared.
async fn check(
    store: &dyn Store,
    media: &dyn MediaStore,
    room: RoomId,
    sender: UserId,
    id: AttachmentId,
) -> Result<(Upload, MediaKey), AttachError> {
    let upload = match id.can_exist() {
        true => store.upload(id).await?,
        false => None,
    };
    let upload = upload
        .filter(|u| u.room == room)
        .ok_or(AttachError::NotFound(id))?;
    if upload.uploader != sender {
        return Err(AttachError::NotYours(id));
    }
    let key = MediaKey::parse(&upload.key)
        .map_err(|_| MediaError::Backend(format!("stored key {:?} is malformed", upload.key)))?;
    let stored = match media.head(&key).await {
        Ok(stored) => stored,
        Err(MediaError::NotFound) => return Err(AttachError::NotUploaded(id)),
        Err(e) => return Err(e.into()),
    };
    if stored.size != upload.size
        || !stored
            .content_type
            .eq_ignore_ascii_case(&upload.content_type)
    {
        return Err(AttachError::Mismatch {
            id,
            size: stored.size,
            content_type: stored.content_type,
            declared_size: upload.size,
            declared_type: upload.content_type,
        });
    }
    Ok((upload, key))
}
