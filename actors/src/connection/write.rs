//! Writing to the socket: the queue's items taken in batches of at most [`WRITE_BATCH`] with
//! one flush, each room position written once and in order, and the close.

use std::sync::Arc;
use std::task::{self, Poll};

use futures::SinkExt;
use switchboard_engine::protocol::{self as p, ServerFrame};
use switchboard_engine::{Codec, Position, RoomId, close};

use super::{ConnectionActor, End, stop_end};
use crate::metrics as names;
use crate::outbound::{self, Notice, OutboundReceiver, Outgoing};
use crate::refusal::{self, Refusal};
use crate::transport::OutFrame;

/// Frames written per flush at most, so one busy connection yields to its mailbox.
const WRITE_BATCH: usize = 256;

/// A batch of writes in progress.
#[derive(Default)]
pub(super) struct Batch {
    /// The next frame for the socket, with the room position it carries.
    unsent: Option<(bytes::Bytes, Option<(RoomId, Position)>)>,
    /// Items taken from the queue for this batch.
    taken: usize,
    /// A notice met in the queue: the batch stops there, and it is applied after the flush.
    notice: Option<Arc<Notice>>,
    /// Done feeding: only the flush is left, and nothing more is taken from the queue.
    flushing: bool,
}

impl ConnectionActor {
    /// The bytes of `item` and the room position it carries; `None` for a position this
    /// connection already wrote (a connection never sends a room position twice or out of
    /// order), and for a room's frame from a node it is not subscribed at. (Notices never come
    /// here: `write_batch` stops at one.)
    fn bytes_of(
        rx: &OutboundReceiver,
        codec: Codec,
        item: Outgoing,
    ) -> Option<(bytes::Bytes, Option<(RoomId, Position)>)> {
        match item {
            Outgoing::Event(e) => rx.takes(&e).then(|| (e.bytes(codec), e.room_pos)),
            Outgoing::Frame(b) => Some((b, None)),
            Outgoing::Notice(_) | Outgoing::Flush => None,
        }
    }

    /// Writes `first` and whatever else is queued (up to a batch), then flushes once. Gives up
    /// if the queue overflows meanwhile: the client is not reading. The write's state is kept
    /// in `self.batch`, so the loop's future holds none of it while the connection idles.
    pub(super) async fn write_batch(&mut self, first: Outgoing) -> Result<(), End> {
        self.batch = Batch::default();
        self.take_into_batch(first);
        let written = std::future::poll_fn(|cx| self.poll_write(cx)).await;
        self.rx.written_out();
        // Applied once what was queued before it is written; what came after it waits in the
        // queue for the next turn.
        if let Some(notice) = self.batch.notice.take() {
            self.on_notice(&notice);
        }
        written
    }

    /// Makes `item` the batch's next frame, or notes it as the notice the batch stops at.
    fn take_into_batch(&mut self, item: Outgoing) {
        self.batch.taken += 1;
        match item {
            Outgoing::Notice(n) => self.batch.notice = Some(n),
            item => {
                self.batch.unsent = Self::bytes_of(&self.rx, self.codec, item);
            }
        }
    }

