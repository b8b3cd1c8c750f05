//! How a room handles each [`RoomCommand`]. Every command is answered by the room, through
//! its caller, once: at once, or later from the room's loop when work it started off the actor
//! (a store write or read, see `work`) or the write-behind's acknowledgement comes back.

use std::collections::hash_map::Entry;

use kameo::prelude::*;
use switchboard_engine::domain::{Role, RoomKind};
use switchboard_engine::protocol::{self as p, ResumeOutcome, ServerFrame};
use switchboard_engine::{Position, UserId};

use super::attach::Draft;
use super::work::Work;
use super::{Caller, Command, RoomActor, RoomCommand, Subscriber, To};
use crate::error::Refused;
use crate::metrics as names;
use crate::outbound::Event;
use crate::recipient::Recipient;

/// A command's answer, when the room has it now.
pub(super) enum Answer {
    Now(ServerFrame),
    /// The room answers later (or, for `unsubscribe`, never).
    Later,
}

impl Message<Command> for RoomActor {
    type Reply = ();

    async fn handle(&mut self, c: Command, _: &mut Context<Self, ()>) {
        let Command {
            caller,
            cmd,
            received,
            ..
        } = c;
        let answered = cmd.is_answered();
        let result = match cmd {
            RoomCommand::Join { resume } => self.join(&caller, resume),
            RoomCommand::Leave => self.leave(&caller),
            RoomCommand::Invite { user } => self.invite(&caller, user),
            RoomCommand::Kick { user } => self.kick(&caller, user),
            RoomCommand::Post {
                cmid,
                text,
                attachments,
                reply_to,
                mentions,
            } => {
                let mut draft = Draft::new(cmid, text, attachments, received);
                draft.reply_to = reply_to;
                draft.mentions = mentions;
                self.post_in_order(&caller, draft)
            }
            RoomCommand::Change { cmid, text, change } => {
                let mut draft = Draft::new(cmid, text, Vec::new(), received);
                draft.change = Some(change);
                self.post_in_order(&caller, draft)
            }
            RoomCommand::Typing { active } => self.typing(&caller, active),
            RoomCommand::Receipt { pos } => self.receipt(&caller, pos),
            RoomCommand::Delivered { pos } => self.delivered(&caller, pos),
            RoomCommand::Unsubscribe => self.unsubscribe_conn(&caller),
        };
        if answered {
            self.answer(&caller, result);
        }
    }
}

impl RoomActor {
    pub(super) fn answer(&self, caller: &Caller, result: Result<Answer, Refused>) {
        match result {
            Ok(Answer::Now(frame)) => caller.answer(&frame),
            Ok(Answer::Later) => {}
            Err(why) => caller.refuse(why),
        }
    }

    fn room_ack(&self, caller: &Caller) -> p::RoomAck {
        p::RoomAck {
            rid: caller.rid,
            room: self.info.id,
        }
    }

    /// Subscribes the caller. Joining a public room makes the user a member: stored first,
    /// off the actor, then the join completes (`Work::Admitted`).
    fn join(&mut self, caller: &Caller, resume: Option<Position>) -> Result<Answer, Refused> {
        if self.members.contains_key(&caller.user) {
            self.complete_join(caller.clone(), resume, 0);
            return Ok(Answer::Later);
        }
        if self.info.kind != RoomKind::Public {
            return Err(Refused::NotMember);
        }
        let (store, room, user) = (self.rooms.store.clone(), self.info.id, caller.user);
        self.start_work(caller, async move {
            let stored = store.add_member(room, user, Role::Member).await;
            Work::Admitted { resume, stored }
        })
    }

    /// Queues `joined`, then the resume frames, and only then subscribes the caller, so no
    /// live event comes before them. A replay that needs the store reads it off the actor
    /// first (`Work::Replayed`); `tries` counts those reads.
    pub(super) fn complete_join(&mut self, caller: Caller, resume: Option<Position>, tries: u8) {
        let replay = match resume {
            None => None,
            Some(from) => match self.replay(from) {
                Replay::NeedStore(first_buffered) if tries < 2 => {
                    let (store, room) = (self.rooms.store.clone(), self.info.id);
                    let limit = self.rooms.config.resume_limit as u32 + 1;
                    let read = async move {
                        let query = switchboard_persistence::HistoryQuery {
                            after: Some(from),
                            limit,
                            changes: true,
                            ..Default::default()
                        };
                        Work::Replayed {
                            from,
                            first_buffered,
                            tries: tries + 1,
                            older: store.history(room, query).await,
                        }
                    };
                    // Answered from the loop when the read returns.
                    let _ = self.start_work(&caller, read);
                    return;
                }
                Replay::NeedStore(_) => Some((from, None)),
                Replay::Events(events) => Some((from, Some(events))),
                Replay::Reload => Some((from, None)),
            },
        };
        self.finish_join(caller, replay);
    }

