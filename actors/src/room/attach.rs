//! Posts that reference attachments. Before such a post gets a position, the room has the
//! node's media ([`Attachments`](crate::attachments::Attachments)) check each attachment, off
//! the actor, as a task in its `JoinSet` (`Work::AttachmentsChecked`); the post then goes on
//! from where it stopped. A post without attachments never comes here.
//!
//! While one connection's post waits on its check, that connection's later posts to the room
//! wait behind it ([`Held`]), so a sender's messages keep the order they were sent in; other
//! connections' posts do not wait.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use switchboard_engine::domain::{Attachment, Change};
use switchboard_engine::{AttachmentId, ConnId, Position, UserId};

use super::commands::Answer;
use super::work::Work;
use super::{Caller, RoomActor};
use crate::error::{Busy, Refused};

/// A post on its way through the room's checks, moved (never copied) from one step to the
/// next.
pub(super) struct Draft {
    pub cmid: String,
    pub text: String,
    /// The attachment ids the sender listed; empty for most posts.
    pub ids: Vec<AttachmentId>,
    /// Their metadata, once the media checked them.
    pub attachments: Option<Vec<Attachment>>,
    /// When this node received the post, for the send-to-deliver latency.
    pub received: Instant,
    /// The store said this cmid is not stored (after the room found it among the cmids it
    /// recently trimmed), so the post is new.
    pub cmid_checked: bool,
    /// The message of the room this post answers.
    pub reply_to: Option<Position>,
    /// The users its text mentions (the room keeps those who are members).
    pub mentions: Vec<UserId>,
    /// Set for an edit, delete or reaction (`ids` then empty).
    pub change: Option<Change>,
    /// Times its target was read from the store for it (`room::targets`).
    pub loads: u8,
}

impl Draft {
    pub(super) fn new(
        cmid: String,
        text: String,
        ids: Vec<AttachmentId>,
        received: Instant,
    ) -> Draft {
        Draft {
            cmid,
            text,
            ids,
            attachments: None,
            received,
            cmid_checked: false,
            reply_to: None,
            mentions: Vec::new(),
            change: None,
            loads: 0,
        }
    }

    /// The earlier message it changes or answers, if any.
    pub(super) fn target(&self) -> Option<Position> {
        match &self.change {
            Some(change) => Some(change.target()),
            None => self.reply_to,
        }
    }

    /// Whether the media must check its attachments before it gets a position.
    pub(super) fn needs_check(&self) -> bool {
        !self.ids.is_empty() && self.attachments.is_none()
    }

    /// Bytes the write-behind keeps for it.
    pub(super) fn bytes(&self) -> usize {
        let attachments: usize = self.attachments.as_deref().map_or(0, |a| {
            a.iter()
                .map(|a| a.name.len() + a.content_type.len() + 32)
                .sum()
        });
        self.text.len() + self.cmid.len() + attachments
    }
}

/// Posts waiting for an earlier post of their connection, whose attachments are being
/// checked. A connection has an entry exactly while such a check is in flight. Bounded: at
/// most `room_mailbox` posts wait in one room; beyond, `busy`.
#[derive(Default)]
pub(super) struct Held {
    by_conn: HashMap<ConnId, VecDeque<(Caller, Draft)>>,
    count: usize,
}

impl Held {
    /// Whether `conn`'s posts must wait (cheap when nothing is held at all).
    fn is_waiting(&self, conn: ConnId) -> bool {
        !self.by_conn.is_empty() && self.by_conn.contains_key(&conn)
    }

    /// Answers every waiting post: the room is stopping.
    pub(super) fn abandon(&mut self) {
        for (_, queue) in self.by_conn.drain() {
            for (caller, _) in queue {
                caller.refuse(Refused::Busy(Busy::RoomMoving));
            }
        }
        self.count = 0;
    }
}

impl RoomActor {
    /// Posts `draft` now, or after the post of its connection whose check is in flight.
    pub(super) fn post_in_order(
        &mut self,
        caller: &Caller,
        draft: Draft,
    ) -> Result<Answer, Refused> {
        if !self.held.is_waiting(caller.conn) {
            return self.post(caller, draft);
        }
        if self.held.count >= self.rooms.config.room_mailbox {
            return Err(Refused::Busy(Busy::Overloaded));
        }
        let queue = self.held.by_conn.entry(caller.conn).or_default();
        queue.push_back((caller.clone(), draft));
        self.held.count += 1;
        Ok(Answer::Later)
    }

    /// Has the node's media check `draft`'s attachments off the actor; the post goes on when
    /// the result comes back ([`Self::attachments_checked`]). Bounded by `store_timeout`.
    pub(super) fn check_attachments(
        &mut self,
        caller: &Caller,
        draft: Draft,
    ) -> Result<Answer, Refused> {
        let Some(media) = self.rooms.attachments().cloned() else {
            return Err(Refused::Invalid("this node takes no attachments"));
        };
        let (room, sender) = (self.info.id, caller.user);
        let deadline = self.rooms.config.store_timeout;
        let answer = self.start_check(caller, async move {
            let checked = tokio::time::timeout(deadline, media.attach(room, sender, &draft.ids))
                .await
                .map_err(|_| Refused::Busy(Busy::NoAnswer))
                .and_then(|checked| checked.map_err(Refused::from));
            Work::AttachmentsChecked { draft, checked }
        })?;
        self.hold(caller.conn);
        Ok(answer)
    }

    /// The media's answer on a post's attachments: the post goes on (or is refused), then
    /// the posts its connection sent after it.
    pub(super) fn attachments_checked(
        &mut self,
        caller: Caller,
        mut draft: Draft,
        checked: Result<Vec<Attachment>, Refused>,
    ) {
        self.resume_checked(caller, |room, caller| {
            checked.and_then(|attachments| {
                draft.attachments = Some(attachments);
                room.post(caller, draft)
            })
        });
    }

    /// A connection's check is over: its post goes on through `go_on`, then the posts that
    /// waited behind it, unless the post started a check of its own (they wait for that).
    pub(super) fn resume_checked(
        &mut self,
        caller: Caller,
        go_on: impl FnOnce(&mut Self, &Caller) -> Result<Answer, Refused>,
    ) {
        let mut waiting = self.held.by_conn.remove(&caller.conn).unwrap_or_default();
        let result = go_on(self, &caller);
        self.answer(&caller, result);
        match self.held.by_conn.get_mut(&caller.conn) {
            Some(again) => again.append(&mut waiting),
            None => {
                self.held.by_conn.insert(caller.conn, waiting);
                self.release(caller.conn);
            }
        }
    }

    /// Holds `conn`'s later posts while its check runs.
    pub(super) fn hold(&mut self, conn: ConnId) {
        self.held.by_conn.entry(conn).or_default();
    }

    /// `conn`'s check is over (done, or its task lost): its waiting posts go on, in order,
    /// until one of them starts a check of its own.
    pub(super) fn release(&mut self, conn: ConnId) {
        let Some(mut queue) = self.held.by_conn.remove(&conn) else {
            return;
        };
        while let Some((caller, draft)) = queue.pop_front() {
            self.held.count -= 1;
            let result = self.post(&caller, draft);
            self.answer(&caller, result);
            if let Some(again) = self.held.by_conn.get_mut(&conn) {
                // That post is being checked now: the rest wait for it.
                again.append(&mut queue);
                return;
            }
        }
    }
}
