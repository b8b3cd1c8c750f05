//! The node's media as the actors see it: `NodeAttachments` implements
//! `actors::attachments::Attachments` over the node's `Media` (media store, limits,
//! thumbnailer) and its store, and is handed to the hub at start-up. Upload slots asked for
//! over WebSocket and over HTTP go through [`open_slot`], so both follow one set of rules,
//! are counted alike and answer alike.

use std::sync::Arc;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use switchboard_actors::attachments::{AttachmentRefused, Attachments};
use switchboard_actors::refusal::{self, Refusal};
use switchboard_engine::domain::Attachment;
use switchboard_engine::metrics as names;
use switchboard_engine::protocol::{self as p, SignedUpload, SlotAttachment};
use switchboard_engine::{AttachmentId, ErrorCode, RoomId, UserId};
use switchboard_media::attach::{self, AttachError};
use switchboard_media::slot::{self, Slot, SlotError};
use switchboard_media::{LimitError, Plan, UploadRequest};
use switchboard_persistence::Store;

use crate::media::Media;

/// Opens an upload slot for `user`, a member of `room` (the caller checked), and counts it in
/// `switchboard_media_slots_total` by outcome. The size limit is the user's plan's: the one
/// their token vouches for (`vouched`: a Cognito token in the premium group), else the store's,
/// read here (one store read per slot, never cached: `switchboard set-plan` takes effect with
/// the next slot on every node).
pub async fn open_slot(
    media: &Media,
    store: &dyn Store,
    room: RoomId,
    user: UserId,
    vouched: Option<Plan>,
    request: UploadRequest<'_>,
    host: Option<&str>,
) -> Result<Slot, SlotError> {
    let opened = async {
        let plan = match vouched {
            Some(plan) => plan,
            None => store.plan(user).await?,
        };
        slot::open(
            store,
            &*media.store,
            &media.config,
            plan,
            room,
            user,
            request,
        )
        .await
    }
    .await;
    let outcome = opened
        .as_ref()
        .map_or_else(SlotError::outcome, |_| "opened");
    metrics::counter!(names::MEDIA_SLOTS, "outcome" => outcome).increment(1);
    opened.map(|mut slot| {
        slot.upload.url = media.for_client(slot.upload.url, host);
        slot
    })
}

/// A refused slot's code and message, logged: a limit keeps its message (which limit, and its
/// value); a failure of the store or the media store says only its code.
pub fn slot_refusal(e: SlotError) -> AttachmentRefused {
    let code = e.code();
    match &e {
        SlotError::Limit(LimitError::QuotaExceeded(_)) => {
            refusal::note(Refusal::RateLimited, format_args!("upload slot: {e}"));
        }
        SlotError::Limit(_) => {}
        e => tracing::warn!(error = %e, "upload slot failed"),
    }
    let message = match e {
        SlotError::Limit(limit) => limit.to_string(),
        _ => code.describe().to_owned(),
    };
    AttachmentRefused::new(code, message)
}

/// A message's attachments refused: the client's mistakes say which attachment and why; a
/// failure of the store or the media store is logged and says only its code.
fn attach_refusal(e: AttachError) -> AttachmentRefused {
    let code = e.code();
    if e.is_refusal() {
        return AttachmentRefused::new(code, e.to_string());
    }
    if code == ErrorCode::Internal {
        tracing::warn!(error = %e, "checking a message's attachments failed");
    }
    AttachmentRefused::new(code, code.describe())
}

/// A slot as the WebSocket reply carries it: the same fields as the HTTP route's JSON.
fn wire(slot: Slot) -> (SlotAttachment, SignedUpload) {
    let a = slot.attachment;
    let attachment = SlotAttachment {
        id: a.id,
        room: a.room,
        name: a.name,
        content_type: a.content_type,
        size: a.size,
    };
    let u = slot.upload;
    let upload = SignedUpload {
        method: u.method.to_owned(),
        url: u.url,
        headers: u.headers,
        expires: u.expires,
    };
    (attachment, upload)
}

/// The node's media for the actors.
pub struct NodeAttachments {
    media: Media,
    store: Arc<dyn Store>,
}

impl NodeAttachments {
    pub fn new(media: Media, store: Arc<dyn Store>) -> Self {
        NodeAttachments { media, store }
    }
}

impl Attachments for NodeAttachments {
    fn open_slot<'a>(
        &'a self,
        room: RoomId,
        user: UserId,
        vouched: Option<Plan>,
        request: &'a p::AttachmentSlot,
    ) -> BoxFuture<'a, Result<(SlotAttachment, SignedUpload), AttachmentRefused>> {
        async move {
            let request = UploadRequest {
                name: &request.name,
                content_type: &request.content_type,
                size: request.size,
            };
            // No `Host` here: the URL is a path on the node the socket is connected to.
            open_slot(
                &self.media,
                &*self.store,
                room,
                user,
                vouched,
                request,
                None,
            )
            .await
            .map(wire)
            .map_err(slot_refusal)
        }
        .boxed()
    }

    fn attach<'a>(
        &'a self,
        room: RoomId,
        sender: UserId,
        ids: &'a [AttachmentId],
    ) -> BoxFuture<'a, Result<Vec<Attachment>, AttachmentRefused>> {
        async move {
            attach::attach(
                &*self.store,
                &*self.media.store,
                &self.media.thumbnailer,
                room,
                sender,
                ids,
            )
            .await
            .map_err(attach_refusal)
        }
        .boxed()
    }
}
