//! `Attachments`: what the actors need of the node's media, as a trait the binary implements
//! over its media store, its store, the media limits and the thumbnailer. `actors` cannot
//! depend on `media` (ARCHITECTURE §1: it brings the AWS SDK and the image decoders), so the
//! upper crate hands an implementation to the hub at start-up (`Hub::set_attachments`), as the
//! cluster link is handed to the rooms (`Peers`).
//!
//! Two uses: a connection's `attachment_slot` command (the same as
//! `POST /api/rooms/{id}/attachments`), run as a task off the connection's loop; and a room's
//! check of the attachments a message references, run as a task in the room's `JoinSet`
//! (`room::work`), never inside a handler.

use futures::future::BoxFuture;
use switchboard_engine::domain::{Attachment, Plan};
use switchboard_engine::protocol::{self as p, SignedUpload, SlotAttachment};
use switchboard_engine::{AttachmentId, ErrorCode, RoomId, UserId};

/// Why attachments were refused: a code of PROTOCOL §9 and a message saying which limit or
/// which attachment, for the person at the keyboard (never internal detail).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AttachmentRefused {
    pub code: ErrorCode,
    pub message: String,
}

impl AttachmentRefused {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AttachmentRefused {
            code,
            message: message.into(),
        }
    }
}

/// The node's media as the actors see it. Object safe; every method is safe to call
/// concurrently and none blocks the runtime.
pub trait Attachments: Send + Sync + 'static {
    /// Opens an upload slot for `user`, a member of `room` (the caller checked): every limit
    /// checked, the upload recorded, then its URL signed, exactly as the HTTP route does.
    /// `vouched` is the plan the user's token vouches for (`Identity::plan`); without it the
    /// store's plan for the user holds.
    fn open_slot<'a>(
        &'a self,
        room: RoomId,
        user: UserId,
        vouched: Option<Plan>,
        request: &'a p::AttachmentSlot,
    ) -> BoxFuture<'a, Result<(SlotAttachment, SignedUpload), AttachmentRefused>>;

    /// Checks the attachments of a message `sender` posts to `room`, in order: each is an
    /// upload of `room` by `sender` whose file is in the media store with its declared size
    /// and content type. Only when every one passes, marks them attached (so the sweep keeps
    /// them) and makes the thumbnail of each image. Returns their metadata, in `ids`' order.
    fn attach<'a>(
        &'a self,
        room: RoomId,
        sender: UserId,
        ids: &'a [AttachmentId],
    ) -> BoxFuture<'a, Result<Vec<Attachment>, AttachmentRefused>>;
}
