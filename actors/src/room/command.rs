//! The room commands: one serialisable set, the same whether the caller is a connection on
//! this node or on another one. A [`Command`] names its [`Caller`]; the room answers every
//! command itself, through the caller's reply path ([`Caller::answer`]), wherever the caller
//! is. Adding a room command means a variant here (and its client frame in
//! [`RoomCommand::from_frame`]), its handler in the room, and the protocol docs: the router
//! and the cluster carry it as it is.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use switchboard_engine::domain::Change;
use switchboard_engine::protocol::{ClientFrame, ServerFrame};
use switchboard_engine::{AttachmentId, ConnId, Position, RoomId, UserId};

use crate::error::Refused;
use crate::recipient::Recipient;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum RoomCommand {
    /// Subscribe the connection, replaying what it missed after `resume`; joining a public
    /// room makes the user a member. Answered `joined`.
    Join { resume: Option<Position> },
    /// Give up membership. Answered `left`.
    Leave,
    /// Add `user` to the room. Answered `invited`.
    Invite { user: UserId },
    /// Remove `user` from the room (owners and admins). Answered `done`.
    Kick { user: UserId },
    /// Post a message. Answered `sent` once it is durable. `attachments` (uploads of this
    /// room by the caller) are checked by the room, off its actor, before the message gets a
    /// position; omitted on the wire when empty, so peers that predate attachments read it.
    Post {
        cmid: String,
        text: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<AttachmentId>,
        /// The message of the room it answers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<Position>,
        /// The users its text mentions (resolved from `@name` by the caller's node; the room
        /// keeps its members).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        mentions: Vec<UserId>,
    },
    /// Edit, delete or react to an earlier message: sequenced like a post (a position of its
    /// own, idempotent by `cmid`), answered `sent`. `text` is an edit's new text, else empty.
    Change {
        cmid: String,
        text: String,
        change: Change,
    },
    /// Typing started or stopped. Answered `done`.
    Typing { active: bool },
    /// The caller's read watermark rose to `pos` (already stored). Answered `done`.
    Receipt { pos: Position },
    /// The caller's delivered watermark rose to `pos` (already stored). Answered `done`.
    Delivered { pos: Position },
    /// The connection closed or moved: stop sending it events. Not answered.
    Unsubscribe,
}

impl RoomCommand {
    /// The room command a client frame asks for, with its room and request id; the frame back
    /// when it is not a room command.
    pub fn from_frame(frame: ClientFrame) -> Result<(RoomId, u64, RoomCommand), ClientFrame> {
        Ok(match frame {
            ClientFrame::Join(c) => (c.room, c.rid, RoomCommand::Join { resume: c.resume }),
            ClientFrame::Leave(c) => (c.room, c.rid, RoomCommand::Leave),
            ClientFrame::Invite(c) => (c.room, c.rid, RoomCommand::Invite { user: c.user }),
            ClientFrame::Kick(c) => (c.room, c.rid, RoomCommand::Kick { user: c.user }),
            ClientFrame::Send(c) => {
                let post = RoomCommand::Post {
                    cmid: c.cmid,
                    text: c.text,
                    attachments: c.attachments,
                    reply_to: c.reply_to,
                    mentions: Vec::new(),
                };
                (c.room, c.rid, post)
            }
            ClientFrame::Edit(c) => {
                let change = Change::Edit { target: c.target };
                (c.room, c.rid, RoomCommand::change(c.cmid, c.text, change))
            }
            ClientFrame::Delete(c) => {
                let change = Change::Delete { target: c.target };
                (
                    c.room,
                    c.rid,
                    RoomCommand::change(c.cmid, String::new(), change),
                )
            }
            ClientFrame::React(c) => {
                let change = Change::React {
                    target: c.target,
                    emoji: c.emoji,
                    removed: c.remove,
                };
                (
                    c.room,
                    c.rid,
                    RoomCommand::change(c.cmid, String::new(), change),
                )
            }
            ClientFrame::Pin(c) => {
                let change = Change::Pin {
                    target: c.target,
                    removed: c.unpin,
                };
                (
                    c.room,
                    c.rid,
                    RoomCommand::change(c.cmid, String::new(), change),
                )
            }
            ClientFrame::Typing(c) => (c.room, c.rid, RoomCommand::Typing { active: c.active }),
            // Not room commands: listed, so a new frame does not compile until it says.
            frame @ (ClientFrame::Auth(_)
            | ClientFrame::CreateRoom(_)
            | ClientFrame::OpenDirect(_)
            | ClientFrame::History(_)
            | ClientFrame::Search(_)
            | ClientFrame::MarkRead(_)
            | ClientFrame::Pins(_)
            | ClientFrame::MarkDelivered(_)
            | ClientFrame::Receipts(_)
            | ClientFrame::PresenceQuery(_)
            | ClientFrame::PresenceSubscribe(_)
            | ClientFrame::SetPresence(_)
            | ClientFrame::Ping(_)
            | ClientFrame::AttachmentSlot(_)
            | ClientFrame::Profiles(_)
            | ClientFrame::SetProfile(_)
            | ClientFrame::FindUsers(_)
            | ClientFrame::Rooms(_)
            | ClientFrame::Mute(_)) => return Err(frame),
        })
    }

    fn change(cmid: String, text: String, change: Change) -> RoomCommand {
        RoomCommand::Change { cmid, text, change }
    }

    /// The client message id of a command that enters the room's sequence.
    pub fn cmid(&self) -> Option<&str> {
        match self {
            RoomCommand::Post { cmid, .. } | RoomCommand::Change { cmid, .. } => Some(cmid),
            _ => None,
        }
    }

    /// Whether the room answers it: every command a client sent is answered exactly once.
    pub fn is_answered(&self) -> bool {
        !matches!(self, RoomCommand::Unsubscribe)
    }

    pub fn is_join(&self) -> bool {
        matches!(self, RoomCommand::Join { .. })
    }
}

/// Who sent a command, and where its answer goes.
#[derive(Clone)]
pub struct Caller {
    pub conn: ConnId,
    pub user: UserId,
    pub rid: u64,
    pub reply: Recipient,
}

impl Caller {
    /// A connection of this node, answered through its own queue.
    pub fn local(out: &crate::outbound::Outbound, user: UserId, rid: u64) -> Caller {
        Caller {
            conn: out.conn(),
            user,
            rid,
            reply: Recipient::Local(out.clone()),
        }
    }

    /// The `done` answer to the caller's command.
    pub fn done(&self) -> ServerFrame {
        ServerFrame::Done(switchboard_engine::protocol::Done { rid: self.rid })
    }

    /// Queues the command's answer.
    pub fn answer(&self, frame: &ServerFrame) {
        self.reply.answer(frame);
    }

    /// Answers the command with an error.
    pub fn refuse(&self, why: Refused) {
        self.reply.answer(&why.frame(Some(self.rid)));
    }
}

/// A room command on its way to the room's actor.
pub struct Command {
    pub room: RoomId,
    pub caller: Caller,
    pub cmd: RoomCommand,
    /// When this node received it, for the send-to-deliver latency.
    pub received: Instant,
}

impl Command {
    /// A command received now.
    pub fn new(room: RoomId, caller: Caller, cmd: RoomCommand) -> Command {
        Command {
            room,
            caller,
            cmd,
            received: Instant::now(),
        }
    }

    /// Tells the caller the command did not reach its room (answered commands only).
    pub fn refuse(self, why: Refused) {
        if self.cmd.is_answered() {
            self.caller.refuse(why);
        }
    }
}