    /// Sends `joined` and, for a resume, its outcome and the replayed events (`None`: reload);
    /// then subscribes the caller.
    pub(super) fn finish_join(
        &mut self,
        caller: Caller,
        replay: Option<(Position, Option<Vec<std::sync::Arc<Event>>>)>,
    ) {
        names::hot().joins.increment(1);
        let head = self.recent.head();
        caller.answer(&ServerFrame::Joined(p::Joined {
            rid: caller.rid,
            room: self.info.clone(),
            head,
            role: self.members.get(&caller.user).copied(),
        }));
        if let Some((_, events)) = replay {
            let (outcome, events) = match events {
                Some(events) => (ResumeOutcome::Recovered, events),
                None => (ResumeOutcome::Reload, Vec::new()),
            };
            caller.reply.frame(&ServerFrame::Resume(p::Resume {
                room: self.info.id,
                outcome,
                missed: events.len() as u32,
                head,
            }));
            for e in &events {
                caller.reply.event(e);
            }
        }
        let conn = caller.conn;
        self.unsubscribe(|c, _| c != conn);
        match caller.reply {
            // It closed while its join waited on the store: its unsubscribe came first.
            Recipient::Local(out) if out.is_closed() => {}
            Recipient::Local(out) => self.subscribers.push(Subscriber {
                conn,
                user: caller.user,
                out,
            }),
            Recipient::Remote(r) => {
                let group = self.remote.entry(r.node).or_default();
                group.subs.push((conn, caller.user));
                group.conns = None;
            }
        }
        self.note_subscribers_changed();
    }

    /// A new member is stored (or not): the join completes.
    pub(super) fn admitted(&mut self, caller: Caller, resume: Option<Position>) {
        if let Entry::Vacant(e) = self.members.entry(caller.user) {
            e.insert(Role::Member);
            self.announce_member(ServerFrame::MemberJoined(p::MemberEvent {
                room: self.info.id,
                user: caller.user,
            }));
        }
        self.complete_join(caller, resume, 0);
    }

    /// Gives up membership, stored first (off the actor); every connection of the user stops
    /// receiving the room (`Work::Left`).
    fn leave(&mut self, caller: &Caller) -> Result<Answer, Refused> {
        if self.info.kind == RoomKind::Direct {
            return Err(Refused::Forbidden("a direct conversation cannot be left"));
        }
        if !self.members.contains_key(&caller.user) {
            return Err(Refused::NotMember);
        }
        let (store, room, user) = (self.rooms.store.clone(), self.info.id, caller.user);
        self.start_work(caller, async move {
            Work::Removed {
                user,
                stored: store.remove_member(room, user).await,
            }
        })
    }

    /// Removes `user`, stored first (off the actor; `Work::Removed`). Owners may remove
    /// anyone but themselves, admins only members.
    fn kick(&mut self, caller: &Caller, user: UserId) -> Result<Answer, Refused> {
        let role = *self.members.get(&caller.user).ok_or(Refused::NotMember)?;
        if self.info.kind == RoomKind::Direct || !role.can_invite() {
            return Err(Refused::Forbidden(
                "only owners and admins may remove members",
            ));
        }
        match self.members.get(&user) {
            None => return Err(Refused::NotFound("not a member of this room")),
            Some(Role::Owner) => return Err(Refused::Forbidden("the owner cannot be removed")),
            Some(Role::Admin) if role != Role::Owner => {
                return Err(Refused::Forbidden("only the owner may remove an admin"));
            }
            Some(_) => {}
        }
        let (store, room) = (self.rooms.store.clone(), self.info.id);
        self.start_work(caller, async move {
            Work::Removed {
                user,
                stored: store.remove_member(room, user).await,
            }
        })
    }

    /// `user` is no longer a member (stored): everyone subscribed hears of it, the user's
    /// own connections included, and then those stop receiving the room. The caller (the
    /// leaver, or whoever removed them) gets `left` or `done`.
    pub(super) fn removed(&mut self, caller: &Caller, user: UserId) -> Answer {
        if self.members.remove(&user).is_some() {
            self.announce_member(ServerFrame::MemberLeft(p::MemberEvent {
                room: self.info.id,
                user,
            }));
        }
        self.unsubscribe(|_, u| u != user);
        self.stop_typing(user);
        match caller.user == user {
            true => Answer::Now(ServerFrame::Left(self.room_ack(caller))),
            false => Answer::Now(caller.done()),
        }
    }

