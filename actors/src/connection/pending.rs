//! Commands of one connection that wait on the store or on other actors, run off its select
//! loop so that the connection keeps writing its events and reading frames meanwhile.
//!
//! Each runs as a task in a `JoinSet` the connection owns (aborted when it ends); its result
//! comes back into the connection's loop, which alone changes the connection's state. Commands
//! with the same [`Key`] run one at a time in arrival order, so a sender's sends to a room keep
//! their order and a `join` completes before the `send` behind it starts. At most `cap`
//! commands are running or queued per connection; beyond that a command is answered 4001
//! `busy` at once (the when-full policy).

use std::collections::VecDeque;
use std::future::Future;
use std::task::{Context, Poll};

use switchboard_engine::protocol::ClientFrame;
use switchboard_engine::{RoomId, UserId};
use tokio::task::{Id, JoinSet};

use super::tasks::Effect;
use crate::error::{Busy, Refused};

/// What orders commands: those with the same key run one at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Key {
    Room(RoomId),
    /// Presence subscriptions: each checks the connection's watch bound against the ones
    /// before it.
    Presence,
}

/// A command that finished (or whose task panicked: `busy`, retry).
pub(super) struct Done {
    pub key: Option<Key>,
    pub rid: u64,
    pub outcome: Result<Effect, Refused>,
}

pub(super) struct Pending {
    tasks: JoinSet<Result<Effect, Refused>>,
    /// Each running task's key and `rid`.
    running: Vec<(Id, Option<Key>, u64)>,
    /// Commands waiting for a command with their key to finish, in arrival order.
    queued: VecDeque<(Key, UserId, ClientFrame)>,
    cap: usize,
}

impl Pending {
    pub fn new(cap: usize) -> Self {
        Pending {
            tasks: JoinSet::new(),
            running: Vec::new(),
            queued: VecDeque::new(),
            cap,
        }
    }

    pub fn is_full(&self) -> bool {
        self.running.len() + self.queued.len() >= self.cap
    }

    /// Whether a command with `key` is running (or waiting: one waits only while another with
    /// its key runs): a new one must queue behind it.
    pub fn is_busy(&self, key: Key) -> bool {
        self.running.iter().any(|(_, k, _)| *k == Some(key))
    }

    pub fn queue(&mut self, key: Key, me: UserId, frame: ClientFrame) {
        self.queued.push_back((key, me, frame));
    }

    pub fn spawn<F>(&mut self, key: Option<Key>, rid: u64, task: F)
    where
        F: Future<Output = Result<Effect, Refused>> + Send + 'static,
    {
        let id = self.tasks.spawn(task).id();
        self.running.push((id, key, rid));
    }

    /// The next command to finish; `Pending` while none runs (a command is only started by the
    /// caller's own task, which polls again after it).
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Done> {
        if self.running.is_empty() {
            return Poll::Pending;
        }
        match self.tasks.poll_join_next_with_id(cx) {
            Poll::Ready(Some(joined)) => Poll::Ready(self.finished(joined)),
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }

    /// A command that has finished already, if any (never waits).
    pub fn try_next(&mut self) -> Option<Done> {
        if self.running.is_empty() {
            return None;
        }
        self.tasks.try_join_next_with_id().map(|j| self.finished(j))
    }

    fn finished(
        &mut self,
        joined: Result<(Id, Result<Effect, Refused>), tokio::task::JoinError>,
    ) -> Done {
        let (id, outcome) = match joined {
            Ok((id, outcome)) => (id, outcome),
            Err(e) => {
                tracing::error!(error = %e, "command task failed");
                (e.id(), Err(Refused::Busy(Busy::NoAnswer)))
            }
        };
        let at = self.running.iter().position(|(i, _, _)| *i == id);
        let (_, key, rid) = self
            .running
            .swap_remove(at.expect("every task is listed while it runs"));
        Done { key, rid, outcome }
    }

    /// The first command waiting for `key`, now that the one before it has finished.
    pub fn next_queued(&mut self, key: Key) -> Option<(UserId, ClientFrame)> {
        let at = self.queued.iter().position(|(k, _, _)| *k == key)?;
        self.queued.remove(at).map(|(_, me, frame)| (me, frame))
    }
}
