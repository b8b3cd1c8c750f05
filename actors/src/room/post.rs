//! A post's way through its room, one named stage each:
//!
//! 1. **admit**: only a member posts;
//! 2. **repeat**: a `cmid` the room has seen from this sender is answered with the original's
//!    position (`duplicate: true`), at once when it is durable, else when it becomes so;
//! 3. **check**: what must be looked up off the actor first (the store, for a `cmid` that may
//!    have left the buffer; the media, for attachments) runs as work, and the post comes back
//!    to this stage with the answer (`room::work`, `room::attach`);
//! 4. **sequence**: the next position, and the event encoded once;
//! 5. **submit**: to the write-behind, whose acknowledgement answers `sent`;
//! 6. **fan out**: to every subscriber, other nodes first.
//!
//! The stages before `sequence` change nothing, so a refused post leaves no trace; edits,
//! deletes and reactions are to go through the same stages.

use std::sync::Arc;
use std::time::Instant;

use switchboard_engine::Position;
use switchboard_engine::domain::ChatMessage;
use switchboard_engine::protocol::{self as p, ServerFrame};
use switchboard_persistence::Outcome;
use switchboard_persistence::write_behind::Permit;

use super::attach::Draft;
use super::commands::Answer;
use super::work::{Ack, Work};
use super::{Caller, RoomActor, To, now_ms};
use crate::error::{Busy, Refused};
use crate::metrics as names;
use crate::outbound::Event;
use crate::recipient::Recipient;

/// What the check stage made of a draft.
enum Checked {
    /// Nothing to look up: the post goes on.
    Ready(Draft),
    /// A lookup runs off the actor; the post comes back with its answer.
    Started(Answer),
}

impl RoomActor {
    /// Posts a message through the stages above. A post with attachments has them checked off
    /// the actor first and comes back here with their metadata.
    pub(super) fn post(&mut self, caller: &Caller, draft: Draft) -> Result<Answer, Refused> {
        self.admit(caller)?;
        if let Some(answer) = self.repeat(caller, &draft.cmid)? {
            return Ok(answer);
        }
        let draft = match self.check(caller, draft)? {
            Checked::Ready(draft) => draft,
            Checked::Started(answer) => return Ok(answer),
        };
        let Ok(permit) = self.rooms.journal.reserve(draft.bytes()) else {
            return Err(Refused::Busy(Busy::StorageBehind));
        };
        let received = draft.received;
        let (event, msg) = self.sequence(caller, draft);
        self.submit(caller, permit, msg, received);
        self.fan_out(&event, To::All);
        let hot = names::hot();
        hot.messages.increment(1);
        hot.send_to_deliver.record(received.elapsed().as_secs_f64());
        Ok(Answer::Later)
    }

    fn admit(&self, caller: &Caller) -> Result<(), Refused> {
        match self.members.contains_key(&caller.user) {
            true => Ok(()),
            false => Err(Refused::NotMember),
        }
    }

    /// The answer to a resend of a message the room still holds: its original's position, now
    /// if durable, else when the write-behind acknowledges it (`Ack`; bounded like the room's
    /// other waiting work). `None` for a `cmid` the buffer does not know.
    fn repeat(&mut self, caller: &Caller, cmid: &str) -> Result<Option<Answer>, Refused> {
        let Some(pos) = self.recent.find_cmid(caller.user, cmid) else {
            return Ok(None);
        };
        let sent = p::Sent {
            rid: caller.rid,
            room: self.info.id,
            cmid: cmid.to_owned(),
            pos,
            duplicate: true,
        };
        if self.is_durable(pos) {
            return Ok(Some(Answer::Now(ServerFrame::Sent(sent))));
        }
        if self.awaiting_durable.len() >= self.rooms.config.room_mailbox {
            return Err(Refused::Busy(Busy::StorageBehind));
        }
        self.awaiting_durable.push((pos.seq, caller.clone(), sent));
        Ok(Some(Answer::Later))
    }

    /// Starts what must be looked up before the post gets a position: the store, when the
    /// original may have left the buffer after the sender's own store check missed it (it was
    /// not committed then); the media, for attachments.
    fn check(&mut self, caller: &Caller, draft: Draft) -> Result<Checked, Refused> {
        if !draft.cmid_checked && self.recent.maybe_trimmed(caller.user, &draft.cmid) {
            let (store, room, user) = (self.rooms.store.clone(), self.info.id, caller.user);
            let started = self.start_work(caller, async move {
                let found = store.find_cmid(room, user, &draft.cmid).await;
                Work::CmidChecked { draft, found }
            })?;
            return Ok(Checked::Started(started));
        }
        if draft.needs_check() {
            return self.check_attachments(caller, draft).map(Checked::Started);
        }
        Ok(Checked::Ready(draft))
    }

    /// Gives the post the next position and encodes its event once; the room's buffer keeps it
    /// (for resumes and repeats).
    fn sequence(&mut self, caller: &Caller, draft: Draft) -> (Arc<Event>, ChatMessage) {
        let room = self.info.id;
        self.last_seq += 1;
        let pos = Position::new(self.epoch, self.last_seq);
        let frame = ServerFrame::Message(ChatMessage {
            room,
            pos,
            sender: caller.user,
            cmid: draft.cmid,
            text: draft.text,
            ts: now_ms(),
            attachments: draft.attachments.unwrap_or_default(),
        });
        let event = Event::new(Some((room, pos)), &frame);
        let ServerFrame::Message(msg) = frame else {
            unreachable!("built as a message above")
        };
        self.recent.push(pos, caller.user, &msg.cmid, event.clone());
        (event, msg)
    }

    /// Hands the message to the write-behind, before the fan-out so that the commit runs while
    /// the room writes to its subscribers' sockets. The closure runs on the write-behind after
    /// the commit: it answers the caller and tells the room (through its acknowledgement
    /// channel) what became durable; it changes no room state.
    fn submit(&self, caller: &Caller, permit: Permit, msg: ChatMessage, received: Instant) {
        // The sender on another node: its node's next batch (this message's delivery there,
        // and whatever follows) waits a moment for the `sent`, so that both go in one publish.
        if let Recipient::Remote(r) = &caller.reply
            && let Some(peers) = self.rooms.peers()
        {
            peers.hold_for_reply(&r.node, r.token);
        }
        let (acks, caller) = (self.acks.clone(), caller.clone());
        self.rooms.journal.submit(
            permit,
            msg,
            Box::new(move |stored: &ChatMessage, outcome| {
                if outcome == Outcome::Fenced {
                    // Another node took the room meanwhile: this copy was never stored.
                    caller.refuse(Refused::Busy(Busy::RoomMoving));
                    let _ = acks.send(Ack::Fenced);
                    return;
                }
                let _ = acks.send(Ack::Durable(stored.pos.seq));
                caller.answer(&ServerFrame::Sent(p::Sent {
                    rid: caller.rid,
                    room: stored.room,
                    cmid: stored.cmid.clone(),
                    pos: stored.pos,
                    duplicate: false,
                }));
                metrics::histogram!(names::SEND_TO_STORED_SECONDS)
                    .record(received.elapsed().as_secs_f64());
            }),
        );
    }
}
