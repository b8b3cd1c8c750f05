//! Work a room starts off its actor, and what comes back into its loop.
//!
//! A room never waits on the store inside a handler: a membership write, a trimmed cmid's
//! check or a resume's read runs as a task in a `JoinSet` the room owns, and its result
//! ([`Work`]) comes back into the room's loop, where the room applies it and answers the
//! command. The write-behind's acknowledgements come back the same way ([`Ack`]), so the
//! room's state changes only inside the room. Each task holds its caller: if the room stops
//! first, every such caller is answered `busy` (retry).

use std::collections::HashMap;
use std::sync::Arc;

use switchboard_engine::domain::{Attachment, ChatMessage};
use switchboard_engine::protocol::{self as p, ServerFrame};
use switchboard_engine::{Position, UserId};
use switchboard_persistence::{StoreError, Target};
use tokio::task::{Id, JoinSet};

use super::attach::Draft;
use super::commands::{Answer, Replay};
use super::{Caller, RoomActor};
use crate::error::{Busy, Refused};
use crate::outbound::Event;

/// The result of work a room started off its actor.
pub(super) enum Work {
    /// A joining user's membership is stored (public room).
    Admitted {
        resume: Option<Position>,
        stored: Result<(), StoreError>,
    },
    /// A user's membership is removed (they left, or were removed).
    Removed {
        user: UserId,
        stored: Result<(), StoreError>,
    },
    /// An invited user is stored as a member.
    Invited {
        user: UserId,
        stored: Result<(), Refused>,
    },
    /// The store's answer on a cmid the room had trimmed from its buffer.
    CmidChecked {
        draft: Draft,
        found: Result<Option<Position>, StoreError>,
    },
    /// The node's media's answer on a post's attachments (`room::attach`).
    AttachmentsChecked {
        draft: Draft,
        checked: Result<Vec<Attachment>, Refused>,
    },
    /// The store's answer on the message a change or a reply targets (`room::targets`),
    /// read while the targets' eviction count was `generation`.
    TargetLoaded {
        draft: Draft,
        pos: Position,
        found: Result<Option<Target>, Refused>,
        generation: u64,
    },
    /// Messages after `from` read for a resume, while the buffer started at `first_buffered`.
    Replayed {
        from: Position,
        first_buffered: Position,
        tries: u8,
        older: Result<Vec<ChatMessage>, StoreError>,
    },
}

/// What the write-behind reports back to the room.
pub(super) enum Ack {
    /// Everything up to this seq of the room's epoch is stored.
    Durable(u64),
    /// The store refused a message: a newer owner has the room.
    Fenced,
}

/// Work whose task was lost (it panicked): its caller is answered `busy`.
pub(super) struct Lost {
    /// It was an attachment check, which holds its connection's later posts.
    pub holds_posts: bool,
}

/// The room's work in flight, with the caller each one answers (and whether it is an
/// attachment check).
#[derive(Default)]
pub(super) struct WorkSet {
    tasks: JoinSet<Work>,
    callers: HashMap<Id, (Caller, bool)>,
}

impl WorkSet {
    /// The next finished work, with its caller.
    pub(super) async fn next(&mut self) -> Option<(Caller, Result<Work, Lost>)> {
        let (id, work) = match self.tasks.join_next_with_id().await? {
            Ok((id, work)) => (id, Ok(work)),
            Err(e) => {
                tracing::error!(error = %e, "room work failed");
                (e.id(), Err(()))
            }
        };
        let (caller, holds_posts) = self.callers.remove(&id)?;
        Some((caller, work.map_err(|()| Lost { holds_posts })))
    }

    pub(super) fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Answers every caller still waiting: the room is stopping.
    pub(super) fn abandon(&mut self) {
        self.tasks.abort_all();
        for (_, (caller, _)) in self.callers.drain() {
            caller.refuse(Refused::Busy(Busy::RoomMoving));
        }
    }
}

impl RoomActor {
    /// Runs `work` off the actor for `caller`; its result comes back to [`Self::work_done`].
    /// At most `room_mailbox` at once: beyond, `busy`.
    pub(super) fn start_work(
        &mut self,
        caller: &Caller,
        work: impl Future<Output = Work> + Send + 'static,
    ) -> Result<Answer, Refused> {
        self.spawn_work(caller, false, work)
    }

    /// [`Self::start_work`] for an attachment check, which holds its connection's later
    /// posts until it is done (`room::attach`).
    pub(super) fn start_check(
        &mut self,
        caller: &Caller,
        work: impl Future<Output = Work> + Send + 'static,
    ) -> Result<Answer, Refused> {
        self.spawn_work(caller, true, work)
    }

    fn spawn_work(
        &mut self,
        caller: &Caller,
        holds_posts: bool,
        work: impl Future<Output = Work> + Send + 'static,
    ) -> Result<Answer, Refused> {
        if self.work.callers.len() >= self.rooms.config.room_mailbox {
            return Err(Refused::Busy(Busy::Overloaded));
        }
        let id = self.work.tasks.spawn(work).id();
        self.work.callers.insert(id, (caller.clone(), holds_posts));
        Ok(Answer::Later)
    }

