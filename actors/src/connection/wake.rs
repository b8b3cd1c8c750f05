//! Waking the connection's task: what may have fired since the last turn, polled most frequent
//! first, and the socket's own waker, so a turn woken by the queue does not poll the socket.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{self, Poll, Wake};

use futures::StreamExt;
use futures::task::AtomicWaker;

use super::{ConnectionActor, End, pending, stop_end};
use crate::outbound::Outgoing;
use crate::transport::Inbound;
use switchboard_engine::close;

/// The socket's read waker: notes that the socket woke this task before waking it, so a turn
/// woken by the outbound queue (nearly every turn in a fan-out) does not poll the socket, whose
/// waker still stands from the last read.
pub(super) struct ReadWake {
    pub(super) woken: AtomicBool,
    pub(super) task: AtomicWaker,
}

impl Wake for ReadWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// What woke the connection's loop.
pub(super) enum Wakeup {
    Queued(Outgoing),
    Inbound(Option<Inbound>),
    Done(pending::Done),
    End(End),
}

impl ConnectionActor {
    /// What the loop does next, most frequent first: a queued frame, the socket, a command
    /// that finished, then the rare ends (slow consumer, shutdown, authentication deadline).
    /// Nothing starves: a write takes at most a batch, and an overflowing queue is seen inside
    /// the write. Sources whose waker still stands are not polled again: the outbound queue's
    /// poll stores the one waker both a push and an overflow use; the socket is read only after
    /// it woke the task (`read`); the shutdown future only once its signal changed.
    pub(super) fn poll_wake(&mut self, cx: &mut task::Context<'_>) -> Poll<Wakeup> {
        if let Poll::Ready(Some(item)) = self.rx.poll_recv(cx) {
            return Poll::Ready(Wakeup::Queued(item));
        }
        // The wakers stored with the socket and the shutdown signal stand while this task's
        // waker is the one they were stored with (always, on tokio; checked all the same).
        let armed = self
            .shutdown_waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()));
        // Cleared before the read, so a wake during it is seen on the next turn.
        if !armed || self.read.woken.swap(false, Ordering::Acquire) {
            self.read_parked = false;
        }
        // With its most commands pending, the connection stops reading its socket until one
        // finishes: a pipelining client is slowed by TCP, not refused (`busy`).
        if !self.read_parked && !self.pending.is_full() {
            self.read.task.register(cx.waker());
            let mut read_cx = task::Context::from_waker(&self.read_waker);
            match self.transport.poll_next_unpin(&mut read_cx) {
                Poll::Ready(inbound) => return Poll::Ready(Wakeup::Inbound(inbound)),
                Poll::Pending => self.read_parked = true,
            }
        }
        if let Poll::Ready(done) = self.pending.poll_next(cx) {
            return Poll::Ready(Wakeup::Done(done));
        }
        // `poll_recv` stored the waker an overflow (or a revocation) wakes.
        if let Some(stop) = self.rx.stopped() {
            return Poll::Ready(Wakeup::End(stop_end(stop)));
        }
        if !armed || !matches!(self.shutdown_seen.has_changed(), Ok(false)) {
            if self.shutdown.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Wakeup::End(End::Close {
                    code: close::SERVICE_RESTART,
                    reason: "server restarting",
                    reconnect: true,
                }));
            }
            self.shutdown_waker = Some(cx.waker().clone());
        }
        if let Some(timer) = &mut self.auth_timer
            && timer.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Wakeup::End(End::Close {
                code: close::AUTH_TIMEOUT,
                reason: "authentication timeout",
                reconnect: false,
            }));
        }
        Poll::Pending
    }
}
