//! A post's way through its room, one named stage each:
//!
//! 1. **admit**: only a member posts;
//! 2. **repeat**: a `cmid` the room has seen from this sender is answered with the original's
//!    position (`duplicate: true`), at once when it is durable, else when it becomes so;
//! 3. **check**: what must be looked up off the actor first (the store, for a `cmid` that may
//!    have left the buffer, or for the message a change or reply targets; the media, for
//!    attachments) runs as work, and the post comes back to this stage with the answer
//!    (`room::work`, `room::attach`, `room::targets`);
//! 4. **allow**: an edit, delete, reaction or reply against its target as it is now (who
//!    may, the edit window, deleted or not, the reaction bounds);
//! 5. **sequence**: the next position, the event encoded once, the target's entry changed;
//! 6. **submit**: to the write-behind, whose acknowledgement answers `sent`;
//! 7. **fan out**: to every subscriber, other nodes first.
//!
//! Messages, edits, deletes and reactions all take these stages: each is an entry of the
//! room's sequence, idempotent by `cmid`. The stages before `sequence` change nothing, so a
//! refused post leaves no trace.

use std::sync::Arc;
use std::time::Instant;

use switchboard_engine::domain::{
    Change, ChatMessage, MAX_REACTION_KINDS, MAX_REACTIONS_PER_USER, Quote, Role,
};
use switchboard_engine::protocol::{self as p, ServerFrame};
use switchboard_engine::{Codec, ErrorCode, Position};
use switchboard_persistence::write_behind::Permit;
use switchboard_persistence::{Outcome, Target};

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
        let quote = self.allow(caller, &draft)?;
        let Ok(permit) = self.rooms.journal.reserve(draft.bytes()) else {
            return Err(Refused::Busy(Busy::StorageBehind));
        };
        let received = draft.received;
        let (event, msg) = self.sequence(caller, draft, quote);
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
        if let Some(pos) = draft.target()
            && self.targets.get(pos).is_none()
        {
            match self.find_target(pos) {
                Found::Here(target) => self.targets.insert(pos, target, self.durable_seq),
                Found::Nowhere => return Err(Refused::NotFound("no message at that position")),
                Found::InStore => {
                    return self.load_target(caller, draft, pos).map(Checked::Started);
                }
            }
        }
        if draft.needs_check() {
            return self.check_attachments(caller, draft).map(Checked::Started);
        }
        Ok(Checked::Ready(draft))
    }

    /// Where the message at `pos` can be read as it is now (it has no entry in `targets`).
    fn find_target(&self, pos: Position) -> Found {
        let this_epoch = pos.epoch == self.epoch;
        if pos.epoch > self.epoch || (this_epoch && pos.seq > self.last_seq) {
            return Found::Nowhere;
        }
        if !this_epoch || pos.seq <= self.durable_seq {
            // Everything durable is in the store, and every change to it too: a change not
            // yet durable keeps its target's entry.
            return Found::InStore;
        }
        // Not stored yet, so nothing has changed it: as the buffer has it.
        let frame = self
            .recent
            .at(pos)
            .and_then(|event| Codec::MsgPack.decode::<ServerFrame>(&event.msgpack()).ok());
        match frame {
            Some(ServerFrame::Message(m)) => Found::Here(Target {
                sender: m.sender,
                ts: m.ts,
                text: m.text,
                ..Target::default()
            }),
            _ => Found::Nowhere,
        }
    }

    /// Reads the message at `pos` off the actor; the post comes back to `check` with it (the
    /// connection's later posts wait, as for an attachment check).
    fn load_target(
        &mut self,
        caller: &Caller,
        draft: Draft,
        pos: Position,
    ) -> Result<Answer, Refused> {
        if draft.loads >= 2 {
            // Evictions keep outrunning the reads: the room is overloaded with targets.
            return Err(Refused::Busy(Busy::Overloaded));
        }
        let (store, room) = (self.rooms.store.clone(), self.info.id);
        let (deadline, generation) = (self.rooms.config.store_timeout, self.targets.generation);
        let answer = self.start_check(caller, async move {
            let found = tokio::time::timeout(deadline, store.target(room, pos))
                .await
                .map_err(|_| Refused::Busy(Busy::NoAnswer))
                .and_then(|found| found.map_err(Refused::from));
            Work::TargetLoaded {
                draft,
                pos,
                found,
                generation,
            }
        })?;
        self.hold(caller.conn);
        Ok(answer)
    }

    /// The store's answer on a target: kept (unless an eviction since may have dropped a
    /// change it missed: then read again), and the post goes on.
    pub(super) fn target_loaded(
        &mut self,
        caller: Caller,
        mut draft: Draft,
        pos: Position,
        found: Result<Option<Target>, Refused>,
        generation: u64,
    ) {
        self.resume_checked(caller, |room, caller| match found? {
            None => Err(Refused::NotFound("no message at that position")),
            Some(target) => {
                if generation == room.targets.generation {
                    room.targets.insert(pos, target, room.durable_seq);
                }
                draft.loads += 1;
                room.post(caller, draft)
            }
        });
    }

    /// Whether the caller may make this change to, or reply to, its target as it is now; a
    /// reply's quote.
    fn allow(&self, caller: &Caller, draft: &Draft) -> Result<Option<Quote>, Refused> {
        let Some(pos) = draft.target() else {
            return Ok(None);
        };
        let Some(target) = self.targets.get(pos) else {
            return Err(Refused::NotFound("no message at that position"));
        };
        if target.deleted {
            return Err(Refused::NotFound("that message was deleted"));
        }
        let me = caller.user;
        let moderator = matches!(self.members.get(&me), Some(Role::Owner | Role::Admin));
        match &draft.change {
            None => return Ok(Some(Quote::of(pos, target.sender, &target.text, false))),
            Some(Change::Edit { .. }) => {
                if target.sender != me {
                    return Err(Refused::Forbidden("only its sender edits a message"));
                }
                let window = self
                    .rooms
                    .config
                    .limits
                    .edit_window_secs
                    .saturating_mul(1000);
                if now_ms().saturating_sub(target.ts) > window {
                    return Err(Refused::Code(ErrorCode::EditWindowClosed));
                }
            }
            Some(Change::Pin { removed, .. }) => {
                if !moderator {
                    return Err(Refused::Forbidden(
                        "only an owner or an admin pins a message",
                    ));
                }
                match (removed, target.pinned) {
                    (false, true) => return Err(Refused::Code(ErrorCode::Conflict)),
                    (true, false) => return Err(Refused::NotFound("that message is not pinned")),
                    _ => {}
                }
            }
            Some(Change::Delete { .. }) => {
                if target.sender != me && !moderator {
                    return Err(Refused::Forbidden(
                        "only its sender, an owner or an admin deletes a message",
                    ));
                }
            }
            Some(Change::React { emoji, removed, .. }) => {
                let users = target
                    .reactions
                    .iter()
                    .find(|(e, _)| e == emoji)
                    .map(|(_, u)| u);
                let mine = users.is_some_and(|u| u.contains(&me));
                match removed {
                    true if !mine => return Err(Refused::NotFound("no such reaction of yours")),
                    false if mine => return Err(Refused::Code(ErrorCode::Conflict)),
                    false if users.is_none() && target.reactions.len() >= MAX_REACTION_KINDS => {
                        return Err(Refused::Code(ErrorCode::TooManyReactions));
                    }
                    false if target.mine(me) >= MAX_REACTIONS_PER_USER => {
                        return Err(Refused::Code(ErrorCode::TooManyReactions));
                    }
                    _ => {}
                }
            }
        }
        Ok(None)
    }

    /// Gives the post the next position and encodes its event once; the room's buffer keeps it
    /// (for resumes and repeats), and a change updates its target's entry.
    fn sequence(
        &mut self,
        caller: &Caller,
        draft: Draft,
        reply_to: Option<Quote>,
    ) -> (Arc<Event>, ChatMessage) {
        self.last_seq += 1;
        let mut mentions = draft.mentions;
        mentions.retain(|u| self.members.contains_key(u));
        let msg = ChatMessage {
            room: self.info.id,
            pos: Position::new(self.epoch, self.last_seq),
            sender: caller.user,
            cmid: draft.cmid,
            text: draft.text,
            ts: now_ms(),
            attachments: draft.attachments.unwrap_or_default(),
            reply_to: reply_to.map(Box::new),
            mentions,
            change: draft.change.map(Box::new),
            ..ChatMessage::default()
        };
        let (event, msg) = entry_event(msg);
        if let Some(change) = msg.change.as_deref() {
            let (user, text) = (msg.sender, &msg.text);
            self.targets
                .change(change.target(), msg.pos.seq, |target| match change {
                    Change::Edit { .. } => target.text.clone_from(text),
                    Change::Delete { .. } => {
                        target.deleted = true;
                        target.text.clear();
                        target.reactions.clear();
                        target.pinned = false;
                    }
                    Change::Pin { removed, .. } => target.pinned = !removed,
                    Change::React {
                        emoji,
                        removed: true,
                        ..
                    } => {
                        target.remove(emoji, user);
                    }
                    Change::React { emoji, .. } => {
                        target.add(emoji.clone(), user);
                    }
                });
        }
        self.recent
            .push(msg.pos, msg.sender, &msg.cmid, event.clone());
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

/// Where a target can be read.
enum Found {
    Here(Target),
    InStore,
    Nowhere,
}

/// An entry's event, encoded once: a `message`, or the change it makes (`edited`, `deleted`,
/// `reaction`). A message is encoded in place, never copied.
pub(super) fn entry_event(msg: ChatMessage) -> (Arc<Event>, ChatMessage) {
    let at = Some((msg.room, msg.pos));
    if msg.change.is_some() {
        let event = Event::new(at, &p::event_frame(msg.clone()));
        return (event, msg);
    }
    let frame = ServerFrame::Message(msg);
    let event = Event::new(at, &frame);
    let ServerFrame::Message(msg) = frame else {
        unreachable!("built as a message above")
    };
    (event, msg)
}