    /// The body of [`Self::write_batch`]: feeds frames while the socket takes them, stopping
    /// at a notice or a full batch, then flushes. While the socket is not ready it watches the
    /// queue's slow signal; a write that completes at once (the usual case) never looks at it.
    fn poll_write(&mut self, cx: &mut task::Context<'_>) -> Poll<Result<(), End>> {
        let text = self.codec.is_text();
        while !self.batch.flushing {
            if let Some((bytes, room_pos)) = self.batch.unsent.take() {
                match self.transport.poll_ready_unpin(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(_)) => return Poll::Ready(Err(End::Gone)),
                    Poll::Pending => {
                        self.batch.unsent = Some((bytes, room_pos));
                        return self.poll_stopped(cx);
                    }
                }
                if self
                    .transport
                    .start_send_unpin(OutFrame::Data { bytes, text })
                    .is_err()
                {
                    return Poll::Ready(Err(End::Gone));
                }
                if let Some((room, pos)) = room_pos {
                    self.rx.note_written(room, pos);
                }
            }
            let next = if self.batch.notice.is_some() || self.batch.taken >= WRITE_BATCH {
                None
            } else {
                self.rx.try_recv()
            };
            match next {
                Some(next) => self.take_into_batch(next),
                None => self.batch.flushing = true,
            }
        }
        match self.transport.poll_flush_unpin(cx) {
            Poll::Ready(res) => Poll::Ready(res.map_err(|_| End::Gone)),
            Poll::Pending => self.poll_stopped(cx),
        }
    }

    /// While a write waits on the socket: the end, if the queue overflowed meanwhile.
    fn poll_stopped(&self, cx: &mut task::Context<'_>) -> Poll<Result<(), End>> {
        self.rx.poll_stop(cx).map(|stop| Err(stop_end(stop)))
    }

    /// Ends the connection: the final `disconnect` frame when the server chose to close, the
    /// close frame, and then the close handshake, all within the close timeout.
    pub(super) async fn end(&mut self, end: End) {
        self.rx.close();
        if matches!(end, End::Gone | End::PeerClosed)
            && self.opened.elapsed() < refusal::CHURN_WINDOW
            && let Some(identity) = &self.identity
        {
            refusal::note(
                Refusal::Churn,
                format_args!(
                    "conn {} (user {}) left {:?} after it opened",
                    self.id,
                    identity.user.0,
                    self.opened.elapsed()
                ),
            );
        }
        let close_timeout = self.hub.config.close_timeout;
        let (code, reason, reconnect) = match end {
            End::Gone => {
                metrics::counter!(names::DISCONNECTS, "reason" => "gone").increment(1);
                return;
            }
            End::PeerClosed => {
                metrics::counter!(names::DISCONNECTS, "reason" => "peer closed").increment(1);
                let _ = tokio::time::timeout(close_timeout, self.transport.close()).await;
                return;
            }
            End::Violation { code, reason } => {
                metrics::counter!(names::DISCONNECTS, "reason" => reason).increment(1);
                refusal::note(
                    Refusal::ProtocolError,
                    format_args!("closed conn {}: {code} {reason}", self.id),
                );
                let transport = &mut self.transport;
                let _ = tokio::time::timeout(close_timeout, async {
                    let reason = reason.to_owned();
                    let _ = transport.send(OutFrame::Close { code, reason }).await;
                    let _ = transport.close().await;
                })
                .await;
                return;
            }
            End::Close {
                code,
                reason,
                reconnect,
            } => (code, reason, reconnect),
        };
        metrics::counter!(names::DISCONNECTS, "reason" => reason).increment(1);
        let refused = match code {
            close::SLOW_CONSUMER => Some(Refusal::SlowConsumer),
            close::MESSAGE_TOO_BIG => Some(Refusal::Oversized),
            close::AUTH_TIMEOUT => Some(Refusal::AuthTimeout),
            close::UNSUPPORTED_DATA | close::TOO_MANY_ERRORS => Some(Refusal::ProtocolError),
            _ => None,
        };
        if let Some(class) = refused {
            let user = self.identity.as_ref().map(|i| i.user.0);
            refusal::note(
                class,
                format_args!("closed conn {} (user {user:?}): {code} {reason}", self.id),
            );
        }
        let resume = self
            .rx
            .written()
            .into_iter()
            .filter(|(room, _)| self.joined.contains(room))
            .map(|(room, pos)| p::RoomPosition { room, pos })
            .collect();
        let frame = outbound::encode(
            self.codec,
            &ServerFrame::Disconnect(p::Disconnect {
                code,
                reason: reason.to_owned(),
                reconnect,
                resume,
            }),
        );
        let text = self.codec.is_text();
        let transport = &mut self.transport;
        let _ = tokio::time::timeout(close_timeout, async {
            // After a read error the data frame may be refused; the close frame still goes.
            let _ = transport.send(OutFrame::Data { bytes: frame, text }).await;
            let _ = transport
                .send(OutFrame::Close {
                    code,
                    reason: reason.to_owned(),
                })
                .await;
            // Waits for the peer's close frame: closing a socket with unread input resets it,
            // and the peer could lose our close frame.
            let _ = transport.close().await;
        })
        .await;
    }
}
