//! What each client command does. Every command gets exactly one reply frame or one error.
//!
//! Commands answered from memory (`ping`, `set_presence`) are answered at once, inside the
//! connection's loop, and `typing` is handed to its room from there (never waiting: a room
//! too busy to take it answers `busy`). `auth` is too: nothing else can run before it. Every
//! other command waits on the store or on another actor, so it runs as a task off the loop
//! (`pending`, `tasks`); a command for a room that has one running waits behind it, and so
//! does a `typing` for that room.

use switchboard_engine::domain::PresenceStatus;
use switchboard_engine::protocol::{self as p, ClientFrame, ServerFrame};
use switchboard_engine::{ErrorCode, RoomId, UserId};

use super::ConnectionActor;
use super::pending::{Done, Key};
use super::tasks::{Ctx, Effect};
use crate::error::{Busy, Refused};
use crate::refusal::{self, Refusal};
use crate::room::{Caller, Command, RoomCommand};

/// What orders a command among this connection's others, if anything does: the room it
/// addresses (`ClientFrame::room`, kept beside the frames), or the presence bound.
fn key_of(frame: &ClientFrame) -> Option<Key> {
    match frame {
        ClientFrame::PresenceSubscribe(_) => Some(Key::Presence),
        frame => frame.room().map(Key::Room),
    }
}

impl ConnectionActor {
    pub(super) async fn dispatch(&mut self, frame: ClientFrame) -> Result<(), Refused> {
        crate::metrics::hot().command(&frame).increment(1);
        if let ClientFrame::Auth(a) = frame {
            return self.auth(a).await;
        }
        let me = self.user()?;
        frame.check_range()?;
        match frame {
            ClientFrame::Ping(c) => {
                self.out.frame(&ServerFrame::Pong(p::Done { rid: c.rid }));
                Ok(())
            }
            ClientFrame::SetPresence(c) => {
                let away = match c.status {
                    PresenceStatus::Online => false,
                    PresenceStatus::Away => true,
                    PresenceStatus::Offline => {
                        return Err(Refused::Invalid("offline is not a status one can set"));
                    }
                };
                self.hub.presence().away(self.id, me, away).await;
                self.out.frame(&ServerFrame::Done(p::Done { rid: c.rid }));
                Ok(())
            }
            ClientFrame::Typing(c) if !self.pending.is_busy(Key::Room(c.room)) => {
                self.typing_now(me, c)
            }
            frame => self.start(me, frame),
        }
    }

    async fn auth(&mut self, a: p::Auth) -> Result<(), Refused> {
        if self.identity.is_some() {
            return Err(ErrorCode::AlreadyAuthenticated.into());
        }
        let timeout = self.hub.config.store_timeout;
        let (identity, pass) = tokio::time::timeout(timeout, self.hub.authenticate_pass(&a.token))
            .await
            .map_err(|_| Refused::Busy(Busy::NoAnswer))?
            .inspect_err(|code| {
                refusal::note(
                    Refusal::AuthFailed,
                    format_args!("conn {} auth: {}", self.id, code.describe()),
                );
            })?;
        let user = switchboard_engine::domain::UserInfo {
            id: identity.user,
            name: identity.name.clone(),
        };
        self.authenticated(identity, pass).await;
        self.out
            .frame(&ServerFrame::Authed(p::Authed { rid: a.rid, user }));
        Ok(())
    }

    /// Hands `typing` to its room from the loop, never waiting.
    fn typing_now(&mut self, me: UserId, c: p::Typing) -> Result<(), Refused> {
        if !self.joined.contains(&c.room) {
            return Err(Refused::NotJoined);
        }
        let caller = Caller::local(&self.out, me, c.rid);
        let cmd = Command::new(c.room, caller, RoomCommand::Typing { active: c.active });
        self.hub.router().send_now(cmd);
        Ok(())
    }

    /// Runs `frame` off the loop now, or queues it behind the command before it with its
    /// key. The loop reads no frame while the connection has its most commands pending
    /// (`poll_wake`), so the 4001 `busy` here is only the when-full policy of the bound.
    fn start(&mut self, me: UserId, frame: ClientFrame) -> Result<(), Refused> {
        if self.pending.is_full() {
            refusal::note(
                Refusal::CommandsPending,
                format_args!("conn {}: too many commands pending", self.id),
            );
            return Err(Refused::Busy(Busy::TooManyPending));
        }
        match key_of(&frame) {
            Some(key) if self.pending.is_busy(key) => {
                self.pending.queue(key, me, frame);
                Ok(())
            }
            key => self.spawn(key, me, frame),
        }
    }

    fn spawn(&mut self, key: Option<Key>, me: UserId, frame: ClientFrame) -> Result<(), Refused> {
        if let ClientFrame::PresenceSubscribe(c) = &frame {
            // A connection's watches are bounded too, not only each request. Checked here,
            // one subscription at a time, against those already placed.
            let max = self.hub.config.limits.max_presence_users as usize;
            if self.watching.len() + c.users.len() > max {
                return Err(Refused::Invalid("watching too many users"));
            }
        }
        let joined = matches!(key, Some(Key::Room(room)) if self.joined.contains(&room));
        let ctx = Ctx {
            hub: self.hub.clone(),
            out: self.out.clone(),
            conn: self.id,
            me,
            vouched: self.identity.as_ref().and_then(|i| i.plan),
            joined,
            deadline: tokio::time::Instant::now() + self.hub.config.store_timeout,
        };
        self.pending.spawn(key, frame.rid(), ctx.run(frame));
        Ok(())
    }

    /// A command finished off the loop: record what it changed, answer its error, and start
    /// the next command waiting for its key.
    pub(super) fn on_done(&mut self, done: Done) {
        match done.outcome {
            Ok(effect) => self.apply(effect),
            Err(why) => self.refuse(Some(done.rid), why),
        }
        let Some(key) = done.key else {
            return;
        };
        // A queued command that fails at once lets the next one go.
        while let Some((me, frame)) = self.pending.next_queued(key) {
            let rid = frame.rid();
            match self.spawn(Some(key), me, frame) {
                Ok(()) => return,
                Err(why) => self.refuse(Some(rid), why),
            }
        }
    }

    fn apply(&mut self, effect: Effect) {
        match effect {
            Effect::Answered => {}
            Effect::Reply(frame) => {
                self.out.frame(&frame);
            }
            Effect::Joined(room) => {
                if !self.joined.contains(&room) {
                    self.joined.push(room);
                }
            }
            Effect::Left(room) => self.forget_room(room),
            Effect::Watching(users, reply) => {
                self.out.frame(&reply);
                for user in users {
                    if !self.watching.contains(&user) {
                        self.watching.push(user);
                    }
                }
            }
        }
    }

    fn forget_room(&mut self, room: RoomId) {
        self.joined.retain(|r| *r != room);
        self.rx.forget(room);
    }
}