    /// Adds `user`: admins and owners of private rooms, any member of a public one. Stored off
    /// the actor (`Work::Invited`).
    fn invite(&mut self, caller: &Caller, user: UserId) -> Result<Answer, Refused> {
        let role = self.members.get(&caller.user).ok_or(Refused::NotMember)?;
        let allowed = match self.info.kind {
            RoomKind::Public => true,
            RoomKind::Private => role.can_invite(),
            RoomKind::Direct => false,
        };
        if !allowed {
            return Err(Refused::Forbidden("you may not invite to this room"));
        }
        if self.members.contains_key(&user) {
            return Ok(Answer::Now(ServerFrame::Invited(self.room_ack(caller))));
        }
        if !self.rooms.introduction(caller.user) {
            return Err(Refused::RateLimited);
        }
        let (rooms, info, by) = (self.rooms.clone(), self.info.clone(), caller.user);
        self.start_work(caller, async move {
            let stored = match rooms.store.user(user).await {
                Ok(Some(_)) => rooms
                    .store
                    .add_member(info.id, user, Role::Member)
                    .await
                    .map_err(Refused::from),
                Ok(None) => Err(Refused::NotFound("no such user")),
                Err(e) => Err(e.into()),
            };
            if stored.is_ok() {
                // Their devices hear of it wherever they are; this changes no room state.
                rooms.announce_room_added(user, info, by).await;
            }
            Work::Invited { user, stored }
        })
    }

    pub(super) fn invited(&mut self, caller: &Caller, user: UserId) -> Answer {
        if let Entry::Vacant(e) = self.members.entry(user) {
            e.insert(Role::Member);
            self.announce_member(ServerFrame::MemberJoined(p::MemberEvent {
                room: self.info.id,
                user,
            }));
        }
        Answer::Now(ServerFrame::Invited(self.room_ack(caller)))
    }

    /// Answered `done` even when nothing is sent: a caller no longer a member is ignored.
    /// A member typing; anyone else is refused 3002 (the connection may believe it joined:
    /// it learns of a refused `join`, or of its removal, only from the frames it is sent).
    fn typing(&mut self, caller: &Caller, active: bool) -> Result<Answer, Refused> {
        if !self.members.contains_key(&caller.user) {
            return Err(Refused::NotJoined);
        }
        self.set_typing(caller.user, active);
        Ok(Answer::Now(caller.done()))
    }

    /// A member's read watermark rose (already stored); everyone else subscribed hears of it.
    /// A caller no longer a member is ignored (its mark was checked and stored already).
    fn receipt(&mut self, caller: &Caller, pos: Position) -> Result<Answer, Refused> {
        if self.members.contains_key(&caller.user) {
            self.tell_mark(caller, pos, ServerFrame::ReadReceipt);
        }
        Ok(Answer::Now(caller.done()))
    }

    /// A member's delivered watermark rose (already stored). In a direct conversation the
    /// other member hears of it (the sender's ticks); a group shows "read by N" from read
    /// receipts instead, so nobody is told there: a delivery mark costs no fan-out in a large
    /// room.
    fn delivered(&mut self, caller: &Caller, pos: Position) -> Result<Answer, Refused> {
        if self.info.kind == RoomKind::Direct && self.members.contains_key(&caller.user) {
            self.tell_mark(caller, pos, ServerFrame::DeliveryReceipt);
        }
        Ok(Answer::Now(caller.done()))
    }

    /// Tells every subscriber but the caller's connection that the caller's mark rose to `pos`.
    fn tell_mark(
        &mut self,
        caller: &Caller,
        pos: Position,
        frame: fn(p::ReadReceipt) -> ServerFrame,
    ) {
        let mark = p::ReadReceipt {
            room: self.info.id,
            user: caller.user,
            pos,
        };
        self.fan_out(&Event::new(None, &frame(mark)), To::all_but(caller));
    }

    /// The caller's connection closed or moved: stop sending it events.
    fn unsubscribe_conn(&mut self, caller: &Caller) -> Result<Answer, Refused> {
        let conn = caller.conn;
        let user = self
            .subscribers
            .iter()
            .map(|s| (s.conn, s.user))
            .chain(self.remote.values().flat_map(|g| g.subs.iter().copied()))
            .find(|(c, _)| *c == conn)
            .map(|(_, user)| user);
        self.unsubscribe(|c, _| c != conn);
        // The typer's last connection left: nobody will send `active: false` for it.
        if let Some(user) = user.filter(|u| !self.is_subscribed(*u)) {
            self.stop_typing(user);
        }
        Ok(Answer::Later)
    }
}

/// What a resume can be answered with from the buffer alone.
pub(super) enum Replay {
    Events(Vec<std::sync::Arc<Event>>),
    Reload,
    /// Older messages must come from the store; the buffer starts at this position.
    NeedStore(Position),
}