    /// Applies finished work and answers its caller.
    pub(super) fn work_done(&mut self, caller: Caller, work: Result<Work, Lost>) {
        let work = match work {
            Ok(work) => work,
            Err(lost) => {
                caller.refuse(Refused::Busy(Busy::RoomMoving));
                if lost.holds_posts {
                    self.release(caller.conn);
                }
                return;
            }
        };
        let result = match work {
            Work::Admitted { resume, stored } => match stored {
                Ok(()) => {
                    self.admitted(caller, resume);
                    return;
                }
                Err(e) => Err(e.into()),
            },
            Work::Removed { user, stored } => stored
                .map(|()| self.removed(&caller, user))
                .map_err(Refused::from),
            Work::Invited { user, stored } => stored.map(|()| self.invited(&caller, user)),
            Work::CmidChecked { mut draft, found } => match found {
                Ok(Some(pos)) => Ok(Answer::Now(ServerFrame::Sent(
                    switchboard_engine::protocol::Sent {
                        rid: caller.rid,
                        room: self.info.id,
                        cmid: draft.cmid,
                        pos,
                        duplicate: true,
                    },
                ))),
                Ok(None) => {
                    draft.cmid_checked = true;
                    self.post(&caller, draft)
                }
                Err(_) => Err(Refused::Busy(Busy::StorageBehind)),
            },
            Work::AttachmentsChecked { draft, checked } => {
                self.attachments_checked(caller, draft, checked);
                return;
            }
            Work::TargetLoaded {
                draft,
                pos,
                found,
                generation,
            } => {
                self.target_loaded(caller, draft, pos, found, generation);
                return;
            }
            Work::Replayed {
                from,
                first_buffered,
                tries,
                older,
            } => {
                match older {
                    Ok(older) => match self.replay_with(from, first_buffered, older) {
                        Some(events) => self.finish_join(caller, Some((from, events))),
                        // The buffer moved on during the read: read again.
                        None => self.complete_join(caller, Some(from), tries),
                    },
                    Err(e) => {
                        crate::refusal::note(
                            crate::refusal::Refusal::StoreError,
                            format_args!("room {}: resume read failed: {e}", self.info.id),
                        );
                        self.finish_join(caller, Some((from, None)));
                    }
                }
                return;
            }
        };
        self.answer(&caller, result);
    }

    /// Applies what the write-behind made durable.
    pub(super) fn acked(&mut self, ack: Ack) {
        match ack {
            Ack::Durable(seq) => {
                self.durable_seq = self.durable_seq.max(seq);
                let durable = self.durable_seq;
                let (ready, waiting) = std::mem::take(&mut self.awaiting_durable)
                    .into_iter()
                    .partition(|(seq, _, _)| *seq <= durable);
                self.awaiting_durable = waiting;
                for (_, caller, sent) in ready {
                    caller.answer(&ServerFrame::Sent(sent));
                }
                let durable = self.durable();
                self.recent.trim(durable);
            }
            Ack::Fenced => self.deposed(),
        }
    }

    /// What a resume from `from` gets from the buffer alone.
    pub(super) fn replay(&self, from: Position) -> Replay {
        let events = match self.recent.since(from) {
            // A position of an earlier owner that never became durable (it crashed first):
            // everything stored is older, so nothing is missed.
            super::Since::Unknown if from.epoch < self.epoch => Vec::new(),
            super::Since::Unknown => return Replay::Reload,
            super::Since::Events(events) => events,
            super::Since::NeedStore { first_buffered } => return Replay::NeedStore(first_buffered),
        };
        match self.fits(&events) {
            true => Replay::Events(events),
            false => Replay::Reload,
        }
    }

    /// The replay from `from` given the stored messages after it (`older`, read while the
    /// buffer started at `first_buffered`): `Some(None)` to reload, `None` if the buffer has
    /// been trimmed since the read (read again).
    fn replay_with(
        &self,
        from: Position,
        first_buffered: Position,
        older: Vec<ChatMessage>,
    ) -> Option<Option<Vec<Arc<Event>>>> {
        match self.recent.since(from) {
            super::Since::NeedStore {
                first_buffered: now,
            } if now == first_buffered => {}
            super::Since::NeedStore { .. } => return None,
            // The buffer no longer needs the store (it cannot grow backwards): answer from it.
            _ => {
                return Some(match self.replay(from) {
                    Replay::Events(events) => Some(events),
                    _ => None,
                });
            }
        }
        // Everything before the buffer is durable, so the store has all of it.
        let room = self.info.id;
        let mut events: Vec<_> = older
            .into_iter()
            .take_while(|m| m.pos < first_buffered)
            .map(|m| Event::new(Some((room, m.pos)), &p::event_frame(m)))
            .collect();
        if events.len() > self.rooms.config.resume_limit {
            return Some(None);
        }
        events.extend(self.recent.all());
        Some(self.fits(&events).then_some(events))
    }

    /// A replay must fit the connection's queue with room to spare, or it would be
    /// disconnected as slow by its own resume.
    fn fits(&self, events: &[Arc<Event>]) -> bool {
        let bytes: usize = events.iter().map(|e| e.len()).sum();
        events.len() <= self.rooms.config.resume_limit
            && bytes <= self.rooms.config.outbound_bytes / 2
    }

    /// The caller of each command answered when its original is durable: the room stops.
    pub(super) fn abandon_waiting(&mut self) {
        self.work.abandon();
        self.held.abandon();
        for (_, caller, _) in self.awaiting_durable.drain(..) {
            caller.refuse(Refused::Busy(Busy::RoomMoving));
        }
    }
}
